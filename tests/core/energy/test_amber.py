"""The torch AMBER energy against OpenMM's Reference platform, term by term, in float64."""

import io

import numpy as np
import openmm
import pytest
import torch
from openmm import app, unit

from nrep.core.energy.amber import TERMS, AmberEnergy, AmberParameters, dihedral
from nrep.core.systems.openmm_contexts import openmm_energy

FORCE_GROUPS = {"HarmonicBondForce": 0, "HarmonicAngleForce": 1, "PeriodicTorsionForce": 2, "NonbondedForce": 3}


def small_peptide(sequence: str = "GAWSKD"):
    """A peptide built from its sequence (PeptideBuilder), with hydrogens added by OpenMM."""
    import PeptideBuilder
    from Bio.PDB import PDBIO

    structure = PeptideBuilder.make_extended_structure(sequence)
    buffer = io.StringIO()
    writer = PDBIO()
    writer.set_structure(structure)
    writer.save(buffer)
    from pdbfixer import PDBFixer

    fixer = PDBFixer(pdbfile=io.StringIO(buffer.getvalue()))
    fixer.findMissingResidues()
    fixer.findMissingAtoms()
    fixer.addMissingAtoms()
    forcefield = app.ForceField("amber14-all.xml")
    modeller = app.Modeller(fixer.topology, fixer.positions)
    modeller.addHydrogens(forcefield)
    system = forcefield.createSystem(modeller.topology, nonbondedMethod=app.NoCutoff, constraints=None, rigidWater=False)
    return system, np.array(modeller.positions.value_in_unit(unit.nanometer))


def openmm_terms(system, positions):
    """Energy per force (kJ/mol) and total forces (kJ/mol/nm) from the Reference platform."""
    for force in system.getForces():
        force.setForceGroup(FORCE_GROUPS.get(type(force).__name__, 5))
    context = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(positions * unit.nanometer)
    energies = {}
    for name, group in FORCE_GROUPS.items():
        state = context.getState(getEnergy=True, groups={group})
        energies[name] = state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
    forces = context.getState(getForces=True).getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer)
    return energies, np.asarray(forces)


@pytest.fixture(scope="module")
def peptide():
    system, positions = small_peptide()
    # move off the ideal geometry so that every term has a gradient
    rng = np.random.default_rng(0)
    positions = positions + rng.normal(scale=0.01, size=positions.shape)
    return system, positions


def test_energy_and_forces_equal_openmm(peptide):
    system, positions = peptide
    energy = AmberEnergy(AmberParameters.from_openmm(system))
    x = torch.tensor(positions, dtype=torch.float64, requires_grad=True)
    ours = energy.terms(x)
    reference, reference_forces = openmm_terms(system, positions)
    pairs = {
        "bond": reference["HarmonicBondForce"],
        "angle": reference["HarmonicAngleForce"],
        "torsion": reference["PeriodicTorsionForce"],
        "lj+coulomb": reference["NonbondedForce"],
    }
    mine = {
        "bond": ours["bond"].item(),
        "angle": ours["angle"].item(),
        "torsion": ours["torsion"].item(),
        "lj+coulomb": (ours["lj"] + ours["coulomb"]).item(),
    }
    for name, value in pairs.items():
        assert abs(mine[name] - value) / max(1.0, abs(value)) <= 1e-6, (name, mine[name], value)
    (grad,) = torch.autograd.grad(sum(ours.values()), x)
    forces = -grad.numpy()
    assert np.linalg.norm(forces - reference_forces) / np.linalg.norm(reference_forces) <= 1e-6


def test_weights_switch_terms_off(peptide):
    system, positions = peptide
    params = AmberParameters.from_openmm(system)
    x = torch.tensor(positions, dtype=torch.float64)
    full = AmberEnergy(params).terms(x)
    partial = AmberEnergy(params, {"coulomb": 0.0, "lj": 2.0}).terms(x)
    assert set(full) == set(TERMS) and "coulomb" not in partial
    assert partial["lj"].item() == pytest.approx(2 * full["lj"].item())


def test_dihedral_sign_matches_openmm():
    # amber14's phases are 0 or pi, where the sign of phi cannot matter; a phase of pi/2 shows it
    x = np.array([[1.0, 0, 0], [0, 0, 0], [0, 0, 1], [0, 1, 1]])
    system = openmm.System()
    for _ in range(4):
        system.addParticle(1.0)
    torsion = openmm.PeriodicTorsionForce()
    torsion.addTorsion(0, 1, 2, 3, 1, np.pi / 2, 1.0)
    system.addForce(torsion)
    context = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(x * unit.nanometer)
    reference = context.getState(getEnergy=True).getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
    phi = dihedral(torch.tensor(x), torch.tensor([[0, 1, 2, 3]])).item()
    assert phi == pytest.approx(np.pi / 2)
    assert 1 + np.cos(phi - np.pi / 2) == pytest.approx(reference)


@pytest.mark.parametrize("term", ["lj", "coulomb"])
def test_lennard_jones_and_coulomb_each_equal_openmm(peptide, term, only_term):
    system, positions = peptide
    energy = AmberEnergy(AmberParameters.from_openmm(system), {t: float(t == term) for t in TERMS})
    x = torch.tensor(positions, dtype=torch.float64, requires_grad=True)
    value = energy(x)
    (grad,) = torch.autograd.grad(value, x)
    reference, forces = openmm_energy(only_term(system, term), positions)
    assert abs(value.item() - reference) / max(1.0, abs(reference)) <= 1e-6
    assert np.linalg.norm(-grad.numpy() - forces) / np.linalg.norm(forces) <= 1e-6


def test_hessian_blocks_equal_the_autograd_hessian(peptide):
    from nrep.core.modes.slow_modes import hessian_block_norms

    system, positions = peptide
    energy = AmberEnergy(AmberParameters.from_openmm(system), {"lj": 0.5})
    energy.fused = False  # the reference: plain autograd, differentiated twice
    x = torch.tensor(positions, dtype=torch.float64)
    blocks = torch.func.hessian(energy)(x).permute(0, 2, 1, 3)  # (n, n, 3, 3)
    expected = blocks.flatten(2).norm(dim=2).numpy()
    found = hessian_block_norms(x, energy.pair_interactions(), local=energy.local_interactions()).toarray()
    assert np.allclose(found, expected, rtol=1e-8, atol=1e-8 * expected.max())


def test_fused_and_plain_non_bonded_paths_agree(peptide):
    """The analytic-gradient path, the plain autograd path, a batch, and the pair list agree (compiled: test_amber_compile.py)."""
    system, positions = peptide
    energy = AmberEnergy(AmberParameters.from_openmm(system))
    x = torch.tensor(positions, dtype=torch.float64, requires_grad=True)
    results = {}
    paths = {"fused": (True, True, False), "plain": (True, False, False), "pairs": (False, True, False)}
    for name, settings in paths.items():
        energy.dense, energy.fused, energy.compiled = settings
        terms = energy.terms(x)
        (gradient,) = torch.autograd.grad(sum(terms.values()), x)
        results[name] = (torch.stack([terms["lj"], terms["coulomb"]]).detach(), gradient)
    energy.dense, energy.fused, energy.compiled = True, True, False
    batch = energy(torch.stack([x.detach(), x.detach() + 0.01]))
    for name in ("plain", "pairs"):
        torch.testing.assert_close(results["fused"][0], results[name][0], rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(results["fused"][1], results[name][1], rtol=1e-10, atol=1e-9)
    assert batch[0].item() == pytest.approx(energy(x).item(), rel=1e-12)


def test_energy_compile_reaches_the_energy(peptide, compose_cfg):
    from types import SimpleNamespace

    from nrep.core.energy.registry import build_energy

    system = SimpleNamespace(prepared=SimpleNamespace(system=peptide[0]), n=peptide[0].getNumParticles())
    for flag in (False, True):
        cfg = compose_cfg("system=protein", "system.pdb=1ABC", "init=extended", "energy=amber", "energy.engine=torch",
                          f"energy.compile={flag}")
        assert build_energy(cfg, system).compiled is flag
