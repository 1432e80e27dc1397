"""Slow modes: the eigenvectors of the Hessian backbone's Laplacian with the smallest |λ|.

Following the paper (§2) and the authors' code:

1. Sample configurations X' (random clouds for loops, perturbations of X0 otherwise).
2. For every pair (i, j), the 3×3 Hessian block H_ij(X'). For a pair term c·f(r_ij) it is
   analytic (paper eq. 20): the ii block is B = (f'' − f'/r) r̂r̂ᵀ + (f'/r) I, the ij block
   is −B, so no n autograd passes are needed; f' and f'' come from autograd on the vector
   of pair distances. Diagonal blocks H_ii = Σ_j B_ij.
3. The backbone K_ij = mean over samples of ‖H_ij‖_F (``fro``, the authors' code) or the
   sum of ‖H_ij‖_F² (``fro2``, the paper's eq. 7).
4. L = diag(K·1) − K and its k eigenvectors of smallest |λ| (L is positive
   semi-definite, so these are its lowest eigenvalues), with λ̃_i = ψ_iᵀ K ψ_i.

K is sparse (pair terms only couple listed pairs), so it is kept as a scipy sparse
matrix; the eigenproblem is solved densely up to ``dense_max_n`` particles and by
shift-invert Lanczos (``scipy.sparse.linalg.eigsh``) above.
"""

from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg
import torch

from nrep.core.energy.pairs import LocalInteraction, PairInteraction
from nrep.core.errors import NrepError
from nrep.core.io.files import atomic_write_bytes
from nrep.core.io.paths import hashed_key

log = logging.getLogger("nrep")

CACHE_FORMAT = 1  # bump when what is cached changes meaning


@dataclass
class SlowModes:
    """k slow modes of an n-particle system, float64 on the CPU."""

    psi: torch.Tensor  # (n, k), orthonormal columns
    eigenvalues: torch.Tensor  # (k,) of L, ascending
    rayleigh: torch.Tensor  # (k,) λ̃_i = ψ_iᵀ K ψ_i
    compute_time_s: float  # what computing them cost, also when they came from the cache
    solver: str
    cache_hit: bool = False
    hessian: str = "terms"  # where the Hessian blocks came from: terms (analytic, autograd) or differences

    @property
    def k(self) -> int:
        return self.psi.shape[1]


# --------------------------------------------------------------------------- Hessian blocks


def radial_derivatives(f: Callable[[torch.Tensor], torch.Tensor], r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """f'(r) and f''(r) element-wise, by autograd on the distances (f acts element-wise)."""
    r = r.detach().requires_grad_(True)
    with torch.enable_grad():
        (first,) = torch.autograd.grad(f(r).sum(), r, create_graph=True)
        (second,) = torch.autograd.grad(first.sum(), r)
    return first.detach(), second.detach()


def pair_hessian_blocks(
    x: torch.Tensor, pairs: torch.Tensor, coefficient: float, f: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """The ii block B of the Hessian of coefficient·f(|x_i − x_j|) for each pair, shape (m, 3, 3).

    The jj block is also B and the ij and ji blocks are −B (paper eq. 20).
    """
    d = x[pairs[:, 0]] - x[pairs[:, 1]]
    r = torch.linalg.vector_norm(d, dim=-1).clamp_min(1e-12)
    unit = d / r[:, None]
    f1, f2 = radial_derivatives(f, r)
    radial, tangential = coefficient * f2, coefficient * f1 / r
    outer = unit[:, :, None] * unit[:, None, :]
    eye = torch.eye(3, dtype=x.dtype, device=x.device)
    return (radial - tangential)[:, None, None] * outer + tangential[:, None, None] * eye


def local_hessian_blocks(x: torch.Tensor, term: LocalInteraction) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows, columns and 3×3 blocks of the Hessian of a local term, group by group (autograd)."""
    hessian = torch.func.vmap(torch.func.hessian(term.potential))(x[term.atoms], *term.params)  # (m, q, 3, q, 3)
    m, q = term.atoms.shape
    rows = term.atoms[:, :, None].expand(m, q, q).reshape(-1)
    cols = term.atoms[:, None, :].expand(m, q, q).reshape(-1)
    return rows, cols, hessian.permute(0, 1, 3, 2, 4).reshape(-1, 3, 3)


# Hessian rows the autograd path computes in one vectorised pass: many for small systems
# (the pass overhead dominates), few for large ones (memory: each row holds what one
# gradient of the energy needs, which is O(n^2) for an energy over all pairs). Measured
# on 1 CPU thread: 48 rows per pass are 30x faster than 3 at n = 100, and no faster at n = 1000.
AUTOGRAD_ROW_BUDGET = 3_000_000  # rows x n^2
SLOW_AUTOGRAD_WARNING_S = 60.0  # warn when the autograd blocks of all samples will take longer


def autograd_rows_per_pass(n: int) -> int:
    return max(3, min(96, AUTOGRAD_ROW_BUDGET // (n * n)))


def hessian_rows(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """H(x) v for each v in ``directions`` (c, n, 3): forward-over-reverse, vectorised by vmap.

    An energy that vmap cannot batch (in-place updates of its inputs, ``.item()``) falls
    back to one double-backward pass per direction, which is slower but takes any energy
    that autograd can differentiate twice.
    """
    def hvp(v: torch.Tensor) -> torch.Tensor:
        return torch.func.jvp(torch.func.grad(f), (x,), (v,))[1]

    try:
        return torch.func.vmap(hvp)(directions)
    except RuntimeError:
        pass
    y = x.detach().requires_grad_(True)
    try:
        with torch.enable_grad():
            (gradient,) = torch.autograd.grad(f(y), y, create_graph=True)
            return torch.stack([torch.autograd.grad(gradient, y, v, retain_graph=True)[0] for v in directions])
    except RuntimeError as error:
        raise NrepError(
            f"the slow modes need the energy's second derivatives, which autograd cannot take of it "
            f"({str(error).splitlines()[0]}); use method=gd, a GNN on a knn graph, or give the energy pair_interactions()"
        ) from error


def autograd_hessian_blocks(
    f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, rows_per_pass: int | None = None
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """The non-zero 3×3 blocks H_ij of the Hessian of any energy ``f``, a few atoms' rows at a time.

    For an energy with no analytic blocks (a user's own, through ``nrep.minimise``): 3n
    Hessian-vector products in all, about 3n/rows_per_pass vectorised passes, with the
    memory of rows_per_pass gradients at once (None: :func:`autograd_rows_per_pass`); that
    is O(n^3) work for an energy over all pairs (``benchmarks/given_modes.py``: about 0.5 s
    per sample at n = 100, minutes at n = 1000). Only the blocks that are not exactly zero
    are kept (all n² of them for an energy that couples every pair). Yields (rows, cols,
    blocks) per group of atoms.
    """
    n = x.shape[0]
    atoms_per_pass = max(1, (rows_per_pass or autograd_rows_per_pass(n)) // 3)
    eye = torch.eye(3 * n, dtype=x.dtype, device=x.device).reshape(3 * n, n, 3)
    for first in range(0, n, atoms_per_pass):
        last = min(n, first + atoms_per_pass)
        rows = hessian_rows(f, x, eye[3 * first:3 * last])  # (3a, n, 3): rows (i, alpha), columns (j, beta)
        blocks = rows.reshape(last - first, 3, n, 3).permute(0, 2, 1, 3)  # (a, n, 3, 3): [i, j, alpha, beta]
        i, j = torch.nonzero(blocks.flatten(2).abs().sum(dim=2), as_tuple=True)
        yield i + first, j, blocks[i, j]


# central differences of the forces: the step in the energy's length unit (nm for proteins);
# OpenMM's CPU forces are single precision, so a smaller step mostly adds their rounding
DIFFERENCE_STEP = 1e-3


def difference_hessian_blocks(
    f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, step: float = DIFFERENCE_STEP
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """All n² blocks H_ij of the Hessian of ``f`` by central differences of its gradient.

    6n evaluations of E and dE/dX (one OpenMM call each with the OpenMM engine), the
    Hessian symmetrised; for any energy whose gradient torch can take, in any solvent.
    """
    n = x.shape[0]
    x = x.detach().to(torch.float64)
    columns = torch.empty(3 * n, 3 * n, dtype=torch.float64)

    def gradient(y: torch.Tensor) -> torch.Tensor:
        y = y.requires_grad_(True)
        with torch.enable_grad():
            (g,) = torch.autograd.grad(f(y), y)
        return g.detach().to(torch.float64).reshape(-1)

    for c in range(3 * n):
        shift = torch.zeros(3 * n, dtype=torch.float64)
        shift[c] = step
        shift = shift.reshape(n, 3)
        columns[c] = (gradient(x + shift) - gradient(x - shift)) / (2 * step)
    hessian = 0.5 * (columns + columns.T)
    blocks = hessian.reshape(n, 3, n, 3).permute(0, 2, 1, 3).reshape(n * n, 3, 3)
    i, j = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    yield i.reshape(-1), j.reshape(-1), blocks


def hessian_block_norms(
    x: torch.Tensor,
    interactions: Sequence[PairInteraction],
    other: Callable[[torch.Tensor], torch.Tensor] | None = None,
    local: Sequence[LocalInteraction] = (),
    differences: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> scipy.sparse.csr_matrix:
    """The matrix of ‖H_ij‖_F (n × n, sparse, diagonal included) at one configuration.

    Pair terms use their analytic blocks; ``local`` terms (angles, torsions) the Hessian
    of each small group of atoms. ``other`` is any remaining energy: its blocks come from
    autograd (:func:`autograd_hessian_blocks`); ``differences`` an energy whose whole
    Hessian comes from finite differences of its gradient (:func:`difference_hessian_blocks`).
    Blocks of the same pair are added before the norms are taken.
    """
    n = x.shape[0]
    rows, cols, blocks = [], [], []
    for term in interactions:
        if len(term.pairs) == 0:
            continue
        i, j = term.pairs[:, 0], term.pairs[:, 1]
        b = pair_hessian_blocks(x, term.pairs, term.coefficient, term.potential)
        rows += [i, j, i, j]
        cols += [j, i, i, j]
        blocks += [-b, -b, b, b]
    for term in local:
        i, j, b = local_hessian_blocks(x.detach(), term)
        rows.append(i)
        cols.append(j)
        blocks.append(b)
    sources = []
    if other is not None:
        sources.append(autograd_hessian_blocks(other, x.detach()))
    if differences is not None:
        sources.append(difference_hessian_blocks(differences, x))
    for source in sources:
        for i, j, b in source:
            rows.append(i)
            cols.append(j)
            blocks.append(b.to(x.dtype))
    keys = torch.cat(rows) * n + torch.cat(cols)
    unique, inverse = torch.unique(keys, return_inverse=True)
    summed = torch.zeros(len(unique), 3, 3, dtype=x.dtype).index_add_(0, inverse, torch.cat(blocks))
    norms = summed.flatten(1).norm(dim=1).numpy()
    return scipy.sparse.csr_matrix((norms, ((unique // n).numpy(), (unique % n).numpy())), shape=(n, n))


def backbone(
    samples: Iterable[torch.Tensor],
    interactions: Sequence[PairInteraction],
    norm: str = "fro",
    other: Callable[[torch.Tensor], torch.Tensor] | None = None,
    local: Sequence[LocalInteraction] = (),
    differences: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> scipy.sparse.csr_matrix:
    """The backbone K (n × n, symmetric, sparse) over sample configurations.

    ``fro``: mean over samples of ‖H_ij‖_F (the authors' code); ``fro2``: sum over samples
    of ‖H_ij‖_F² (the paper's eq. 7).
    """
    if norm not in ("fro", "fro2"):
        raise ValueError(f"unknown backbone norm {norm!r}; use fro or fro2")
    total, count = None, 0
    samples = list(samples)
    for x in samples:
        started = time.perf_counter()
        norms = hessian_block_norms(x, interactions, other, local, differences)
        if other is not None or differences is not None:  # the slow paths: say how long they take, warn when long
            spent = time.perf_counter() - started
            how = "autograd" if differences is None else "finite differences"
            log.info("slow modes: Hessian of sample %d/%d by %s in %.1f s (n=%d)", count + 1, len(samples), how, spent,
                     x.shape[0])
            if count == 0 and spent * len(samples) > SLOW_AUTOGRAD_WARNING_S:
                log.warning("slow modes: the Hessian of the energy by %s takes %.0f s per sample, about %.0f s for "
                            "all %d; faster: fewer samples (method.modes.n_samples), analytic blocks "
                            "(method.modes.hessian=terms, pair_interactions() on the energy), or method=gnn with "
                            "method.graph=knn (no modes)", how, spent, spent * len(samples), len(samples))
        if norm == "fro2":
            norms = norms.multiply(norms)
        total = norms if total is None else total + norms
        count += 1
    if count == 0:
        raise ValueError("no sample configurations")
    return (total / count if norm == "fro" else total).tocsr()


def laplacian(k_matrix: scipy.sparse.spmatrix) -> scipy.sparse.csr_matrix:
    """L = diag(K·1) − K (the diagonal of K cancels out of L)."""
    degree = np.asarray(k_matrix.sum(axis=1)).ravel()
    return (scipy.sparse.diags(degree) - k_matrix).tocsr()


# --------------------------------------------------------------------------- eigenproblem


def lowest_eigenpairs(lap: scipy.sparse.spmatrix, k: int, solver: str = "dense", seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The k eigenpairs of the symmetric PSD matrix ``lap`` with the smallest eigenvalues.

    ``dense``: LAPACK on the full matrix (O(n³), exact, best for n up to a few thousand or
    large k). ``sparse``: shift-invert Lanczos just below 0 (cheap for k ≪ n).
    """
    n = lap.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k={k} slow modes requested for {n} particles; need 1 <= k <= n")
    if solver == "dense" or k >= n - 1:
        values, vectors = scipy.linalg.eigh(lap.toarray(), subset_by_index=[0, k - 1], driver="evr")
    elif solver == "sparse":
        scale = float(np.abs(lap.diagonal()).mean()) or 1.0
        start = np.random.default_rng(seed).standard_normal(n)  # fixed start vector: reproducible
        sigma = -1e-6 * scale
        # shift-invert with a symmetric fill-reducing ordering: L - sigma I is symmetric, and
        # SuperLU's default (COLAMD) filled 3x more here (n = 10^4 loop: 62 s against 21 s)
        factor = scipy.sparse.linalg.splu((lap - sigma * scipy.sparse.identity(n)).tocsc(), permc_spec="MMD_AT_PLUS_A")
        inverse = scipy.sparse.linalg.LinearOperator((n, n), matvec=factor.solve, dtype=np.float64)
        values, vectors = scipy.sparse.linalg.eigsh(lap.tocsc(), k=k, sigma=sigma, which="LM", v0=start, OPinv=inverse)
    else:
        raise ValueError(f"unknown eigensolver {solver!r}; use dense or sparse")
    order = np.argsort(np.abs(values), kind="stable")
    return values[order], vectors[:, order]


def choose_solver(solver: str, n: int, k: int, dense_max_n: int) -> str:
    """``auto``: dense up to dense_max_n particles or when k is a large fraction of n."""
    if solver != "auto":
        return solver
    return "dense" if n <= dense_max_n or k > n // 4 else "sparse"


def slow_modes(
    samples: Iterable[torch.Tensor],
    interactions: Sequence[PairInteraction],
    k: int,
    norm: str = "fro",
    solver: str = "auto",
    dense_max_n: int = 5000,
    seed: int = 0,
    other: Callable[[torch.Tensor], torch.Tensor] | None = None,
    local: Sequence[LocalInteraction] = (),
    differences: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> SlowModes:
    """Backbone, Laplacian and its k slowest modes, timed (``local``/``other``/``differences``: see :func:`backbone`)."""
    started = time.perf_counter()
    k_matrix = backbone(samples, interactions, norm, other, local, differences)
    lap = laplacian(k_matrix)
    chosen = choose_solver(solver, lap.shape[0], k, dense_max_n)
    if chosen == "sparse" and lap.shape[0] >= 5000:  # its cost is not estimated: say what is going on
        log.info("%d slow modes of %d particles by the sparse solver (shift-invert Lanczos; minutes from ~10^4 "
                 "particles)", k, lap.shape[0])
    values, vectors = lowest_eigenpairs(lap, k, chosen, seed)
    rayleigh = np.einsum("ik,ik->k", vectors, k_matrix @ vectors)
    return SlowModes(
        psi=torch.from_numpy(np.ascontiguousarray(vectors)),
        eigenvalues=torch.from_numpy(values),
        rayleigh=torch.from_numpy(rayleigh),
        compute_time_s=time.perf_counter() - started,
        solver=chosen,
    )


# --------------------------------------------------------------------------- samples


def cloud_samples(n: int, scales: Sequence[float], base_std: float, seed: int) -> list[torch.Tensor]:
    """Random clouds base_std · N(0, 1) · s for each scale s (the authors' loop samples)."""
    generator = torch.Generator().manual_seed(seed)
    return [base_std * s * torch.randn(n, 3, generator=generator, dtype=torch.float64) for s in scales]


def perturbation_samples(x0: torch.Tensor, scales: Sequence[float], seed: int) -> list[torch.Tensor]:
    """X0 + N(0, s²) for each scale s (the paper's App. D.2 suggestion)."""
    generator = torch.Generator().manual_seed(seed)
    x0 = x0.to(torch.float64)
    return [x0 + s * torch.randn(x0.shape, generator=generator, dtype=torch.float64) for s in scales]


# --------------------------------------------------------------------------- cache


def cache_key(description: dict) -> str:
    """A file name for the modes of a system + settings + seed (JSON-able description)."""
    return hashed_key({"format": CACHE_FORMAT, **description})


def save_modes(path: Path, modes: SlowModes) -> None:
    buffer = io.BytesIO()
    np.savez(
        buffer,
        psi=modes.psi.numpy(),
        eigenvalues=modes.eigenvalues.numpy(),
        rayleigh=modes.rayleigh.numpy(),
        compute_time_s=np.array(modes.compute_time_s),
        solver=np.array(modes.solver),
    )
    atomic_write_bytes(path, buffer.getvalue())


def load_modes(path: Path) -> SlowModes:
    with np.load(path, allow_pickle=False) as data:
        return SlowModes(
            psi=torch.from_numpy(data["psi"]),
            eigenvalues=torch.from_numpy(data["eigenvalues"]),
            rayleigh=torch.from_numpy(data["rayleigh"]),
            compute_time_s=float(data["compute_time_s"]),
            solver=str(data["solver"]),
            cache_hit=True,
        )
