"""Preparing proteins with PDBFixer + OpenMM, and energy parity on the real structures."""

import os
from pathlib import Path

import numpy as np
import openmm
import pytest
import torch
from openmm import unit

from nrep.core.energy.amber import AmberEnergy, AmberParameters
from nrep.core.errors import NrepError
from nrep.core.systems.prepare import prepare_protein

PDB_DIR = os.environ.get("NREP_PDB_DIR")
FILES = sorted(p for p in Path(PDB_DIR).glob("*") if p.suffix in (".pdb", ".cif")) if PDB_DIR else []
NEEDS_REPLACEMENT = {"2F4K"}  # norleucine: refused until the replacement option exists


def reference_energy(system, positions):
    context = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(positions * unit.nanometer)
    state = context.getState(getEnergy=True, getForces=True)
    return (
        state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole),
        np.asarray(state.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer)),
    )


@pytest.mark.skipif(not FILES, reason="set NREP_PDB_DIR to a folder of PDB files (CI points it at ../shared/pdb)")
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_energy_and_forces_equal_openmm_on_real_proteins(path):
    if path.stem.upper() in NEEDS_REPLACEMENT:
        with pytest.raises(NrepError, match="non-standard residues NLE"):
            prepare_protein(path)
        return
    protein = prepare_protein(path)
    energy = AmberEnergy(AmberParameters.from_openmm(protein.system))
    x = torch.tensor(protein.positions_nm, requires_grad=True)
    value = energy(x)
    (grad,) = torch.autograd.grad(value, x)
    reference, forces = reference_energy(protein.system, protein.positions_nm)
    assert abs(value.item() - reference) / max(1.0, abs(reference)) <= 1e-6
    assert np.linalg.norm(-grad.numpy() - forces) / np.linalg.norm(forces) <= 1e-6


def test_bad_files_and_chains_give_one_line(tmp_path):
    empty = tmp_path / "empty.pdb"
    empty.write_text("END\n")
    with pytest.raises(NrepError):
        prepare_protein(empty)
    import io

    import PeptideBuilder
    from Bio.PDB import PDBIO

    writer, buffer = PDBIO(), io.StringIO()
    writer.set_structure(PeptideBuilder.make_extended_structure("GG"))
    writer.save(buffer)
    water = "HETATM  999  O   HOH A   3      15.000  15.000  15.000  1.00  0.00           O\n"
    tiny = tmp_path / "tiny.pdb"
    tiny.write_text(buffer.getvalue().replace("END", water + "END"))
    with pytest.raises(NrepError, match="chain 'B' is not in tiny.pdb"):
        prepare_protein(tiny, chain="B")
    protein = prepare_protein(tiny)
    assert any("HOH" in note for note in protein.notes)
    assert protein.system.getNumParticles() == protein.positions_nm.shape[0] == 17  # GLY-GLY with H and OXT
    single = tmp_path / "single.pdb"
    single.write_text("".join(line + "\n" for line in buffer.getvalue().splitlines() if " 2 " not in line[20:27]))
    with pytest.raises(NrepError, match="amber14 cannot parameterise single.pdb"):
        prepare_protein(single)
