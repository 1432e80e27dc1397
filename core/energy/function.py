"""Any torch callable ``energy(x) -> scalar`` as an nrep energy (the Python API's ``nrep.minimise``).

What the callable may offer is used, what it lacks is filled in: ``unit`` (else
``arbitrary``), ``exact_terms(x)`` (else one term, ``total``), ``pair_interactions()`` and
``local_interactions()`` (nrep's own energies have them, so their slow modes use analytic
Hessian blocks); an energy without them gets its blocks from autograd. An ``nn.Module``
is moved with the run (``to``) and evaluated in its own floating dtype. An energy that
samples its pairs (a loop's repulsion) keeps the pairs it has: nothing redraws them.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from nrep.core.energy.pairs import LocalInteraction, PairInteraction
from nrep.core.errors import NrepError

DEFAULT_UNIT = "arbitrary"


def module_dtype(module: object) -> torch.dtype | None:
    """The floating dtype of a module's first parameter or buffer (None: not a module, or none)."""
    if not isinstance(module, nn.Module):
        return None
    tensors = [*module.parameters(), *module.buffers()]
    return next((t.dtype for t in tensors if t.is_floating_point()), None)


class FunctionEnergy(nn.Module):
    """``fn(x)`` for x (n, 3) -> a scalar, or (B, n, 3) -> (B,), as an energy a run can minimise."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], unit: str | None = None) -> None:
        super().__init__()
        if not callable(fn):
            raise NrepError(f"the energy must be a callable energy(x) -> tensor (got {type(fn).__name__})")
        self.fn = fn  # an nn.Module becomes a submodule, so .to() moves it
        self.unit = unit or getattr(fn, "unit", None) or DEFAULT_UNIT
        self.dtype = module_dtype(fn)

    def _call(self, method: Callable, x: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        if self.dtype is None or x.dtype == self.dtype:
            return method(x)
        values = method(x.to(self.dtype))
        if isinstance(values, dict):
            return {name: value.to(x.dtype) for name, value in values.items()}
        return values.to(x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value = self._call(self.fn, x)
        if not isinstance(value, torch.Tensor):
            raise NrepError(f"energy(x) returned {type(value).__name__}, not a torch tensor; build it from torch operations on x")
        batch = x.shape[:-2]
        if value.shape != batch:
            if value.numel() == max(1, batch.numel()):
                return value.reshape(batch)
            raise NrepError(f"energy(x) for x of shape {tuple(x.shape)} must return "
                            f"{'a scalar' if not batch else f'shape {tuple(batch)}'} (got shape {tuple(value.shape)})")
        return value

    def exact_terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        own = getattr(self.fn, "exact_terms", None)
        return self._call(own, x) if own is not None else {"total": self(x)}

    def pair_interactions(self) -> list[PairInteraction]:
        own = getattr(self.fn, "pair_interactions", None)
        return own() if own is not None else []

    def local_interactions(self) -> list[LocalInteraction]:
        own = getattr(self.fn, "local_interactions", None)
        return own() if own is not None else []

    def autograd_hessian_part(self) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """The whole energy when it offers no analytic Hessian blocks; None when it does (nrep's own)."""
        return None if hasattr(self.fn, "pair_interactions") else self.forward
