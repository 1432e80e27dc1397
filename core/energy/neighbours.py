"""A Verlet neighbour list for cutoff interactions: O(n) pairs instead of O(n²).

The list holds every pair closer than cutoff + skin. While no particle has moved more
than skin / 2 since the list was built, no pair outside it can have come within the
cutoff, so the list stays exact; past that it is rebuilt (scipy's k-d tree finds the
pairs in O(n log n)). Energies then sum over the listed pairs and keep those inside the
cutoff, with plain autograd over O(n) pairs.
"""

from __future__ import annotations

import numpy as np
import torch

from nrep.core.energy.pairs import pair_distances


class VerletList:
    """Pairs (i < j) within ``cutoff + skin`` of each other, rebuilt on displacement."""

    def __init__(self, cutoff: float, skin: float) -> None:
        if cutoff <= 0 or skin < 0:
            raise ValueError(f"a neighbour list needs cutoff > 0 and skin >= 0 (got {cutoff}, {skin})")
        self.cutoff = cutoff
        self.skin = skin
        self.builds = 0
        self._pairs: torch.Tensor | None = None
        self._x_built: torch.Tensor | None = None

    def needs_rebuild(self, x: torch.Tensor) -> bool:
        """Whether a particle of x (..., n, 3) has moved more than skin / 2 since the list was built."""
        built = self._x_built
        if self._pairs is None or built is None or built.shape != x.shape or built.device != x.device:
            return True
        moved = torch.linalg.vector_norm(x.detach() - self._x_built, dim=-1).max()
        return bool(moved > 0.5 * self.skin)

    def pairs(self, x: torch.Tensor) -> torch.Tensor:
        """The listed pairs (m, 2) for coordinates x (..., n, 3), rebuilding the list if needed.

        For a batch of structures the list is the union of each one's pairs, so it is
        valid for every structure of the batch.
        """
        if self.needs_rebuild(x):
            from scipy.spatial import cKDTree

            n = x.shape[-2]
            structures = x.detach().to("cpu", torch.float64).reshape(-1, n, 3).numpy()
            found = [cKDTree(points).query_pairs(self.cutoff + self.skin, output_type="ndarray") for points in structures]
            pairs = np.concatenate([np.asarray(f, dtype=np.int64).reshape(-1, 2) for f in found])
            if len(structures) > 1:
                pairs = np.unique(pairs, axis=0)
            self._pairs = torch.from_numpy(pairs).to(x.device)
            self._x_built = x.detach().clone()
            self.builds += 1
        return self._pairs

    def state_dict(self) -> dict:
        """The list and where it was built: a resumed run goes on with the same pairs."""
        return {"pairs": self._pairs, "x_built": self._x_built, "builds": self.builds}

    def load_state_dict(self, state: dict) -> None:
        self._pairs, self._x_built, self.builds = state["pairs"], state["x_built"], state["builds"]


def lj_within_cutoff(x: torch.Tensor, pairs: torch.Tensor, cutoff: float, sigma: float = 1.0, epsilon: float = 1.0) -> torch.Tensor:
    """Σ 4ε((σ/r)¹² − (σ/r)⁶) over the given pairs closer than ``cutoff`` (no shift or switch)."""
    r2 = pair_distances(x, pairs) ** 2
    s6 = (sigma * sigma / r2) ** 3
    return torch.where(r2 < cutoff * cutoff, 4.0 * epsilon * (s6 * s6 - s6), torch.zeros_like(r2)).sum()
