"""The OpenMM engine: energies and forces as OpenMM computes them, gradients through torch, failures as NaN."""

import numpy as np
import pytest
import torch

from nrep.core.energy.amber import AmberEnergy, AmberParameters
from nrep.core.energy.openmm_engine import OpenMMEnergy
from nrep.core.systems.openmm_contexts import openmm_energy
from tests.core.energy.test_amber import small_peptide


@pytest.fixture(scope="module")
def peptide():
    system, positions = small_peptide("GAWSK")
    return system, positions + np.random.default_rng(1).normal(scale=0.01, size=positions.shape)


def test_energy_and_gradient_are_openmms(peptide):
    system, positions = peptide
    engine = OpenMMEnergy(system, platform="reference")
    x = torch.tensor(positions, dtype=torch.float64, requires_grad=True)
    energy = engine(x)
    (grad,) = torch.autograd.grad(energy, x)
    reference, forces = openmm_energy(system, positions, "reference")
    assert energy.item() == pytest.approx(reference, rel=1e-9)
    np.testing.assert_allclose(-grad.numpy(), forces, rtol=1e-9, atol=1e-9)
    assert engine.evaluations == 1  # one OpenMM call gave both


def test_the_gradient_equals_central_differences(peptide):
    system, positions = peptide
    engine = OpenMMEnergy(system, platform="reference")
    x = torch.tensor(positions, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(engine(x), x)
    h = 1e-6
    for atom, axis in ((0, 0), (7, 1), (20, 2)):
        step = np.zeros_like(positions)
        step[atom, axis] = h
        up, _ = engine.evaluate(positions + step)
        down, _ = engine.evaluate(positions - step)
        assert grad[atom, axis].item() == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-3)


def test_in_vacuum_it_agrees_with_the_torch_amber(peptide):
    system, positions = peptide
    x = torch.tensor(positions, dtype=torch.float64)
    ours = AmberEnergy(AmberParameters.from_openmm(system))(x).item()
    assert OpenMMEnergy(system, platform="cpu")(x).item() == pytest.approx(ours, rel=1e-6)


def test_an_openmm_error_is_a_non_finite_energy_and_a_batch_is_refused(peptide):
    system, positions = peptide
    engine = OpenMMEnergy(system, platform="reference")
    broken = torch.tensor(positions, dtype=torch.float64)
    broken[3, 1] = float("nan")
    assert not torch.isfinite(engine(broken))
    with pytest.raises(ValueError, match="batches of replicas need energy.engine=torch"):
        engine(torch.zeros(2, *positions.shape, dtype=torch.float64))
