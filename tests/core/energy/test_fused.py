"""Blocked, fused all-pairs sums and the neighbour list equal the plain dense sums."""

from __future__ import annotations

import itertools

import pytest
import torch

from nrep.core.energy import fused
from nrep.core.energy.neighbours import VerletList, lj_within_cutoff


def cloud(n: int, seed: int = 0, spacing: float = 1.1) -> torch.Tensor:
    """n points on a jittered cubic grid (no overlaps), float64."""
    side = int(round(n ** (1 / 3))) + 1
    grid = torch.tensor(list(itertools.product(range(side), repeat=3)), dtype=torch.float64)[:n] * spacing
    return grid + 0.1 * torch.randn(n, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("n,block", [(50, 7), (300, 64), (300, 10**6)])
def test_fused_lj_equals_dense_autograd(n, block, monkeypatch):
    monkeypatch.setattr(fused, "BLOCK_ELEMENTS", block * n)  # several row blocks, or one
    x = cloud(n).requires_grad_(True)
    e_ref = fused.lj_all_pairs_autograd(x, sigma=0.9, epsilon=1.3)
    (g_ref,) = torch.autograd.grad(e_ref, x)
    e = fused.lj_all_pairs(x, sigma=0.9, epsilon=1.3)
    (g,) = torch.autograd.grad(e, x)
    assert e.item() == pytest.approx(e_ref.item(), rel=1e-10)
    torch.testing.assert_close(g, g_ref, rtol=1e-10, atol=1e-10)


def test_fused_gradient_matches_finite_differences():
    x = cloud(20, seed=3).requires_grad_(True)
    (g,) = torch.autograd.grad(fused.lj_all_pairs(x), x)
    h = 1e-6
    for atom, axis in [(0, 0), (7, 1), (19, 2)]:
        dx = torch.zeros_like(x)
        dx[atom, axis] = h
        numeric = (fused.lj_all_pairs(x.detach() + dx) - fused.lj_all_pairs(x.detach() - dx)) / (2 * h)
        assert float(g[atom, axis]) == pytest.approx(float(numeric), rel=1e-6, abs=1e-8)


def test_no_gradient_is_computed_when_none_is_asked_for():
    x = cloud(40)
    with torch.no_grad():
        e = fused.lj_all_pairs(x)
    assert not e.requires_grad and float(e) == pytest.approx(float(fused.lj_all_pairs_autograd(x)), rel=1e-12)


def test_neighbour_list_energy_equals_the_dense_sum_over_the_same_pairs():
    x = cloud(400, seed=1).requires_grad_(True)
    cutoff = 2.5
    neighbours = VerletList(cutoff, skin=0.3)
    e = lj_within_cutoff(x, neighbours.pairs(x), cutoff)
    n = x.shape[0]
    i, j = torch.triu_indices(n, n, offset=1)
    r2 = ((x[i] - x[j]) ** 2).sum(-1)
    inside = r2 < cutoff**2
    s6 = (1.0 / r2[inside]) ** 3
    reference = (4.0 * (s6 * s6 - s6)).sum()
    assert e.item() == pytest.approx(reference.item(), rel=1e-10)
    (g,) = torch.autograd.grad(e, x)
    (g_ref,) = torch.autograd.grad(reference, x)
    torch.testing.assert_close(g, g_ref, rtol=1e-10, atol=1e-10)
    assert len(neighbours.pairs(x)) < n * (n - 1) // 2 / 4  # far fewer pairs than all of them


def test_neighbour_list_is_rebuilt_only_when_needed_and_stays_exact():
    x = cloud(200, seed=2)
    neighbours = VerletList(cutoff=2.0, skin=0.4)
    neighbours.pairs(x)
    small = x + 0.19 * torch.nn.functional.normalize(torch.randn_like(x), dim=-1)  # < skin / 2
    listed = {tuple(p) for p in neighbours.pairs(small).tolist()}
    assert neighbours.builds == 1
    n = len(x)
    within = {(i, j) for i in range(n) for j in range(i + 1, n) if float((small[i] - small[j]).norm()) < 2.0}
    assert within <= listed  # every pair inside the cutoff is still listed
    neighbours.pairs(x + 0.25)  # a uniform shift moves every atom by 0.43 > skin / 2
    assert neighbours.builds == 2


def test_a_batch_of_structures_gives_each_its_own_sum():
    xs = torch.stack([cloud(60, seed=s) for s in range(4)]).requires_grad_(True)
    e = fused.lj_all_pairs(xs)
    weights = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=xs.dtype)  # a weighted sum: each gradient scaled by its own weight
    (g,) = torch.autograd.grad((weights * e).sum(), xs)
    for b in range(4):
        x = xs[b].detach().requires_grad_(True)
        e_ref = fused.lj_all_pairs_autograd(x)
        (g_ref,) = torch.autograd.grad(e_ref, x)
        assert e[b].item() == pytest.approx(e_ref.item(), rel=1e-10)
        torch.testing.assert_close(g[b], weights[b] * g_ref, rtol=1e-10, atol=1e-10)


def test_compiled_blocks_equal_the_eager_ones(monkeypatch):
    """torch.compile of the block function (dynamic shapes: blocks of several sizes, a batch)."""
    monkeypatch.setattr(fused, "BLOCK_ELEMENTS", 40 * 60)
    gen = torch.Generator().manual_seed(4)
    x = (torch.rand(60, 3, generator=gen, dtype=torch.float64) * 6).requires_grad_(True)
    e = fused.lj_all_pairs(x, sigma=0.9, epsilon=1.3, compiled=True)
    (g,) = torch.autograd.grad(e, x)
    e_ref = fused.lj_all_pairs(x, sigma=0.9, epsilon=1.3)
    (g_ref,) = torch.autograd.grad(e_ref, x)
    assert float(e.detach()) == pytest.approx(float(e_ref.detach()), rel=1e-10)
    torch.testing.assert_close(g, g_ref, rtol=1e-10, atol=1e-12)
    batch = torch.stack([x.detach(), x.detach() * 1.1])
    torch.testing.assert_close(fused.lj_all_pairs(batch, compiled=True), fused.lj_all_pairs(batch), rtol=1e-10, atol=0)
