"""All-pairs sums with analytic gradients, in row blocks: Lennard-Jones and Coulomb.

Autograd through an n x n pair sum keeps every intermediate (r², s⁶, s¹², ...) of every
pair for the backward pass and runs a kernel per operation. Here the energy and its
gradient are computed together, a block of rows at a time: for E = Σ_{i<j} φ(r²_ij),

    ∂E/∂x_i = 2 Σ_j φ'(r²_ij) (x_i − x_j) = 2 (x_i Σ_j φ'_ij − Σ_j φ'_ij x_j),

so the gradient of a block is a row (column) sum and a matrix product, and memory stays
O(block x n) (no n x n x 3 temporaries). The backward pass multiplies the stored
gradient; it is not differentiable again (slow modes take their Hessians from the
pair potentials, not from these sums).

A pair term is ``phi(r2, *inputs) -> (φ_1, dφ_1/dr², φ_2, ...)``, a pure function of the
block's squared distances and of per-block inputs (parameter matrices sliced to the
block by ``inputs(rows, cols)``). With ``compiled=True`` each block is one function
compiled by ``torch.compile`` (inductor fuses the element-wise work into a few loops
instead of a kernel per operation): about 2.4x faster at n = 4000 on a CPU, after a
compilation of a minute the first time (cached on disk afterwards; needs a C++
compiler).
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import torch

# φ and dφ/d(r²) of each term: phi(r2 (..., c, m), *inputs) -> (phi_1, dphi_1, phi_2, dphi_2, ...)
Phi = Callable[..., tuple[torch.Tensor, ...]]
# the inputs of phi for the block of rows x cols (e.g. parameter matrices sliced to it)
BlockInputs = Callable[[slice, slice], tuple[torch.Tensor, ...]]

BLOCK_ELEMENTS = 2**20  # pairs per block: ~25 MB of float64 temporaries


def block_rows(n: int) -> int:
    """Rows per block: at most BLOCK_ELEMENTS pairs, and at least 8 blocks so that the
    triangle (each block against the columns after it) saves about half of the pairs."""
    return max(1, min(BLOCK_ELEMENTS // max(n, 1), max(32, -(-n // 8))))


def pair_sums(
    x: torch.Tensor, phi: Phi, inputs: BlockInputs, n_terms: int, with_gradient: bool, compiled: bool = False,
) -> tuple[list[torch.Tensor], list[torch.Tensor | None]]:
    """Σ_{i<j} φ_t(r²_ij) for each of the ``n_terms`` terms of ``phi``, and their gradients.

    x is (..., n, 3): leading dimensions are a batch of structures (energies (...,)).
    Block b holds rows i in [s, e) against columns j in [s, n), so every unordered pair is
    visited once; the block's lower triangle (j <= i) is not a pair.
    """
    n = x.shape[-2]
    energies = [x.new_zeros(x.shape[:-2]) for _ in range(n_terms)]
    gradients: list[torch.Tensor | None] = [torch.zeros_like(x) if with_gradient else None for _ in range(n_terms)]
    block = compiled_block() if compiled else eager_block
    step = block_rows(n * max(1, x[..., 0, 0].numel()))
    for start in range(0, n, step):
        stop = min(start + step, n)
        xi, xj = x[..., start:stop, :], x[..., start:, :]
        sums, rows, cols = block(xi, xj, phi, n_terms, with_gradient, *inputs(slice(start, stop), slice(start, n)))
        for t in range(n_terms):
            energies[t] = energies[t] + sums[t]
            if with_gradient:
                gradients[t][..., start:stop, :] += rows[t]
                gradients[t][..., start:, :] += cols[t]
    return energies, gradients


BlockResult = tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]


def eager_block(xi: torch.Tensor, xj: torch.Tensor, phi: Phi, n_terms: int, with_gradient: bool, *inputs: torch.Tensor) -> BlockResult:
    """One block's (energies, gradient parts of its rows, of its columns), in place where it can."""
    c = xi.shape[-2]
    diff = xi[..., :, None, :] - xj[..., None, :, :]
    r2 = (diff * diff).sum(-1)
    del diff
    lower = torch.ones(c, c, dtype=torch.bool, device=xi.device).tril_()
    r2[..., :c].masked_fill_(lower, 1.0)  # not pairs: a harmless placeholder, zeroed below
    out = phi(r2, *inputs)
    sums, rows, cols = [], [], []
    for t in range(n_terms):
        value, slope = out[2 * t], out[2 * t + 1]
        value[..., :c].masked_fill_(lower, 0.0)
        sums.append(value.sum((-2, -1)))
        if with_gradient:
            slope[..., :c].masked_fill_(lower, 0.0)
            rows.append(2.0 * (xi * slope.sum(-1, keepdim=True) - slope @ xj))
            cols.append(2.0 * (xj * slope.sum(-2)[..., None] - slope.transpose(-1, -2) @ xi))
    return sums, rows, cols


def functional_block(xi: torch.Tensor, xj: torch.Tensor, phi: Phi, n_terms: int, with_gradient: bool, *inputs: torch.Tensor) -> BlockResult:
    """:func:`eager_block` without in-place updates, the form ``torch.compile`` fuses best."""
    c, m = xi.shape[-2], xj.shape[-2]
    diff = xi[..., :, None, :] - xj[..., None, :, :]
    pair = torch.arange(m, device=xi.device)[None, :] > torch.arange(c, device=xi.device)[:, None]
    r2 = torch.where(pair, (diff * diff).sum(-1), 1.0)
    out = phi(r2, *inputs)
    sums, rows, cols = [], [], []
    for t in range(n_terms):
        sums.append(torch.where(pair, out[2 * t], 0.0).sum((-2, -1)))
        if with_gradient:
            slope = torch.where(pair, out[2 * t + 1], 0.0)
            rows.append(2.0 * (xi * slope.sum(-1, keepdim=True) - slope @ xj))
            cols.append(2.0 * (xj * slope.sum(-2)[..., None] - slope.transpose(-1, -2) @ xi))
    return sums, rows, cols


@functools.cache
def compiled_block() -> Callable[..., BlockResult]:
    """:func:`functional_block` compiled once per process (shapes dynamic: blocks differ in size)."""
    return torch.compile(functional_block, dynamic=True)


class _PairSums(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, phi: Phi, inputs: BlockInputs, n_terms: int, compiled: bool) -> tuple:
        energies, gradients = pair_sums(x.detach(), phi, inputs, n_terms, ctx.needs_input_grad[0], compiled)
        ctx.save_for_backward(*[g for g in gradients if g is not None])
        return tuple(energies)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, *grad_outputs: torch.Tensor) -> tuple:
        gradients = ctx.saved_tensors
        # one energy per structure of a batch: its gradient output scales that structure's (n, 3)
        total = sum(g_out[..., None, None] * g for g_out, g in zip(grad_outputs, gradients))
        return total, None, None, None, None


def fused_pair_sums(x: torch.Tensor, phi: Phi, inputs: BlockInputs, n_terms: int, compiled: bool = False) -> tuple[torch.Tensor, ...]:
    """The pair sums of ``phi`` over all pairs of x (..., n, 3), differentiable once with respect to x."""
    return _PairSums.apply(x, phi, inputs, n_terms, compiled)


def lj_phi(r2: torch.Tensor, sigma2: torch.Tensor, epsilon: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """4ε((σ²/r²)⁶ − (σ²/r²)³) and its derivative with respect to r², 12ε s⁶(1 − 2 s⁶)/r²."""
    inv = r2.reciprocal()
    s6 = (sigma2 * inv).pow_(3)
    four_eps_s6 = (4.0 * epsilon) * s6
    phi = four_eps_s6 * (s6 - 1.0)
    dphi = four_eps_s6.mul_(3.0 - 6.0 * s6).mul_(inv)
    return phi, dphi


def coulomb_phi(r2: torch.Tensor, k_qq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """k q_i q_j / r and its derivative with respect to r²."""
    inv_r = torch.rsqrt(r2)
    phi = k_qq * inv_r
    return phi, -0.5 * phi * inv_r * inv_r


def lj_all_pairs(x: torch.Tensor, sigma: float = 1.0, epsilon: float = 1.0, compiled: bool = False) -> torch.Tensor:
    """Σ_{i<j} 4ε((σ/r)¹² − (σ/r)⁶) over every pair of x (n, 3), fused and blocked."""
    parameters = (torch.tensor(sigma * sigma, dtype=x.dtype, device=x.device), torch.tensor(epsilon, dtype=x.dtype, device=x.device))
    (energy,) = fused_pair_sums(x, lj_phi, lambda rows, cols: parameters, 1, compiled)
    return energy


def lj_all_pairs_autograd(x: torch.Tensor, sigma: float = 1.0, epsilon: float = 1.0) -> torch.Tensor:
    """The same sum written plainly (dense n x n, autograd): the reference and the baseline."""
    n = x.shape[0]
    i, j = torch.triu_indices(n, n, offset=1, device=x.device)
    r2 = ((x[i] - x[j]) ** 2).sum(-1)
    s6 = (sigma * sigma / r2) ** 3
    return (4.0 * epsilon * (s6 * s6 - s6)).sum()
