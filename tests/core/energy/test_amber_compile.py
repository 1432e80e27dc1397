"""energy.compile: AMBER's energy and gradient as one compiled function, equal to the eager terms in float64."""

import numpy as np
import pytest
import torch

from nrep.core.energy.amber import TERMS, AmberEnergy, AmberParameters
from tests.core.energy.test_amber import small_peptide


@pytest.fixture(scope="module")
def peptide_system():
    system, positions = small_peptide()
    return system, positions + 0.01 * np.random.default_rng(0).normal(size=positions.shape)  # off the ideal geometry


@pytest.fixture(scope="module")
def compiled(peptide_system):
    system, positions = peptide_system
    energy = AmberEnergy(AmberParameters.from_openmm(system))
    energy.compiled = True
    return energy, torch.tensor(positions, dtype=torch.float64)


def eager_value_and_gradient(energy: AmberEnergy, x: torch.Tensor, name: str | None = None):
    y = x.clone().requires_grad_(True)
    value = energy.terms(y)[name] if name else sum(energy.terms(y).values())
    (gradient,) = torch.autograd.grad(value, y)
    return value.detach(), gradient


def compiled_value_and_gradient(energy: AmberEnergy, x: torch.Tensor):
    y = x.clone().requires_grad_(True)
    value = energy(y)  # through the compiled function, as the stage loop calls it
    (gradient,) = torch.autograd.grad(value, y)
    return value.detach(), gradient


def test_the_compiled_energy_equals_the_eager_one_term_by_term_with_gradients(compiled):
    energy, x = compiled
    value, gradient = compiled_value_and_gradient(energy, x)
    reference, reference_gradient = eager_value_and_gradient(energy, x)
    torch.testing.assert_close(value, reference, rtol=1e-10, atol=0)
    torch.testing.assert_close(gradient, reference_gradient, rtol=1e-10, atol=1e-9)
    for name in TERMS:  # one term at a time: the weights are an input of the compiled function, not a constant
        energy.weights = {term: float(term == name) for term in TERMS}
        value, gradient = compiled_value_and_gradient(energy, x)
        energy.weights = dict.fromkeys(TERMS, 1.0)
        reference, reference_gradient = eager_value_and_gradient(energy, x, name)
        torch.testing.assert_close(value, reference, rtol=1e-10, atol=1e-12, msg=name)
        torch.testing.assert_close(gradient, reference_gradient, rtol=1e-10, atol=1e-9, msg=name)
    assert len(energy._compiled_keys) == 1 and energy.compile_s > 0  # compiled once, and what it cost is known
    assert energy.describe()["time_compile_s"] == energy.compile_s


def test_a_compiled_batch_equals_each_structure(compiled):
    energy, x = compiled
    batch = torch.stack([x, x + 0.003 * torch.randn_like(x)]).requires_grad_(True)
    values = energy(batch)
    (gradients,) = torch.autograd.grad(values.sum(), batch)
    for k in range(2):
        value, gradient = eager_value_and_gradient(energy, batch[k].detach())
        torch.testing.assert_close(values[k].detach(), value, rtol=1e-10, atol=0)
        torch.testing.assert_close(gradients[k], gradient, rtol=1e-10, atol=1e-9)


def test_compile_with_a_cutoff_is_refused(peptide_system):
    energy = AmberEnergy(AmberParameters.from_openmm(peptide_system[0]), cutoff_nm=1.0)
    energy.compiled = True
    with pytest.raises(ValueError, match="needs every pair"):
        energy(torch.tensor(peptide_system[1], dtype=torch.float64))
