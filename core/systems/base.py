"""What every system offers the rest of nrep: the System protocol.

A system is n particles with a start X0 (float64, CPU, shape (n, 3)) in its own length
unit. The slow modes read ``default_mode_count`` and ``coupled_pairs``; the run records
``describe()`` as summary columns and ``trace_metrics`` in every trace row. How a run
writes a system's structures is ``nrep.core.run.outputs``'s business (one writer per
system type, registered there).
"""

from __future__ import annotations

from typing import Callable, Protocol, runtime_checkable

import torch

Metrics = Callable[[torch.Tensor], dict[str, float]]


@runtime_checkable
class System(Protocol):
    """n particles to minimise, with a start."""

    name: str
    x0: torch.Tensor
    length_unit: str  # what a coordinate is measured in: nm, bond lengths

    @property
    def n(self) -> int:
        """The number of particles."""
        ...

    @property
    def default_mode_count(self) -> int:
        """How many slow modes a reparametrised method uses when method.modes does not say."""
        ...

    @property
    def coupled_pairs(self) -> torch.Tensor:
        """The pairs that are bonded or otherwise coupled, (m, 2) indices (the bonds graph of the GNN)."""
        ...

    def describe(self) -> dict[str, object]:
        """Summary columns about the system beyond its name and size."""
        ...

    @property
    def trace_metrics(self) -> Metrics | None:
        """Columns of each trace row computed from X (e.g. the RMSD to a reference), or None."""
        ...
