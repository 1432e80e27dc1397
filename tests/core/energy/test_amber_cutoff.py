"""AMBER with a cutoff on the torch engine against OpenMM's CutoffNonPeriodic (Reference platform, float64)."""

import copy

import numpy as np
import openmm
import pytest
import torch

from nrep.core.energy.amber import AmberEnergy, AmberParameters
from tests.core.energy.test_amber import openmm_terms, small_peptide

CUTOFF_NM = 0.8


def with_cutoff(system: openmm.System, cutoff_nm: float) -> openmm.System:
    cut = copy.deepcopy(system)
    for force in cut.getForces():
        if isinstance(force, openmm.NonbondedForce):
            force.setNonbondedMethod(openmm.NonbondedForce.CutoffNonPeriodic)
            force.setCutoffDistance(cutoff_nm)
    return cut


@pytest.fixture(scope="module")
def long_peptide():
    system, positions = small_peptide("GAWSKDGAWSKD")  # extended: ~4 nm long, most pairs beyond the cutoff
    rng = np.random.default_rng(1)
    return system, positions + rng.normal(scale=0.01, size=positions.shape)


def ours(energy: AmberEnergy, positions: np.ndarray) -> tuple[dict, np.ndarray]:
    x = torch.tensor(positions, dtype=torch.float64, requires_grad=True)
    terms = energy.terms(x)
    (grad,) = torch.autograd.grad(sum(terms.values()), x)
    return {k: float(v.detach()) for k, v in terms.items()}, -grad.numpy()


def test_the_cutoff_energy_and_forces_equal_openmm_cutoff_non_periodic(long_peptide):
    system, positions = long_peptide
    theirs, forces = openmm_terms(with_cutoff(system, CUTOFF_NM), positions)
    energy = AmberEnergy(AmberParameters.from_openmm(system), cutoff_nm=CUTOFF_NM)
    terms, our_forces = ours(energy, positions)
    assert terms["lj"] + terms["coulomb"] == pytest.approx(theirs["NonbondedForce"], rel=1e-10)
    assert terms["bond"] == pytest.approx(theirs["HarmonicBondForce"], rel=1e-10)
    np.testing.assert_allclose(our_forces, forces, rtol=1e-8, atol=1e-7)
    # and the cutoff matters here: the all-pairs energy is another number
    everything, _ = openmm_terms(system, positions)
    assert abs(everything["NonbondedForce"] - theirs["NonbondedForce"]) > 1.0


def test_the_cutoff_energy_stays_equal_to_openmm_across_list_rebuilds(long_peptide):
    system, positions = long_peptide
    cut = with_cutoff(system, CUTOFF_NM)
    energy = AmberEnergy(AmberParameters.from_openmm(system), cutoff_nm=CUTOFF_NM, skin_nm=0.05)
    rng = np.random.default_rng(2)
    moved = positions.copy()
    for _ in range(4):
        moved = moved + rng.normal(scale=0.03, size=moved.shape)  # beyond skin / 2 for some atoms
        terms, _ = ours(energy, moved)
        theirs, _ = openmm_terms(cut, moved)
        assert terms["lj"] + terms["coulomb"] == pytest.approx(theirs["NonbondedForce"], rel=1e-10)
    assert energy.neighbours.builds >= 3
    assert energy.describe()["energy_cutoff_nm"] == CUTOFF_NM


def test_a_batch_with_a_cutoff_equals_each_structure_alone(long_peptide):
    system, positions = long_peptide
    energy = AmberEnergy(AmberParameters.from_openmm(system), cutoff_nm=CUTOFF_NM)
    x = torch.tensor(positions, dtype=torch.float64)
    batch = torch.stack([x, x + 0.02 * torch.randn_like(x)])
    values = energy(batch)
    alone = AmberEnergy(AmberParameters.from_openmm(system), cutoff_nm=CUTOFF_NM)
    for k in range(2):
        assert torch.allclose(values[k], alone(batch[k]), rtol=1e-10)
