"""Terms over lists of particle pairs or small atom groups, and exact sums over all pairs in bounded memory.

A term is one unit: :class:`PairTerm` and :class:`LocalTerm` hold one energy function
and its items, and give both the term's value (for the energy) and its Hessian form
(:class:`PairInteraction`, :class:`LocalInteraction`, for the slow modes) from that same
function, so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

PairPotential = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class PairInteraction:
    """coefficient · Σ_{(i,j) in pairs} f(r_ij): one pair term of an energy, as the Hessian needs it."""

    pairs: torch.Tensor  # (m, 2)
    coefficient: float
    potential: PairPotential


@dataclass(frozen=True)
class LocalInteraction:
    """Σ_t f(x[atoms[t]], *params[t]): a term over small groups of atoms (angles, torsions).

    ``potential(x_local, *p)`` is one group's energy for its q atoms' coordinates (q, 3)
    and its scalar parameters; the Hessian takes it group by group (q x q blocks).
    """

    atoms: torch.Tensor  # (m, q)
    potential: Callable[..., torch.Tensor]
    params: tuple[torch.Tensor, ...]  # each (m,)


@dataclass(frozen=True)
class PairTerm:
    """Σ_{(i,j) in pairs} f(r_ij, *params_ij), with f element-wise over the pairs."""

    pairs: torch.Tensor  # (m, 2)
    potential: Callable[..., torch.Tensor]  # f(r (..., m), *params) -> (..., m)
    params: tuple[torch.Tensor, ...] = ()  # each (m,)

    def value(self, x: torch.Tensor) -> torch.Tensor:
        """The term at x (..., n, 3), shape (...)."""
        return self.potential(pair_distances(x, self.pairs), *self.params).sum(-1)

    def interaction(self, coefficient: float = 1.0, length_scale: float | None = None) -> PairInteraction:
        """coefficient x this term, as the Hessian blocks take it; ``length_scale`` converts the
        blocks' distances into the potential's unit (e.g. nm to Å: 10)."""
        potential, params = self.potential, self.params
        if length_scale is None:
            return PairInteraction(self.pairs, coefficient, lambda r: potential(r, *params))
        return PairInteraction(self.pairs, coefficient, lambda r: potential(length_scale * r, *params))


@dataclass(frozen=True)
class LocalTerm:
    """Σ_t f(x, atoms[t], *params[t]) over groups of q atoms (angles: q = 3, torsions: q = 4)."""

    atoms: torch.Tensor  # (m, q)
    potential: Callable[..., torch.Tensor]  # f(x (..., n, 3), atoms (m, q), *params) -> (..., m)
    params: tuple[torch.Tensor, ...] = ()  # each (m,)

    def value(self, x: torch.Tensor) -> torch.Tensor:
        """The term at x (..., n, 3), shape (...)."""
        return self.potential(x, self.atoms, *self.params).sum(-1)

    def interaction(self, coefficient: float = 1.0) -> LocalInteraction:
        """coefficient x this term, one group at a time (its q atoms' coordinates and scalar parameters)."""
        potential, group = self.potential, torch.arange(self.atoms.shape[1])[None]

        def one_group(x_group: torch.Tensor, *params: torch.Tensor) -> torch.Tensor:
            return coefficient * potential(x_group, group, *params).sum()

        return LocalInteraction(self.atoms, one_group, self.params)


def pair_distances(x: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    """|x_i - x_j| for each row (i, j) of ``pairs``; x is (..., n, 3), the result (..., m).

    The gradient at r = 0 is 0 (torch masks it), not NaN, so overlapping beads are safe.
    """
    return torch.linalg.vector_norm(x[..., pairs[:, 0], :] - x[..., pairs[:, 1], :], dim=-1)


def sum_over_all_pairs(
    x: torch.Tensor, f: Callable[[torch.Tensor], torch.Tensor], rows_per_chunk: int | None = None
) -> torch.Tensor:
    """Sum of f(|x_i - x_j|) over all unordered pairs i < j of x (n, 3).

    Rows are processed in chunks so that memory stays O(chunk * n) instead of O(n^2).
    Distances are computed directly (not through the |a|^2 + |b|^2 - 2ab expansion,
    which loses precision for close pairs).
    """
    n = x.shape[0]
    if rows_per_chunk is None:
        rows_per_chunk = max(1, 2**22 // max(n, 1))
    total = x.new_zeros(())
    for start in range(0, n, rows_per_chunk):
        stop = min(start + rows_per_chunk, n)
        # rows start..stop against columns start..n only: the pairs i < j, each once
        r = torch.cdist(x[start:stop], x[start:], compute_mode="donot_use_mm_for_euclid_dist")
        square = r[:, : stop - start]
        upper = torch.ones_like(square, dtype=torch.bool).triu(diagonal=1)
        total = total + f(square[upper]).sum() + f(r[:, stop - start :]).sum()
    return total
