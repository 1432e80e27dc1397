"""Slow modes: analytic Hessian blocks, the backbone, the eigensolvers and the cache."""

import functools
import math

import numpy as np
import pytest
import torch

from nrep.core.energy import potentials
from nrep.core.energy.loop import build_loop_energy
from nrep.core.energy.pairs import PairInteraction
from nrep.core.modes import slow_modes as slow
from nrep.core.systems.loop import gaussian_cloud, make_loop, offset_pairs

POTENTIALS = {
    "quadratic": functools.partial(potentials.quadratic, r0=1.1),
    "lj_soft": functools.partial(potentials.lj_soft, r0=1.0, softening=1e-2),
    "lj_wall": functools.partial(potentials.lj_wall, r0=1.0, softening=1e-2, core_radius=0.8),
    "soft_inverse_power": functools.partial(potentials.soft_inverse_power, power=1.0, softening=1e-2),
}


def subspace_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Sine of the largest principal angle between the column spaces of a and b (orthonormal, same width)."""
    return float(np.linalg.norm(b - a @ (a.T @ b), 2))


def full_hessian_blocks(energy, x):
    """Reference: the (n, n) matrix of Frobenius norms of the 3x3 blocks of torch.func.hessian."""
    h = torch.func.hessian(energy)(x)  # (n, 3, n, 3)
    return h.permute(0, 2, 1, 3)


@pytest.mark.parametrize("name", sorted(POTENTIALS))
def test_analytic_pair_blocks_equal_autograd_hessian(name):
    f = POTENTIALS[name]
    n = 12
    pairs = torch.tensor([[0, 1], [1, 2], [2, 7], [3, 11], [5, 9], [4, 10], [0, 6], [8, 6]])
    x = 1.5 * torch.randn(n, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    if name == "lj_wall":  # put one pair inside the wall's core
        x[1] = x[0] + torch.tensor([0.5, 0.1, 0.0], dtype=torch.float64)
    coefficient = 0.7

    def energy(y):
        r = torch.linalg.vector_norm(y[pairs[:, 0]] - y[pairs[:, 1]], dim=-1)
        return coefficient * f(r).sum()

    reference = full_hessian_blocks(energy, x)
    blocks = slow.pair_hessian_blocks(x, pairs, coefficient, f)
    for (i, j), block in zip(pairs.tolist(), blocks):
        assert torch.allclose(-block, reference[i, j], rtol=1e-8, atol=1e-10)
    diagonal = torch.zeros(n, 3, 3, dtype=torch.float64)
    diagonal.index_add_(0, pairs[:, 0], blocks).index_add_(0, pairs[:, 1], blocks)
    assert torch.allclose(diagonal, reference[range(n), range(n)], rtol=1e-8, atol=1e-10)


def test_backbone_equals_norms_of_the_full_hessian_for_a_loop():
    system = make_loop(24, 5, gaussian_cloud(24, 1.2, seed=4))
    energy = build_loop_energy(system, "pure_lj", repulsion={"strength": 2.5e-3, "power": 1.0, "softening": 1e-2, "pair_factor": 1.0})
    samples = [system.x0, 1.3 * system.x0]
    k_matrix = slow.backbone(samples, energy.pair_interactions(), norm="fro").toarray()
    norms = [full_hessian_blocks(energy, x).flatten(2).norm(dim=2).numpy() for x in samples]
    assert np.allclose(k_matrix, (norms[0] + norms[1]) / 2, rtol=1e-8, atol=1e-12)
    k_squared = slow.backbone(samples, energy.pair_interactions(), norm="fro2").toarray()
    assert np.allclose(k_squared, norms[0] ** 2 + norms[1] ** 2, rtol=1e-8, atol=1e-12)


def zero_length_springs(pairs):
    """c r^2 springs: every Hessian block is 2c I whatever the configuration, so K = const * A."""
    return [PairInteraction(pairs, 1.0, lambda r: r**2)]


def random_samples(n, count=3):
    return [torch.randn(n, 3, generator=torch.Generator().manual_seed(s), dtype=torch.float64) for s in range(count)]


@pytest.mark.parametrize("solver", ["dense", "sparse"])
def test_slow_modes_of_a_line_graph_are_its_laplacian_eigenvectors(solver):
    n, k = 40, 6
    modes = slow.slow_modes(random_samples(n), zero_length_springs(offset_pairs(n, 1)), k, solver=solver)
    i = np.arange(n)
    analytic = np.stack([np.cos(math.pi * m * (i + 0.5) / n) for m in range(k)], axis=1)
    analytic /= np.linalg.norm(analytic, axis=0)
    assert subspace_distance(modes.psi.numpy(), analytic) < 1e-8
    expected = 2 * math.sqrt(3) * (2 - 2 * np.cos(math.pi * np.arange(k) / n))  # block norm 2c sqrt(3)
    assert np.allclose(modes.eigenvalues.numpy(), expected, atol=1e-9)


def test_slow_modes_of_a_ring_span_its_low_fourier_modes():
    n, m = 30, 2  # k = 2m + 1 modes: the constant and two cos/sin pairs (degenerate pairs kept whole)
    pairs = torch.cat([offset_pairs(n, 1), torch.tensor([[n - 1, 0]])])
    modes = slow.slow_modes(random_samples(n), zero_length_springs(pairs), 2 * m + 1)
    angle = 2 * math.pi * np.arange(n) / n
    columns = [np.ones(n)] + [f(q * angle) for q in range(1, m + 1) for f in (np.cos, np.sin)]
    analytic = np.linalg.qr(np.stack(columns, axis=1))[0]
    assert subspace_distance(modes.psi.numpy(), analytic) < 1e-8


def test_dense_and_sparse_solvers_agree_and_rayleigh_quotients():
    system = make_loop(300, 10, gaussian_cloud(300, 2.0, seed=0))
    energy = build_loop_energy(system, "bond_lj")
    samples = slow.cloud_samples(300, [3.0, 5.0], base_std=300 ** (1 / 3) / 2, seed=0)
    dense = slow.slow_modes(samples, energy.pair_interactions(), 12, solver="dense")
    sparse = slow.slow_modes(samples, energy.pair_interactions(), 12, solver="sparse")
    assert np.allclose(dense.eigenvalues.numpy(), sparse.eigenvalues.numpy(), atol=1e-9)
    assert subspace_distance(dense.psi.numpy(), sparse.psi.numpy()) < 1e-6
    k_matrix = slow.backbone(samples, energy.pair_interactions()).toarray()
    psi = dense.psi.numpy()
    assert np.allclose(dense.rayleigh.numpy(), np.diag(psi.T @ k_matrix @ psi))
    assert np.allclose(psi.T @ psi, np.eye(12), atol=1e-10)


def test_solver_choice():
    assert slow.choose_solver("auto", 1000, 333, dense_max_n=3000) == "dense"
    assert slow.choose_solver("auto", 5000, 50, dense_max_n=3000) == "sparse"
    assert slow.choose_solver("auto", 5000, 2000, dense_max_n=3000) == "dense"  # many modes: LAPACK wins
    assert slow.choose_solver("sparse", 10, 2, dense_max_n=3000) == "sparse"


def test_k_out_of_range_is_refused():
    with pytest.raises(ValueError, match="k=11"):
        slow.slow_modes(random_samples(10), zero_length_springs(offset_pairs(10, 1)), 11)


def test_cache_round_trip_keeps_the_compute_time(tmp_path):
    modes = slow.slow_modes(random_samples(20), zero_length_springs(offset_pairs(20, 1)), 4)
    slow.save_modes(tmp_path / "m.npz", modes)
    loaded = slow.load_modes(tmp_path / "m.npz")
    assert loaded.cache_hit and not modes.cache_hit
    assert loaded.compute_time_s == modes.compute_time_s and loaded.solver == modes.solver
    assert torch.equal(loaded.psi, modes.psi) and torch.equal(loaded.rayleigh, modes.rayleigh)
    assert slow.cache_key({"a": 1}) == slow.cache_key({"a": 1}) != slow.cache_key({"a": 2})


def test_non_pair_terms_fall_back_to_autograd():
    system = make_loop(20, 5, gaussian_cloud(20, 1.2, seed=6))
    energy = build_loop_energy(system, "bond_lj")
    interactions = energy.pair_interactions()
    bond = interactions[0]

    def bond_energy(x):  # the bond term as an opaque function of x
        r = torch.linalg.vector_norm(x[bond.pairs[:, 0]] - x[bond.pairs[:, 1]], dim=-1)
        return bond.coefficient * bond.potential(r).sum()

    samples = [system.x0, 0.8 * system.x0]
    analytic = slow.backbone(samples, interactions).toarray()
    mixed = slow.backbone(samples, interactions[1:], other=bond_energy).toarray()
    assert np.allclose(mixed, analytic, rtol=1e-10, atol=1e-14)


def three_body(x):
    """A term over consecutive triples (not a pair term): sum of cos(angle)^2 along the chain."""
    a, b = x[:-2] - x[1:-1], x[2:] - x[1:-1]
    cos = (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1))
    return (cos**2).sum()


def opaque(x):
    """The same energy behind Python control flow on a value, which vmap cannot batch."""
    if float(x.detach().abs().max()) > 1e6:
        raise AssertionError("unreachable")
    return three_body(x)


@pytest.mark.parametrize("energy", [three_body, opaque])
@pytest.mark.parametrize("rows_per_pass", [3, 12, None])
def test_autograd_blocks_are_the_full_hessian_in_any_chunking(energy, rows_per_pass):
    n = 9
    x = torch.randn(n, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    reference = full_hessian_blocks(three_body, x)  # (n, n, 3, 3)
    found = torch.zeros_like(reference)
    for i, j, blocks in slow.autograd_hessian_blocks(energy, x, rows_per_pass):
        found[i, j] = blocks
    assert torch.allclose(found, reference, rtol=1e-10, atol=1e-12)
    # blocks of atoms more than two apart along the chain are exactly zero and left out
    kept = slow.hessian_block_norms(x, [], other=energy).toarray() > 0
    assert kept[0, 2] and not kept[0, 3]


def test_rows_per_pass_shrink_with_the_system():
    assert slow.autograd_rows_per_pass(30) == 96 and slow.autograd_rows_per_pass(300) == 33
    assert slow.autograd_rows_per_pass(5000) == 3
