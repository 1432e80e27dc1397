"""Structure metrics: Kabsch RMSD against Biopython, closure and stuck pairs by hand."""

import math

import numpy as np
import pytest
import torch
from Bio.SVDSuperimposer import SVDSuperimposer

from nrep.core.metrics import loop_closure, stuck_pairs
from nrep.core.systems.rmsd import kabsch_rmsd


def random_rotation(seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def test_rmsd_equals_biopython():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(40, 3)), rng.normal(size=(40, 3))
    sup = SVDSuperimposer()
    sup.set(b, a)
    sup.run()
    assert kabsch_rmsd(torch.tensor(a), torch.tensor(b)) == pytest.approx(sup.get_rms(), rel=1e-10)


def test_a_moved_copy_has_rmsd_zero_and_a_mirror_does_not():
    x = torch.tensor(np.random.default_rng(2).normal(size=(25, 3)))
    moved = x @ torch.tensor(random_rotation(3)).T + torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    assert kabsch_rmsd(moved, x) < 1e-12
    mirrored = x * torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64)
    assert kabsch_rmsd(mirrored, x) > 0.1


def test_closure_and_stuck_pairs_by_hand():
    x = torch.tensor([[0.0, 0, 0], [1.132, 0, 0], [0.3, 0, 0], [3.0, 0, 0]])
    loops = torch.tensor([[0, 1], [0, 3]])
    assert loop_closure(x, loops, r_min=1.132) == 0.5
    assert stuck_pairs(x, torch.tensor([[0, 2], [0, 1], [2, 3]])) == 1
    assert math.isclose(loop_closure(x, loops, r_min=3.0), 0.5)


def test_protein_rmsd_sets(tmp_path):
    import io

    import PeptideBuilder
    from Bio.PDB import PDBIO

    from nrep.core.systems.prepare import prepare_protein
    from nrep.core.systems.rmsd import protein_atom_sets, protein_rmsd

    writer, buffer = PDBIO(), io.StringIO()
    writer.set_structure(PeptideBuilder.make_extended_structure("GAWS"))
    writer.save(buffer)
    path = tmp_path / "gaws.pdb"
    path.write_text(buffer.getvalue())
    protein = prepare_protein(path)
    sets = protein_atom_sets(protein.topology)
    assert len(sets["ca"]) == 4 and len(sets["backbone"]) == 12
    assert len(sets["all"]) == protein.positions_nm.shape[0] > len(sets["heavy"])
    reference = torch.tensor(protein.positions_nm)
    moved = reference @ torch.tensor(random_rotation(5)).T + 0.7
    assert all(v < 1e-10 for v in protein_rmsd(moved, reference, sets).values())
    hydrogens_only = reference.clone()
    is_h = torch.ones(len(reference), dtype=torch.bool)
    is_h[sets["heavy"]] = False
    hydrogens_only[is_h] += 0.05  # nm
    rmsd = protein_rmsd(hydrogens_only, reference, sets)
    assert rmsd["rmsd_ca_A"] < 1e-10 and rmsd["rmsd_heavy_A"] < 1e-10 and rmsd["rmsd_all_A"] > 0.1
