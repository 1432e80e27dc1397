"""The GNN reparametrisation: factored propagation, determinism, output initialisation."""

import pytest
import torch

from nrep.core.reparam.gnn import GNNReparam, SlowModeGCN, SparseGCN, mode_propagator


def small_modes(n=25, k=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    psi = torch.linalg.qr(torch.randn(n, k, generator=g, dtype=torch.float64))[0]
    rayleigh = torch.rand(k, generator=g, dtype=torch.float64) + 0.1
    return psi, rayleigh


def test_factored_propagation_equals_the_explicit_adjacency():
    psi, rayleigh = small_modes()
    torch.manual_seed(0)
    layer = SlowModeGCN(mode_propagator(psi, rayleigh), 4, 3).double()
    h = torch.randn(25, 4, dtype=torch.float64)
    adjacency = psi @ torch.diag(rayleigh) @ psi.T
    explicit = adjacency @ h @ layer.weight + h @ layer.self_weight + layer.bias
    assert torch.allclose(layer(h), explicit, rtol=1e-12, atol=1e-12)
    plain = SlowModeGCN(mode_propagator(psi, None), 4, 3).double()
    assert torch.allclose(plain.propagator @ plain.propagator.T, psi @ psi.T)


def build(seed, dims=(8, 4)):
    psi, rayleigh = small_modes()
    propagator = mode_propagator(psi, rayleigh).float()
    torch.manual_seed(seed)
    return GNNReparam(25, list(dims), lambda a, b: SlowModeGCN(propagator, a, b))


def test_forward_is_deterministic_for_a_seed():
    assert torch.equal(build(3)(), build(3)())
    assert not torch.equal(build(3)(), build(4)())
    assert build(3)().shape == (25, 3)


def test_two_layers_and_initialisation():
    model = build(0, dims=(8, 8, 8))
    assert len(model.layers) == 2
    layer = model.layers[0]
    assert torch.equal(layer.bias, torch.zeros(8))
    assert model.z.shape == (25, 8)
    with pytest.raises(ValueError):
        GNNReparam(25, [8], lambda a, b: None)


def test_rescale_and_fit_output():
    x0 = 3.0 * torch.randn(25, 3)
    model = build(1)
    model.rescale_output_(x0)
    assert torch.isclose(model().std(), x0.std(), rtol=1e-5)
    fitted = build(1)
    before = ((fitted() - x0) ** 2).mean().item()
    steps = fitted.fit_output_(x0, lr=1e-2, max_steps=300)
    assert 0 < steps <= 300
    assert ((fitted() - x0) ** 2).mean().item() < 0.5 * before


def test_sparse_gcn_over_a_chain():
    edges = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    torch.manual_seed(0)
    layer = SparseGCN(edges, 2, 3)
    h = torch.randn(3, 2)
    out = layer(h)
    assert out.shape == (3, 3) and torch.isfinite(out).all()
    # the end beads see only their neighbour and themselves: moving bead 2 leaves bead 0 alone
    h2 = h.clone()
    h2[2] += 5.0
    assert torch.allclose(layer(h2)[0], out[0])
