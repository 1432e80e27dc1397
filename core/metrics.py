"""Loop metrics: how well a loop closed, and which coupled beads collapsed onto each other.

RMSD to a reference structure is in :mod:`nrep.core.systems.rmsd`.
"""

from __future__ import annotations

import torch

from nrep.core.energy.pairs import pair_distances

# Coupled beads closer than this (in units of the bond length) sit in the soft LJ's false
# minimum at r = 0 rather than near its true minimum at 1.13: they are "stuck".
STUCK_DISTANCE = 0.5


def stuck_pairs(x: torch.Tensor, pairs: torch.Tensor, bond_length: float = 1.0) -> int:
    """How many of ``pairs`` are closer than STUCK_DISTANCE * bond_length."""
    return int((pair_distances(x, pairs) < STUCK_DISTANCE * bond_length).sum())


def loop_closure(x: torch.Tensor, loops: torch.Tensor, r_min: float, tolerance: float = 0.1) -> float:
    """Fraction of loop pairs (i, i + spacing) within ``tolerance`` (relative) of ``r_min``.

    ``r_min`` is the distance of the minimum of the loop potential, so 1.0 means every
    loop of the chain is closed.
    """
    r = pair_distances(x, loops)
    return float(((r - r_min).abs() <= tolerance * r_min).double().mean())
