"""The random and unfolded protein starts: seeded, cached, with the right geometry."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from nrep.core.energy.amber import AmberParameters
from nrep.core.systems.protein import load_protein


def bond_lengths(system):
    params = AmberParameters.from_openmm(system.prepared.system)
    x = system.x0.numpy()
    found = np.linalg.norm(x[params.bonds[:, 0]] - x[params.bonds[:, 1]], axis=1)
    return found, params.bond_r0.numpy()


def test_random_coil_is_seeded_and_has_the_right_bond_lengths(peptide_file, tmp_path):
    a = load_protein(str(peptide_file), start="random", seed=1, start_cache_dir=str(tmp_path))
    again = load_protein(str(peptide_file), start="random", seed=1, start_cache_dir=str(tmp_path / "fresh"))
    other = load_protein(str(peptide_file), start="random", seed=2, start_cache_dir=str(tmp_path))
    assert torch.equal(a.x0, again.x0)  # rebuilt from scratch: the same coil
    assert not torch.allclose(a.x0, other.x0, atol=1e-3)
    found, ideal = bond_lengths(a)
    assert np.abs(found - ideal).max() < 0.02  # nm: PeptideBuilder's ideal geometry is within 0.15 Å of AMBER's
    atoms = {(atom.residue.index, atom.name): atom.index for atom in a.topology.atoms()}
    peptide = [np.linalg.norm(a.x0[atoms[(i, "C")]] - a.x0[atoms[(i + 1, "N")]]) for i in range(3)]
    assert np.allclose(peptide, 0.132, atol=1e-3)
    assert len(list(tmp_path.glob("random-*.npy"))) == 2  # one per seed


def test_a_short_unfolding_moves_the_structure_reproducibly(peptide_file, tmp_path):
    options = {"steps": 200, "solvent": "vacuum", "platform": "reference"}
    a = load_protein(str(peptide_file), start="unfold_md", start_options=options, start_cache_dir=str(tmp_path / "a"))
    b = load_protein(str(peptide_file), start="unfold_md", start_options=options, start_cache_dir=str(tmp_path / "b"))
    c = load_protein(str(peptide_file), start="unfold_md", start_options=options, seed=5, start_cache_dir=str(tmp_path))
    assert torch.equal(a.x0, b.x0) and not torch.allclose(a.x0, c.x0, atol=1e-3)
    assert a.rmsd(a.x0)["rmsd_all_A"] > 0.5
    found, ideal = bond_lengths(a)
    assert np.isfinite(found).all() and np.abs(found - ideal).max() < 0.02


PDB_DIR = os.environ.get("NREP_PDB_DIR")


@pytest.mark.slow
@pytest.mark.skipif(not PDB_DIR or not (Path(PDB_DIR) / "2JOF.pdb").exists(), reason="needs 2JOF.pdb in NREP_PDB_DIR")
def test_unfolding_trp_cage_takes_it_far_from_the_native_structure(tmp_path):
    unfolded = load_protein("2JOF", start="unfold_md", start_options={}, start_cache_dir=str(tmp_path))
    assert unfolded.rmsd(unfolded.x0)["rmsd_ca_A"] > 5.0
