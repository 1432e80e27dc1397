"""Preparing proteins with PDBFixer + OpenMM, and energy parity on the real structures."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from nrep.core.energy.amber import TERMS, AmberEnergy, AmberParameters
from nrep.core.errors import NrepError
from nrep.core.systems.openmm_contexts import openmm_energy
from nrep.core.systems.prepare import prepare_protein

PDB_DIR = os.environ.get("NREP_PDB_DIR")
FILES = sorted(p for p in Path(PDB_DIR).glob("*") if p.suffix in (".pdb", ".cif")) if PDB_DIR else []
NEEDS_REPLACEMENT = {"2F4K"}  # norleucine: refused unless system.replace_nonstandard=true




@pytest.mark.skipif(not FILES, reason="set NREP_PDB_DIR to a folder of PDB files (CI points it at ../shared/pdb)")
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_energy_and_forces_equal_openmm_on_real_proteins(path, only_term):
    replace = path.stem.upper() in NEEDS_REPLACEMENT
    if replace:
        with pytest.raises(NrepError, match="non-standard residues NLE"):
            prepare_protein(path)
    protein = prepare_protein(path, replace_nonstandard=replace)
    params = AmberParameters.from_openmm(protein.system)
    for term in TERMS:  # each term against OpenMM evaluating only that term
        energy = AmberEnergy(params, {t: float(t == term) for t in TERMS})
        x = torch.tensor(protein.positions_nm, requires_grad=True)
        value = energy(x)
        (grad,) = torch.autograd.grad(value, x)
        reference, forces = openmm_energy(only_term(protein.system, term), protein.positions_nm)
        assert abs(value.item() - reference) / max(1.0, abs(reference)) <= 1e-6, term
        assert np.linalg.norm(-grad.numpy() - forces) / max(1.0, np.linalg.norm(forces)) <= 1e-6, term


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
    with pytest.raises(NrepError, match="GLY1 of chain A in single.pdb is a chain of one amino acid"):
        prepare_protein(single)


def _lines(text):
    return [line for line in text.splitlines() if line.startswith(("ATOM", "HETATM"))]


def test_model_1_and_the_highest_occupancy_alternate_location(tmp_path, peptide_file):
    atoms = _lines(peptide_file.read_text())
    ca = next(i for i, line in enumerate(atoms) if line[12:16] == " CA ")
    line = atoms[ca]
    x = float(line[30:38])
    # altloc A (occupancy 0.3) moved by 5 Å; altloc B (0.7) in place: B must win
    moved = line[:16] + "A" + line[17:30] + f"{x + 5:8.3f}" + line[38:54] + "  0.30" + line[60:]
    kept = line[:16] + "B" + line[17:54] + "  0.70" + line[60:]
    model1 = atoms[:ca] + [moved, kept] + atoms[ca + 1:]
    model2 = [row[:30] + f"{float(row[30:38]) + 1:8.3f}" + row[38:] for row in atoms]
    path = tmp_path / "ensemble.pdb"
    path.write_text("MODEL        1\n" + "\n".join(model1) + "\nENDMDL\nMODEL        2\n" + "\n".join(model2) + "\nENDMDL\nEND\n")
    protein = prepare_protein(path)
    plain = prepare_protein(peptide_file)
    assert "used model 1 of 2" in protein.notes
    assert any("alternate locations" in note for note in protein.notes)
    heavy = [a.index for a in plain.topology.atoms() if a.element.symbol != "H"]
    assert np.allclose(protein.positions_nm[heavy], plain.positions_nm[heavy], atol=1e-4)


def test_non_standard_residues_are_refused_or_replaced(tmp_path, peptide_file):
    # norleucine: a leucine renamed, its side chain cut to what NLE and LEU share
    text = peptide_file.read_text()
    lines = []
    for line in text.splitlines():
        if line.startswith("ATOM") and line[17:20] == "LYS":
            if line[12:16].strip() in ("NZ",):
                continue
            line = line[:17] + "NLE" + line[20:]
        lines.append(line)
    path = tmp_path / "nle.pdb"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(NrepError, match="non-standard residues NLE .*system.replace_nonstandard=true"):
        prepare_protein(path)
    protein = prepare_protein(path, replace_nonstandard=True)
    assert [r.name for r in protein.topology.residues()] == ["ALA", "LEU", "TRP", "ASP"]
    assert any("NLE->LEU" in note for note in protein.notes)


def test_a_gap_in_the_chain_is_refused(tmp_path, peptide_text):
    text = peptide_text("AKGWD")
    path = tmp_path / "gap.pdb"
    path.write_text("\n".join(line for line in text.splitlines() if line[17:20] != "GLY") + "\n")
    with pytest.raises(NrepError, match="is broken between LYS2-TRP4"):
        prepare_protein(path)


def test_mmcif_files_are_read(tmp_path, peptide_file):
    from Bio.PDB import MMCIFIO, PDBParser

    structure = PDBParser(QUIET=True).get_structure("p", str(peptide_file))
    writer = MMCIFIO()
    writer.set_structure(structure)
    path = tmp_path / "peptide.cif"
    writer.save(str(path))
    from_cif, from_pdb = prepare_protein(path), prepare_protein(peptide_file)
    assert from_cif.topology.getNumAtoms() == from_pdb.topology.getNumAtoms()
    assert np.allclose(from_cif.positions_nm, from_pdb.positions_nm, atol=1e-4)


def test_garbage_files_give_one_line(tmp_path):
    path = tmp_path / "garbage.pdb"
    path.write_bytes(b"\x00\x01 this is not a structure\n")
    with pytest.raises(NrepError, match="holds binary data"):
        prepare_protein(path)
    path.write_text("HEADER    NOT A STRUCTURE\nEND\n")
    with pytest.raises(NrepError, match="holds no atoms"):
        prepare_protein(path)


def test_an_unknown_amino_acid_in_the_chain_is_named(tmp_path, peptide_file):
    text = peptide_file.read_text().replace("LYS A   2", "XYZ A   2").replace("ATOM  ", "HETATM")
    path = tmp_path / "xyz.pdb"
    path.write_text(text)
    with pytest.raises(NrepError, match="residue XYZ2 of chain A is an amino acid"):
        prepare_protein(path)
