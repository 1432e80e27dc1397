"""Model A (energy=simple): every term against a hand computation, gradients against finite differences."""

import math

import numpy as np
import pytest
import torch

from nrep.core.energy.simple import TERMS, SimpleEnergy, SimpleParameters, close_pairs, soft_pq

# N(0)-H(1) polar, N(0)-C(2), C(2)=O(3), C(2)-H(4) non-polar. Coordinates in Å.
X_A = np.array([[0.0, 0.0, 0.0], [-0.3, 0.95, 0.1], [1.45, 0.0, 0.0], [2.1, 1.05, 0.2], [1.9, -0.9, 0.5]])
BONDS = [[0, 1], [0, 2], [2, 3], [2, 4]]
ANGLES = [[1, 0, 2], [0, 2, 3], [0, 2, 4], [3, 2, 4]]
R0 = [1.01, 1.47, 1.23, 1.09]
THETA0 = [2.0, 2.1, 1.9, 2.05]
RADII = [1.8, 0.6, 1.9, 1.7, 1.4]


def fragment(**settings) -> SimpleEnergy:
    params = SimpleParameters(
        bonds=torch.tensor(BONDS),
        bond_r0_A=torch.tensor(R0, dtype=torch.float64),
        angles=torch.tensor(ANGLES),
        angle_theta0=torch.tensor(THETA0, dtype=torch.float64),
        radius_A=torch.tensor(RADII, dtype=torch.float64),
        polar_h=torch.tensor([False, True, False, False, False]),
        acceptor=torch.tensor([True, False, False, True, False]),
        hydrophobic=torch.tensor([True] * 5),
    )
    return SimpleEnergy(params, **settings)


def angle(a, b, c):
    u, v = X_A[a] - X_A[b], X_A[c] - X_A[b]
    return math.acos(np.dot(u, v) / np.linalg.norm(u) / np.linalg.norm(v))


def v_pq(s, p, q, zeta=0.65):
    return 1 / (s**p + zeta) - 1 / (s**q + zeta)


def test_every_term_equals_a_hand_computation():
    energy = fragment(k_bond=2.0, k_angle=3.0, eps_vdw=0.5, eps_hbond=1.5, eps_hydrophobic=0.7)
    terms = {k: v.item() for k, v in energy.terms(torch.tensor(X_A / 10)).items()}
    # the only pairs not 1-2 or 1-3 bonded: H(1)-O(3) and H(1)-H(4)
    r13, r14 = np.linalg.norm(X_A[1] - X_A[3]), np.linalg.norm(X_A[1] - X_A[4])
    expected = {
        "bond": 2.0 * sum((np.linalg.norm(X_A[i] - X_A[j]) - r0) ** 2 for (i, j), r0 in zip(BONDS, R0)),
        "angle": 3.0 * sum((angle(*t) - t0) ** 2 for t, t0 in zip(ANGLES, THETA0)),
        "vdw": 0.5 * (v_pq(r13 / (0.6 + 1.7), 12, 6) + v_pq(r14 / (0.6 + 1.4), 12, 6)),
        "hbond": 1.5 * v_pq(r13 / 1.5, 6, 4),  # polar H with the acceptor O; not with H(4)
        "hydrophobic": 0.7 * (v_pq(r13 / 4.0, 6, 4) + v_pq(r14 / 4.0, 6, 4)),
    }
    assert terms == pytest.approx(expected, rel=1e-12)


def test_only_polar_hydrogen_acceptor_pairs_form_hydrogen_bonds():
    energy = fragment()
    assert energy.hbond_pairs.tolist() == [[1, 3]]
    assert energy.vdw_pairs.tolist() == [[1, 3], [1, 4]]
    assert close_pairs(5, torch.tensor(BONDS), torch.tensor(ANGLES))[0, 3]  # N-C=O: a 1-3 pair


def test_mean_normalisation_divides_each_term_by_its_count():
    x = torch.tensor(X_A / 10)
    total, mean = fragment().terms(x), fragment(normalisation="mean").terms(x)
    counts = {"bond": 4, "angle": 4, "vdw": 2, "hbond": 1, "hydrophobic": 2}
    for name in TERMS:
        assert mean[name].item() == pytest.approx(total[name].item() / counts[name], rel=1e-12)


def test_gradients_equal_finite_differences():
    energy = fragment(eps_vdw=0.5, eps_hbond=1.5, eps_hydrophobic=0.7)
    x = torch.tensor(X_A / 10, requires_grad=True)
    (grad,) = torch.autograd.grad(energy(x), x)
    h = 1e-6
    numeric = np.zeros_like(X_A)
    for i in range(5):
        for d in range(3):
            step = torch.zeros_like(x)
            step[i, d] = h
            numeric[i, d] = (energy(x.detach() + step) - energy(x.detach() - step)).item() / (2 * h)
    assert np.allclose(grad.numpy(), numeric, rtol=1e-6, atol=1e-6)


def test_softened_potentials_have_the_papers_shape():
    s = torch.linspace(0.01, 3, 30001, dtype=torch.float64)
    v126, v64 = soft_pq(s, 12, 6, 0.65), soft_pq(s, 6, 4, 0.65)
    assert v126.min().item() == pytest.approx(-0.173, abs=1e-3) and s[v126.argmin()].item() == pytest.approx(1.17, abs=0.01)
    assert v64.min().item() == pytest.approx(-0.103, abs=1e-3) and s[v64.argmin()].item() == pytest.approx(1.32, abs=0.01)


def test_protein_classes_and_geometry_come_from_the_structure(peptide_file):
    from nrep.core.energy.amber import AmberParameters
    from nrep.core.systems.prepare import prepare_protein

    protein = prepare_protein(peptide_file)
    amber = AmberParameters.from_openmm(protein.system)
    params = SimpleParameters.from_protein(protein.topology, amber)
    atoms = list(protein.topology.atoms())
    polar = {a.name for a in atoms if params.polar_h[a.index]}
    assert {"H", "HZ1", "HE1"} <= polar and "HA" not in polar  # backbone NH, Lys NH3+, Trp NE1-H
    assert all(params.acceptor[a.index] == (a.element.symbol in ("N", "O")) for a in atoms)
    assert all(params.hydrophobic[a.index] == (a.residue.name in ("ALA", "TRP")) for a in atoms)
    assert torch.allclose(params.bond_r0_A, 10 * amber.bond_r0)


def test_hessian_blocks_equal_the_autograd_hessian():
    from nrep.core.modes.slow_modes import hessian_block_norms

    energy = fragment(k_bond=2.0, eps_hbond=1.5, normalisation="mean")
    x = torch.tensor(X_A / 10)
    expected = torch.func.hessian(energy)(x).permute(0, 2, 1, 3).flatten(2).norm(dim=2).numpy()
    found = hessian_block_norms(x, energy.pair_interactions(), local=energy.local_interactions()).toarray()
    assert np.allclose(found, expected, rtol=1e-9, atol=1e-9 * expected.max())
