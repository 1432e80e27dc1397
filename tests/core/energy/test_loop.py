"""Loop energies on configurations small enough to compute by hand, and their gradients."""

import itertools
import math

import pytest
import torch

from nrep.core.energy.loop import build_loop_energy, lj_minimum_distance
from nrep.core.systems.loop import cloud_std, gaussian_cloud, make_loop

REPULSION = {"strength": 2.5e-3, "power": 1.0, "softening": 1e-2, "pair_factor": 1.0}


def soft_lj(r, eps=1e-2):
    return 1 / (r**12 + eps) - 1 / (r**6 + 6 * eps)


def wall_lj(r, rc=0.8, eps=1e-2):
    if r >= rc:
        return soft_lj(r, eps)
    s5, s6 = rc**5, rc**6
    slope = -12 * s5 * s6 / (s6 * s6 + eps) ** 2 + 6 * s5 / (s6 + 6 * eps) ** 2
    return soft_lj(rc, eps) + slope * (r - rc)


# Three beads, loop spacing 2: bonds (0,1) and (1,2), one loop pair (0,2).
# The first bond (0.5) lies inside the wall's core radius (0.8), so both LJ forms differ.
THREE = [[0.0, 0.0, 0.0], [0.5, 0.0, 0.0], [0.5, 1.2, 0.0]]
R01, R12, R02 = 0.5, 1.2, 1.3


@pytest.mark.parametrize("core_radius", [None, 0.8])
@pytest.mark.parametrize("normalisation", ["mean", "sum"])
def test_bond_lj_by_hand(hand_loop, normalisation, core_radius):
    lj = soft_lj if core_radius is None else wall_lj
    system = hand_loop(THREE, loop_spacing=2)
    energy = build_loop_energy(system, "bond_lj", normalisation=normalisation, lj_core_radius=core_radius)
    terms = {k: v.item() for k, v in energy.terms(system.x0).items()}
    bond_sum = (R01 - 1) ** 2 + (R12 - 1) ** 2
    expected = {
        "bond": bond_sum / 2 if normalisation == "mean" else bond_sum,
        "lj_loop": 0.1 * lj(R02),  # one loop pair: mean and sum agree
    }
    assert terms == pytest.approx(expected, rel=1e-10)
    assert energy(system.x0).item() == pytest.approx(sum(expected.values()), rel=1e-12)


@pytest.mark.parametrize("core_radius", [None, 0.8])
@pytest.mark.parametrize("normalisation", ["mean", "sum"])
def test_pure_lj_by_hand(hand_loop, normalisation, core_radius):
    lj = soft_lj if core_radius is None else wall_lj
    system = hand_loop(THREE, loop_spacing=2)
    energy = build_loop_energy(system, "pure_lj", normalisation=normalisation, lj_core_radius=core_radius)
    terms = {k: v.item() for k, v in energy.terms(system.x0).items()}
    # One coupling matrix A = A_bond + 0.1 A_loop: the mean runs over all three coupled pairs.
    denominator = 3 if normalisation == "mean" else 1
    expected = {"lj_bond": (lj(R01) + lj(R12)) / denominator, "lj_loop": 0.1 * lj(R02) / denominator}
    assert terms == pytest.approx(expected, rel=1e-10)


def test_two_beads_at_the_lj_minimum(hand_loop):
    r_min = lj_minimum_distance()
    assert r_min == pytest.approx(1.1322, abs=1e-4)
    system = hand_loop([[0, 0, 0], [r_min, 0, 0]], loop_spacing=10)
    energy = build_loop_energy(system, "pure_lj")
    assert energy(system.x0).item() == pytest.approx(soft_lj(r_min), rel=1e-12)
    x = system.x0.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(energy(x), x)
    assert grad.abs().max().item() < 1e-9  # a minimum: no force


def test_loop_strength_and_bond_length_scale_the_terms(hand_loop):
    system = hand_loop(THREE, loop_spacing=2)
    energy = build_loop_energy(system, "bond_lj", bond_length=1.2, loop_strength=0.5)
    terms = {k: v.item() for k, v in energy.terms(system.x0).items()}
    assert terms["bond"] == pytest.approx(((R01 / 1.2 - 1) ** 2 + (R12 / 1.2 - 1) ** 2) / 2)
    assert terms["lj_loop"] == pytest.approx(0.5 * soft_lj(R02 / 1.2))


def test_repulsion_by_hand(hand_loop):
    # Four beads in a line, spacing 3: bonds 01 12 23, loop 03; uncoupled pairs 02 and 13.
    system = hand_loop([[0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0]], loop_spacing=3)
    for normalisation, scale in (("mean", 1.0), ("sum", 2.0)):
        energy = build_loop_energy(system, "bond_lj", normalisation=normalisation, repulsion=REPULSION)
        pairs = energy.repulsion.pairs.tolist()
        assert all(sorted(p) in ([0, 2], [1, 3]) for p in pairs)  # only uncoupled pairs are drawn
        # every uncoupled pair is 2 apart, so sample and exact agree
        expected = 2.5e-3 * scale * 1 / (2 + 1e-2)
        assert energy.repulsion(system.x0).item() == pytest.approx(expected, rel=1e-12)
        assert energy.repulsion.exact(system.x0).item() == pytest.approx(expected, rel=1e-12)


def test_exact_repulsion_equals_brute_force():
    system = make_loop(30, 10, gaussian_cloud(30, 1.5, seed=3))
    energy = build_loop_energy(system, "pure_lj", repulsion=REPULSION)
    coupled = {tuple(p) for p in system.coupled_pairs.tolist()}
    x = system.x0
    values = [
        1 / ((x[i] - x[j]).norm().item() + 1e-2)
        for i, j in itertools.combinations(range(30), 2)
        if (i, j) not in coupled
    ]
    assert energy.repulsion.exact(x).item() == pytest.approx(2.5e-3 * sum(values) / len(values), rel=1e-12)


def test_repulsion_samples_are_reproducible_and_resample():
    system = make_loop(100, 10, gaussian_cloud(100, 2.0, seed=0))
    a = build_loop_energy(system, "pure_lj", repulsion=REPULSION, seed=7)
    b = build_loop_energy(system, "pure_lj", repulsion=REPULSION, seed=7)
    assert torch.equal(a.repulsion.pairs, b.repulsion.pairs)
    assert len(a.repulsion.pairs) == int(100 * math.log(100))
    first = a.repulsion.pairs.clone()
    a.resample()
    assert not torch.equal(first, a.repulsion.pairs)


@pytest.mark.parametrize("name", ["bond_lj", "pure_lj"])
@pytest.mark.parametrize("core_radius", [None, 0.8])
def test_gradients_equal_central_differences(name, core_radius):
    system = make_loop(25, 10, gaussian_cloud(25, cloud_std(25), seed=1))
    energy = build_loop_energy(system, name, lj_core_radius=core_radius, repulsion=REPULSION)
    x = system.x0.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(energy(x), x)
    h = 1e-6
    numeric = torch.zeros_like(x)
    with torch.no_grad():
        for idx in itertools.product(range(25), range(3)):
            plus, minus = x.clone(), x.clone()
            plus[idx] += h
            minus[idx] -= h
            numeric[idx] = (energy(plus) - energy(minus)) / (2 * h)
    assert torch.allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_batched_coordinates(hand_loop):
    system = make_loop(40, 10, gaussian_cloud(40, 2.0, seed=2))
    energy = build_loop_energy(system, "pure_lj", repulsion=REPULSION)
    batch = torch.stack([system.x0, 1.1 * system.x0])
    values = energy(batch)
    assert values.shape == (2,)
    assert values[1].item() == pytest.approx(energy(1.1 * system.x0).item(), rel=1e-12)
