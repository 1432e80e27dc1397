"""The extended start: peptide bonds of 1.32 Å, no clashes, the sequence kept."""

import numpy as np
import pytest
import scipy.sparse
from scipy.sparse.csgraph import shortest_path

from nrep.core.systems.extended import extended_chain_pdb, one_letter_sequence
from nrep.core.systems.prepare import prepare_protein

SEQUENCES = {
    "trp-cage": "NLYIQWLKDGGPSSGRPPPS",
    "chignolin": "YYDPETGTWY",
    "2WXC": "GSQNNDALSPAIRRLLAEWNLDASAIKGTGVGGRLTREDVEKHLAKA",
}


@pytest.fixture(scope="module", params=sorted(SEQUENCES))
def extended(request, tmp_path_factory):
    sequence = SEQUENCES[request.param]
    path = tmp_path_factory.mktemp("extended") / "extended.pdb"
    path.write_text(extended_chain_pdb(sequence))
    return sequence, prepare_protein(path)


def test_sequence_is_kept(extended):
    sequence, protein = extended
    assert one_letter_sequence([r.name for r in protein.topology.residues()]) == sequence


def test_peptide_bonds_are_1_32_angstrom(extended):
    sequence, protein = extended
    atoms = {(a.residue.index, a.name): a.index for a in protein.topology.atoms()}
    x = protein.positions_nm * 10.0  # Å
    lengths = [np.linalg.norm(x[atoms[(i, "C")]] - x[atoms[(i + 1, "N")]]) for i in range(len(sequence) - 1)]
    assert np.allclose(lengths, 1.32, atol=0.01)


def test_no_clashes_between_atoms_more_than_three_bonds_apart(extended):
    _, protein = extended
    atoms = list(protein.topology.atoms())
    heavy = np.array([a.element.symbol != "H" for a in atoms])
    n = len(atoms)
    edges = np.array([[b[0].index, b[1].index] for b in protein.topology.bonds()])
    graph = scipy.sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    hops = shortest_path(graph, directed=False, unweighted=True)
    x = protein.positions_nm * 10.0
    distance = np.linalg.norm(x[:, None, :] - x[None, :, :], axis=-1)
    far_apart = (hops > 3) & heavy[:, None] & heavy[None, :]
    assert distance[far_apart].min() > 2.0


def test_unknown_residue_names():
    with pytest.raises(ValueError, match="NLE"):
        one_letter_sequence(["GLY", "NLE"])
