"""Pair potentials against values computed by hand."""

import math

import pytest
import torch

from nrep.core.energy import potentials


def t(*values):
    return torch.tensor(values, dtype=torch.float64)


def soft_lj_by_hand(r, eps=1e-2):
    return 1 / (r**12 + eps) - 1 / (r**6 + 6 * eps)


def test_quadratic():
    assert potentials.quadratic(t(1.0, 1.5, 0.0)).tolist() == pytest.approx([0.0, 0.25, 1.0])
    assert potentials.quadratic(t(3.0), r0=2.0).item() == pytest.approx(0.25)


def test_lj_soft_values():
    # r = 1: 1/1.01 - 1/1.06; r = 0: 1/0.01 - 1/0.06 = 83.33 (finite, the authors' softening).
    assert potentials.lj_soft(t(1.0)).item() == pytest.approx(1 / 1.01 - 1 / 1.06, rel=1e-12)
    assert potentials.lj_soft(t(0.0)).item() == pytest.approx(100 - 100 / 6, rel=1e-12)
    r = t(0.3, 0.9, 1.2, 2.5)
    assert potentials.lj_soft(r).tolist() == pytest.approx([soft_lj_by_hand(v) for v in r.tolist()], rel=1e-12)
    # r0 scales distances: f(r; r0) = f(r / r0; 1).
    assert potentials.lj_soft(t(2.4), r0=2.0).item() == pytest.approx(soft_lj_by_hand(1.2), rel=1e-12)


def test_lj_soft_has_the_documented_false_minimum():
    r = torch.linspace(0, 1.6, 160_001, dtype=torch.float64)
    f = potentials.lj_soft(r)
    barrier = int(f.argmax())
    assert r[barrier].item() == pytest.approx(0.467, abs=2e-3)
    assert f[barrier].item() == pytest.approx(84.73, abs=0.01)
    assert f[0] < f[barrier]  # r = 0 is a local minimum behind the barrier: the trap
    assert r[int(f.argmin())].item() == pytest.approx(1.132, abs=1e-3)
    assert f.min().item() == pytest.approx(-0.2367, abs=1e-4)


def test_lj_soft_derivative_matches_autograd():
    r = torch.linspace(0.05, 3, 50, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(potentials.lj_soft(r, 1.3, 0.02).sum(), r)
    assert torch.allclose(potentials.lj_soft_derivative(r.detach(), 1.3, 0.02), grad, rtol=1e-10)


def test_lj_wall_is_linear_inside_the_core_and_soft_outside():
    rc = 0.8
    f_c, h = soft_lj_by_hand(rc), 1e-6
    df_c = (soft_lj_by_hand(rc + h) - soft_lj_by_hand(rc - h)) / (2 * h)
    inside = t(0.0, 0.3, 0.79)
    expected = [f_c + df_c * (v - rc) for v in inside.tolist()]
    assert potentials.lj_wall(inside, core_radius=rc).tolist() == pytest.approx(expected, rel=1e-8)
    outside = t(0.8, 1.0, 1.5)
    assert potentials.lj_wall(outside, core_radius=rc).tolist() == pytest.approx(
        [soft_lj_by_hand(v) for v in outside.tolist()], rel=1e-12
    )


def test_lj_wall_has_no_trap():
    r = torch.linspace(0, 1.13, 10_000, dtype=torch.float64)
    f = potentials.lj_wall(r, core_radius=0.8)
    assert bool((f[1:] < f[:-1]).all()), "the wall must fall all the way from r = 0 to the minimum"


def test_soft_inverse_power():
    assert potentials.soft_inverse_power(t(0.0, 1.0, 2.0)).tolist() == pytest.approx([100.0, 1 / 1.01, 1 / 2.01])
    assert potentials.soft_inverse_power(t(2.0), power=2.0, softening=1.0).item() == pytest.approx(0.2)
    assert math.isfinite(potentials.soft_inverse_power(t(0.0), softening=1e-9).item())
