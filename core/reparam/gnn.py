"""GNN reparametrisation (paper §1.3): X = Linear(tanh(GCN(... tanh(GCN(Z))))).

The default graph is the slow-mode graph A = Ψ diag(λ̃) Ψᵀ of the authors' code, applied
in factored form Ψ̃ (Ψ̃ᵀ H) with Ψ̃ = Ψ diag(√λ̃), so A (n × n) is never formed and a layer
costs O(n k h). ``plain`` uses A = Ψ Ψᵀ (the paper's text). Sparse graphs (bonds, k
nearest neighbours) go through torch_geometric's ``GCNConv``.

Both the latent Z (n × h0) and the network's weights are optimised in stage 1.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import nn

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "identity": lambda h: h,
}


def mode_propagator(psi: torch.Tensor, rayleigh: torch.Tensor | None) -> torch.Tensor:
    """Ψ̃ = Ψ diag(√λ̃) (weighted) or Ψ (rayleigh None), so that A = Ψ̃ Ψ̃ᵀ."""
    if rayleigh is None:
        return psi
    return psi * rayleigh.clamp_min(0).sqrt()[None, :]


class SlowModeGCN(nn.Module):
    """H_out = Ψ̃ (Ψ̃ᵀ H) W + H W_self + b: a GCN layer over A = Ψ̃ Ψ̃ᵀ without degree normalisation.

    Initialised as the authors': W Xavier-normal, W_self ~ N(0, 1), b = 0.
    """

    def __init__(self, propagator: torch.Tensor, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.register_buffer("propagator", propagator)
        self.weight = nn.Parameter(nn.init.xavier_normal_(torch.empty(in_dim, out_dim)))
        self.self_weight = nn.Parameter(torch.randn(in_dim, out_dim))
        self.bias = nn.Parameter(torch.zeros(out_dim))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        propagated = self.propagator @ (self.propagator.T @ h)
        return propagated @ self.weight + h @ self.self_weight + self.bias


class SparseGCN(nn.Module):
    """torch_geometric's GCNConv (symmetric normalisation, self-loops) over a fixed edge list."""

    def __init__(self, edge_index: torch.Tensor, in_dim: int, out_dim: int) -> None:
        super().__init__()
        from torch_geometric.nn import GCNConv

        self.register_buffer("edge_index", edge_index)
        self.conv = GCNConv(in_dim, out_dim, add_self_loops=True, normalize=True)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.conv(h, self.edge_index)


class GNNReparam(nn.Module):
    """X = Linear(act(layer_L(... act(layer_1(Z))))) with a learnable latent Z (n, h0) ~ N(0, 1/h0).

    ``make_layer(in_dim, out_dim)`` builds one graph layer; ``dims`` = [h0, h1, ..., hL].
    """

    def __init__(
        self,
        n: int,
        dims: Sequence[int],
        make_layer: Callable[[int, int], nn.Module],
        activation: str = "tanh",
    ) -> None:
        super().__init__()
        if len(dims) < 2 or min(dims) < 1:
            raise ValueError(f"dims must list the latent size and at least one layer size, all >= 1 (got {list(dims)})")
        self.z = nn.Parameter(torch.randn(n, dims[0]) / math.sqrt(dims[0]))
        self.layers = nn.ModuleList(make_layer(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.activation = ACTIVATIONS[activation]
        self.output = nn.Linear(dims[-1], 3)
        self.register_buffer("anchor", None)

    def forward(self) -> torch.Tensor:
        h = self.z
        for layer in self.layers:
            h = self.activation(layer(h))
        x = self.output(h)
        return x if self.anchor is None else self.anchor + x

    @torch.no_grad()
    def anchor_(self, x0: torch.Tensor) -> None:
        """Make X = X0 + GNN(Z) with the output layer zeroed: the start is X0 exactly.

        Exact force fields cannot start from an approximate X0 (atoms a fraction of an Å
        apart have astronomical Lennard-Jones energies). The zeroed layer still gets a
        gradient (its input is not zero), so the network moves X from the first step.
        """
        self.output.weight.zero_()
        self.output.bias.zero_()
        self.anchor = x0.detach().clone()

    @torch.no_grad()
    def rescale_output_(self, x0: torch.Tensor) -> None:
        """Scale the last layer's weight so that std(X) = std(X0) (the authors' loops).

        The network then starts from a random configuration of the right size, not from X0.
        The authors multiply the weight by std(X0)/std(X) once, which the bias makes
        approximate; here the factor s solves std(s u + b) = std(X0) exactly (u = the
        weight's part of the output).
        """
        bias = self.output.bias.expand(x0.shape[0], 3).flatten()
        u = (self() - self.output.bias).flatten()
        var_u, var_b = u.var(), bias.var()
        cov = ((u - u.mean()) * (bias - bias.mean())).sum() / (u.numel() - 1)
        target = x0.var()
        disc = cov**2 - var_u * (var_b - target)
        scale = (-cov + disc.sqrt()) / var_u if disc >= 0 else (target / var_u).sqrt()
        self.output.weight.mul_(scale)

    def fit_output_(self, x0: torch.Tensor, lr: float = 1e-3, max_steps: int = 1000, patience: int = 20, min_delta: float = 1e-6) -> int:
        """Pre-fit X to X0 by mean squared error with Adam; returns the steps taken.

        Stops when the loss has not improved by min_delta for ``patience`` steps.
        """
        optimizer = torch.optim.Adam(self.parameters(), lr=lr)
        best, waited = math.inf, 0
        for step in range(max_steps):
            optimizer.zero_grad(set_to_none=True)
            loss = ((self() - x0) ** 2).mean()
            loss.backward()
            optimizer.step()
            value = float(loss.detach())
            if value < best - min_delta:
                best, waited = value, 0
            else:
                waited += 1
                if waited >= patience:
                    return step + 1
        return max_steps
