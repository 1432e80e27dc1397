"""The OpenMM engine: energies and forces as OpenMM computes them, gradients through torch, failures as NaN."""

import os
from pathlib import Path

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
    engine = OpenMMEnergy(system, platform="Reference")
    x = torch.tensor(positions, dtype=torch.float64, requires_grad=True)
    energy = engine(x)
    (grad,) = torch.autograd.grad(energy, x)
    reference, forces = openmm_energy(system, positions, "Reference")
    assert energy.item() == pytest.approx(reference, rel=1e-9)
    np.testing.assert_allclose(-grad.numpy(), forces, rtol=1e-9, atol=1e-9)
    assert engine.evaluations == 1  # one OpenMM call gave both


def test_the_gradient_equals_central_differences(peptide):
    system, positions = peptide
    engine = OpenMMEnergy(system, platform="Reference")
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
    assert OpenMMEnergy(system, platform="CPU")(x).item() == pytest.approx(ours, rel=1e-6)


def test_an_openmm_error_is_a_non_finite_energy_and_a_batch_is_refused(peptide):
    system, positions = peptide
    engine = OpenMMEnergy(system, platform="Reference")
    broken = torch.tensor(positions, dtype=torch.float64)
    broken[3, 1] = float("nan")
    assert not torch.isfinite(engine(broken))
    with pytest.raises(ValueError, match="batches of replicas need energy.engine=torch"):
        engine(torch.zeros(2, *positions.shape, dtype=torch.float64))


def test_its_terms_are_openmms_forces_and_add_up(peptide):
    system, positions = peptide
    engine = OpenMMEnergy(system, platform="Reference")
    x = torch.tensor(positions, dtype=torch.float64)
    terms = engine.exact_terms(x)
    assert {"bond", "angle", "torsion", "nonbonded"} <= set(terms)
    assert sum(terms.values()).item() == pytest.approx(engine(x).item(), rel=1e-9)
    ours = AmberEnergy(AmberParameters.from_openmm(system)).terms(x)
    assert terms["bond"].item() == pytest.approx(ours["bond"].item(), rel=1e-9)
    assert terms["nonbonded"].item() == pytest.approx((ours["lj"] + ours["coulomb"]).item(), rel=1e-9)


def test_difference_hessian_blocks_equal_the_analytic_ones(peptide):
    """The slow modes' finite differences of forces against the torch terms' analytic blocks."""
    from nrep.core.modes.slow_modes import hessian_block_norms

    system, positions = peptide
    amber = AmberEnergy(AmberParameters.from_openmm(system))
    x = torch.tensor(positions, dtype=torch.float64)
    analytic = hessian_block_norms(x, amber.pair_interactions(), local=amber.local_interactions()).toarray()
    engine = OpenMMEnergy(system, platform="Reference")
    differences = hessian_block_norms(x, [], differences=engine).toarray()
    scale = np.abs(analytic).max()
    np.testing.assert_allclose(differences, analytic, rtol=1e-3, atol=1e-5 * scale)  # step 1e-3 nm: O(h²) errors
    assert differences[0, 1] > 1e3  # a bond: the comparison is not of zeros


PDB_DIR = os.environ.get("NREP_PDB_DIR")
QUICK = ("5AWL", "2JOF", "1UNC")  # the rest of ../shared/pdb is slow


def shared_pdb_files() -> list:
    if not PDB_DIR:
        return [pytest.param("", marks=pytest.mark.skip(reason="set NREP_PDB_DIR (CI points it at ../shared/pdb)"))]
    files = sorted(p for p in Path(PDB_DIR).iterdir() if p.suffix.lower() in (".pdb", ".cif", ".gz"))
    return [pytest.param(p, id=p.name, marks=() if p.name.split(".")[0].upper() in QUICK else pytest.mark.slow)
            for p in files]


@pytest.mark.parametrize("path", shared_pdb_files())
def test_the_engines_agree_in_vacuum_on_every_shared_protein(path):
    """Reference platform: to 1e-9. CPU platform (the default): its single-precision sums to 1e-6 of
    the largest terms (near a minimum the total is a small difference of large terms)."""
    from nrep.core.systems.protein import locate_and_prepare

    _, protein = locate_and_prepare(str(path), replace_nonstandard=True)
    x = torch.tensor(protein.positions_nm, dtype=torch.float64, requires_grad=True)
    amber = AmberEnergy(AmberParameters.from_openmm(protein.system))
    terms = amber.terms(x)
    torch_energy = sum(terms.values())
    (torch_grad,) = torch.autograd.grad(torch_energy, x)
    scale = sum(abs(v.item()) for v in terms.values())
    for platform, rel in (("Reference", 1e-9), ("CPU", 1e-6)):
        engine = OpenMMEnergy(protein.system, platform=platform)
        value = engine(x)
        (grad,) = torch.autograd.grad(value, x)
        assert abs(value.item() - torch_energy.item()) < rel * scale, platform
        assert (grad - torch_grad).abs().max().item() < 50 * rel * torch_grad.abs().max().item(), platform
