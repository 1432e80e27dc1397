"""The report's one superposition: a rotated and shifted copy of a structure lands back on it."""

from __future__ import annotations

import io

import numpy as np
from Bio.PDB import PDBIO, PDBParser
from scipy.spatial.transform import Rotation

from nrep.core.report.structures import read_ca, superimposed, superimposed_pdb


def coordinates(text_or_path) -> np.ndarray:
    source = io.StringIO(text_or_path) if isinstance(text_or_path, str) else str(text_or_path)
    return np.array([a.coord for a in PDBParser(QUIET=True).get_structure("s", source).get_atoms()], dtype=np.float64)


def test_a_moved_structure_is_put_back_on_its_reference(peptide_file, tmp_path):
    structure = PDBParser(QUIET=True).get_structure("s", str(peptide_file))
    rotation = Rotation.from_euler("xyz", [40, -25, 110], degrees=True).as_matrix()
    for atom in structure.get_atoms():
        atom.set_coord(atom.coord @ rotation.T + np.array([5.0, -3.0, 12.0]))
    writer = PDBIO()
    writer.set_structure(structure)
    writer.save(str(tmp_path / "final.pdb"))

    moved = coordinates(tmp_path / "final.pdb")
    assert np.abs(moved - coordinates(peptide_file)).max() > 1.0  # really moved
    back = coordinates(superimposed_pdb(tmp_path / "final.pdb", peptide_file))
    assert np.abs(back - coordinates(peptide_file)).max() < 2e-3  # PDB's 3 decimals
    ca, rmsd = superimposed(read_ca(tmp_path / "final.pdb"), read_ca(peptide_file))
    assert rmsd < 2e-3 and np.allclose(ca, read_ca(peptide_file), atol=2e-3)
