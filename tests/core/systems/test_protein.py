"""Loading a protein: reference, starts (extended and native), the start cache, RMSD."""

import numpy as np
import pytest
import torch

from nrep.core.systems.protein import load_protein


@pytest.fixture(scope="module")
def start_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("starts")


@pytest.fixture(scope="module")
def extended(peptide_file, start_cache):
    return load_protein(str(peptide_file), start_cache_dir=str(start_cache))


def test_extended_start_has_the_reference_atoms_in_order(extended):
    assert extended.x0.shape == extended.reference.shape == (extended.topology.getNumAtoms(), 3)
    assert extended.sequence == "AKWD" and extended.n_residues == 4
    assert extended.default_mode_count == 12  # 3 x residues


def test_extended_start_is_straight_with_1_32_angstrom_peptide_bonds(extended):
    atoms = {(a.residue.index, a.name): a.index for a in extended.topology.atoms()}
    x = extended.x0.numpy() * 10
    bonds = [np.linalg.norm(x[atoms[(i, "C")]] - x[atoms[(i + 1, "N")]]) for i in range(3)]
    assert np.allclose(bonds, 1.32, atol=0.01)
    ca = np.array([x[atoms[(i, "CA")]] for i in range(4)])
    # fully extended: CA(i)-CA(i+2) about 7 Å (a helix has about 5.5 Å)
    assert np.linalg.norm(ca[2] - ca[0]) > 6.5
    assert extended.rmsd(extended.x0)["rmsd_ca_A"] > 1.0


def test_the_start_is_cached_and_reused(extended, peptide_file, start_cache, monkeypatch):
    import nrep.core.systems.protein as protein

    assert len(list(start_cache.glob("extended-*.npy"))) == 1
    monkeypatch.setattr(protein, "extended_start", lambda *args: pytest.fail("the start was rebuilt"))
    again = load_protein(str(peptide_file), start_cache_dir=str(start_cache))
    assert torch.equal(again.x0, extended.x0)


def test_native_start_is_the_reference(peptide_file):
    native = load_protein(str(peptide_file), start="native")
    assert torch.equal(native.x0, native.reference)
    assert native.rmsd(native.x0) == pytest.approx({"rmsd_ca_A": 0, "rmsd_backbone_A": 0, "rmsd_heavy_A": 0, "rmsd_all_A": 0}, abs=1e-6)
    assert native.describe()["start"] == "native"
