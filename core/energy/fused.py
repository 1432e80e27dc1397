"""All-pairs sums with analytic gradients, in row blocks: Lennard-Jones and Coulomb.

Autograd through an n x n pair sum keeps every intermediate (r², s⁶, s¹², ...) of every
pair for the backward pass and runs a kernel per operation. Here the energy and its
gradient are computed together, a block of rows at a time: for E = Σ_{i<j} φ(r²_ij),

    ∂E/∂x_i = 2 Σ_j φ'(r²_ij) (x_i − x_j) = 2 (x_i Σ_j φ'_ij − Σ_j φ'_ij x_j),

so the gradient of a block is a row (column) sum and a matrix product, and memory stays
O(block x n) (no n x n x 3 temporaries). The backward pass multiplies the stored
gradient; it is not differentiable again (slow modes take their Hessians from the
pair potentials, not from these sums).
"""

from __future__ import annotations

from typing import Callable

import torch

# φ and dφ/d(r²) of one block: kernel(r2 (c, m), rows, cols) -> (phi, dphi, ...), 0 where not a pair
Kernel = Callable[[torch.Tensor, slice, slice], tuple[torch.Tensor, ...]]

BLOCK_ELEMENTS = 2**20  # pairs per block: ~25 MB of float64 temporaries


def block_rows(n: int) -> int:
    """Rows per block: at most BLOCK_ELEMENTS pairs, and at least 8 blocks so that the
    triangle (each block against the columns after it) saves about half of the pairs."""
    return max(1, min(BLOCK_ELEMENTS // max(n, 1), max(32, -(-n // 8))))


def pair_sums(x: torch.Tensor, kernel: Kernel, n_terms: int, with_gradient: bool) -> tuple[list[torch.Tensor], list[torch.Tensor | None]]:
    """Σ_{i<j} φ_t(r²_ij) for each of the kernel's ``n_terms`` terms, and their gradients.

    x is (..., n, 3): leading dimensions are a batch of structures (energies (...,)).
    Block b holds rows i in [s, e) against columns j in [s, n), so every unordered pair is
    visited once; the block's lower triangle (j <= i) is masked.
    """
    n = x.shape[-2]
    energies = [x.new_zeros(x.shape[:-2]) for _ in range(n_terms)]
    gradients: list[torch.Tensor | None] = [torch.zeros_like(x) if with_gradient else None for _ in range(n_terms)]
    step = block_rows(n * max(1, x[..., 0, 0].numel()))
    for start in range(0, n, step):
        stop = min(start + step, n)
        c = stop - start
        xi, xj = x[..., start:stop, :], x[..., start:, :]
        diff = xi[..., :, None, :] - xj[..., None, :, :]
        r2 = (diff * diff).sum(-1)
        del diff
        lower = torch.ones(c, c, dtype=torch.bool, device=x.device).tril_()
        r2[..., :c].masked_fill_(lower, 1.0)  # not pairs: a harmless placeholder, zeroed below
        out = kernel(r2, slice(start, stop), slice(start, n))
        for t in range(n_terms):
            phi, dphi = out[2 * t], out[2 * t + 1]
            phi[..., :c].masked_fill_(lower, 0.0)
            energies[t] = energies[t] + phi.sum((-2, -1))
            if with_gradient:
                dphi[..., :c].masked_fill_(lower, 0.0)
                gradients[t][..., start:stop, :] += 2.0 * (xi * dphi.sum(-1, keepdim=True) - dphi @ xj)
                gradients[t][..., start:, :] += 2.0 * (xj * dphi.sum(-2)[..., None] - dphi.transpose(-1, -2) @ xi)
    return energies, gradients


class _PairSums(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, kernel: Kernel, n_terms: int):  # noqa: ANN205
        energies, gradients = pair_sums(x.detach(), kernel, n_terms, ctx.needs_input_grad[0])
        ctx.save_for_backward(*[g for g in gradients if g is not None])
        return tuple(energies)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, *grad_outputs: torch.Tensor):  # noqa: ANN205
        gradients = ctx.saved_tensors
        # one energy per structure of a batch: its gradient output scales that structure's (n, 3)
        total = sum(g_out[..., None, None] * g for g_out, g in zip(grad_outputs, gradients))
        return total, None, None


def fused_pair_sums(x: torch.Tensor, kernel: Kernel, n_terms: int) -> tuple[torch.Tensor, ...]:
    """The kernel's pair sums over all pairs of x (..., n, 3), differentiable once with respect to x."""
    return _PairSums.apply(x, kernel, n_terms)


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


def lj_all_pairs(x: torch.Tensor, sigma: float = 1.0, epsilon: float = 1.0) -> torch.Tensor:
    """Σ_{i<j} 4ε((σ/r)¹² − (σ/r)⁶) over every pair of x (n, 3), fused and blocked."""
    sigma2, eps = torch.tensor(sigma * sigma, dtype=x.dtype), torch.tensor(epsilon, dtype=x.dtype)
    (energy,) = fused_pair_sums(x, lambda r2, rows, cols: lj_phi(r2, sigma2, eps), 1)
    return energy


def lj_all_pairs_autograd(x: torch.Tensor, sigma: float = 1.0, epsilon: float = 1.0) -> torch.Tensor:
    """The same sum written plainly (dense n x n, autograd): the reference and the baseline."""
    n = x.shape[0]
    i, j = torch.triu_indices(n, n, offset=1, device=x.device)
    r2 = ((x[i] - x[j]) ** 2).sum(-1)
    s6 = (sigma * sigma / r2) ** 3
    return (4.0 * epsilon * (s6 * s6 - s6)).sum()
