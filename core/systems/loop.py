"""Synthetic bead loops (paper §3): a chain whose lowest-energy layout coils every few beads.

Bead i is bonded to i+1 and coupled to i+loop_spacing; the chain is open (no bond from the
last bead back to the first), as in the authors' ``line_graph(n, k)`` couplings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LoopSystem:
    """Topology and start of a loop. Coordinates are in reduced units, shape (n, 3)."""

    x0: torch.Tensor
    bonds: torch.Tensor  # (n - 1, 2) index pairs i, i+1
    loops: torch.Tensor  # (n - loop_spacing, 2) index pairs i, i+loop_spacing
    loop_spacing: int
    name: str = "loop"
    length_unit = "bond lengths"  # reduced units
    trace_metrics = None  # closure is measured at the end only (it needs the energy's LJ minimum)

    @property
    def n(self) -> int:
        return self.x0.shape[0]

    @property
    def default_mode_count(self) -> int:
        """The authors' number of slow modes for loops: n // 3."""
        return max(1, self.n // 3)

    @property
    def coupled_pairs(self) -> torch.Tensor:
        """All coupled pairs (bonds and loops), shape (m, 2), with i < j."""
        return torch.cat([self.bonds, self.loops])

    def describe(self) -> dict[str, object]:
        return {}


def offset_pairs(n: int, offset: int) -> torch.Tensor:
    """The pairs (i, i + offset) for i = 0 .. n - offset - 1, shape (n - offset, 2)."""
    i = torch.arange(n - offset)
    return torch.stack([i, i + offset], dim=1)


def cloud_std(n: int) -> float:
    """The authors' start scale: X0 = (n^(1/3)/2) N(0, 1) / 2, so std = n^(1/3) / 4."""
    return n ** (1.0 / 3.0) / 4.0


def gaussian_cloud(n: int, std: float, seed: int) -> torch.Tensor:
    """n points with i.i.d. N(0, std^2) coordinates, float64 on the CPU, reproducible per seed.

    Drawn on the CPU in float64 whatever the run's device and dtype, so every device and
    precision starts from the same numbers.
    """
    generator = torch.Generator().manual_seed(seed)
    return std * torch.randn(n, 3, generator=generator, dtype=torch.float64)


def make_loop(n: int, loop_spacing: int, x0: torch.Tensor) -> LoopSystem:
    if n <= loop_spacing:
        raise ValueError(f"a loop with spacing {loop_spacing} needs at least {loop_spacing + 1} beads, got {n}")
    if x0.shape != (n, 3):
        raise ValueError(f"x0 must have shape ({n}, 3), got {tuple(x0.shape)}")
    return LoopSystem(x0=x0, bonds=offset_pairs(n, 1), loops=offset_pairs(n, loop_spacing), loop_spacing=loop_spacing)


def n_log_n(n: int) -> int:
    """int(n ln n): how many repulsion pairs the authors sample."""
    return int(n * math.log(n))
