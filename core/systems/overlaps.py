"""Starts with atoms on top of each other: move them apart before the first energy.

Two particles at the same place give an infinite Lennard-Jones energy and a 0/0
direction in every pair gradient, so a run would be NaN from its first step. Such
particles are moved by a small, seeded random displacement until no pair is closer than
``min_distance``; everything else stays where it was.
"""

from __future__ import annotations

import numpy as np
import torch

# In the coordinates' own length unit: nm for proteins (0.1 Å, far below any bond),
# the bond length for loops.
MIN_DISTANCE = 0.01
DISPLACEMENT = 0.1


def separate_overlaps(
    x: torch.Tensor,
    min_distance: float = MIN_DISTANCE,
    displacement: float = DISPLACEMENT,
    seed: int = 0,
    max_passes: int = 50,
) -> tuple[torch.Tensor, int]:
    """(x with overlapping particles moved apart, how many moved); x itself is not changed.

    In each pass the later particle of every pair closer than ``min_distance`` moves by
    ``displacement`` in a random direction drawn from ``seed``.
    """
    from scipy.spatial import cKDTree

    points = x.detach().cpu().to(torch.float64).numpy().copy()
    rng = np.random.default_rng(seed)
    moved: set[int] = set()
    for _ in range(max_passes):
        pairs = cKDTree(points).query_pairs(min_distance, output_type="ndarray")
        if len(pairs) == 0:
            break
        movers = np.unique(pairs.max(axis=1))
        directions = rng.normal(size=(len(movers), 3))
        points[movers] += displacement * directions / np.linalg.norm(directions, axis=1, keepdims=True)
        moved.update(movers.tolist())
    if not moved:
        return x, 0
    return torch.from_numpy(points).to(dtype=x.dtype, device=x.device), len(moved)
