"""A system given from Python: n particles with a start and nothing else known about them (``nrep.minimise``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nrep.core.errors import NrepError
from nrep.core.systems.base import Metrics


def as_start(x0: object) -> torch.Tensor:
    """``x0`` (a tensor or array of shape (n, 3), or (B, n, 3)) as float64 on the CPU; one line if it cannot be."""
    try:
        x = torch.as_tensor(x0).detach()
    except (TypeError, ValueError, RuntimeError) as error:
        raise NrepError(f"x0 must be coordinates of shape (n, 3), a tensor or an array ({error})") from None
    if x.ndim not in (2, 3) or x.shape[-1] != 3 or x.shape[-2] < 2:
        raise NrepError(f"x0 must have shape (n, 3) with n >= 2, or (B, n, 3) for a batch (got {tuple(x.shape)})")
    if x.is_complex():
        raise NrepError(f"x0 must hold real coordinates (got {x.dtype})")
    x = x.to(device="cpu", dtype=torch.float64)
    if not torch.isfinite(x).all():
        raise NrepError("x0 holds NaN or infinite coordinates")
    return x.clone()


@dataclass
class GivenSystem:
    """n particles from the caller: no bonds, no reference, measured in the caller's own length unit."""

    x0: torch.Tensor  # (n, 3), float64, CPU
    name: str = "given"
    length_unit: str = "length units"

    @property
    def n(self) -> int:
        return self.x0.shape[0]

    @property
    def default_mode_count(self) -> int:
        """n // 3, as for loops: a third of the particles' worth of modes."""
        return max(1, self.n // 3)

    @property
    def coupled_pairs(self) -> torch.Tensor:
        return torch.zeros(0, 2, dtype=torch.long)

    def describe(self) -> dict[str, object]:
        return {}

    @property
    def trace_metrics(self) -> Metrics | None:
        return None
