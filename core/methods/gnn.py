"""``gnn``: stage 1 on the latent and weights of a GNN over the slow-mode graph (or bonds, or k nearest
neighbours), then the coordinates (paper §1.3)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
import torch

from nrep.configs.schema import GNNMethodConfig, NrepConfig
from nrep.configs.schema.choices import GNN_MODE_GRAPHS
from nrep.core.methods.mode_setup import compute_slow_modes, slow_mode_columns
from nrep.core.methods.plans import MethodPlan, coordinate_stage, reparam_stage
from nrep.core.modes import slow_modes as slow
from nrep.core.reparam.gnn import GNNReparam, SlowModeGCN, SparseGCN, mode_propagator
from nrep.core.runtime import Runtime, derive_seed

if TYPE_CHECKING:
    from torch import nn

    from nrep.core.energy.registry import Energy
    from nrep.core.systems.base import System



def gnn_edges(cfg: NrepConfig, system: System, x0: torch.Tensor) -> torch.Tensor:
    """The edge list (2, E), both directions, of the sparse graphs ``bonds`` and ``knn``."""
    if cfg.method.graph_for(system.n) == "bonds":
        pairs = system.coupled_pairs
    else:
        from scipy.spatial import cKDTree

        _, neighbours = cKDTree(x0.numpy()).query(x0.numpy(), k=cfg.method.knn_k + 1)
        rows = np.repeat(np.arange(len(x0)), cfg.method.knn_k)
        pairs = torch.from_numpy(np.stack([rows, neighbours[:, 1:].ravel()], axis=1))
    pairs = pairs.long()
    return torch.cat([pairs, pairs.flip(1)]).unique(dim=0).T.contiguous()


def build_gnn(cfg: NrepConfig, system: System, modes: slow.SlowModes | None, runtime: Runtime) -> GNNReparam:
    """The GNN, initialised reproducibly from the run's seed (on the CPU, in float64)."""
    method: GNNMethodConfig = cfg.method
    dims = [method.latent_dim, *method.hidden_dims]
    graph = method.graph_for(system.n)
    if graph in GNN_MODE_GRAPHS:
        propagator = mode_propagator(modes.psi, modes.rayleigh if graph == "slow_modes" else None)

        def make_layer(a: int, b: int) -> nn.Module:
            return SlowModeGCN(propagator, a, b)
    else:
        edges = gnn_edges(cfg, system, system.x0)

        def make_layer(a: int, b: int) -> nn.Module:
            return SparseGCN(edges, a, b)

    previous_dtype = torch.get_default_dtype()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(cfg.seed, "gnn"))
        torch.set_default_dtype(torch.float64)  # the same initial weights for every run dtype
        try:
            model = GNNReparam(system.n, dims, make_layer, method.activation)
        finally:
            torch.set_default_dtype(previous_dtype)
    return model.to(device=runtime.device, dtype=runtime.dtype)


def plan(cfg: NrepConfig, system: System, energy: Energy, runtime: Runtime) -> MethodPlan:
    method: GNNMethodConfig = cfg.method
    graph = method.graph_for(system.n)
    modes = compute_slow_modes(cfg, energy, system) if graph in GNN_MODE_GRAPHS else None
    found = MethodPlan([], modes, optimiser=cfg.optim.name)
    found.info["gnn_graph"] = graph
    if modes is not None:
        found.times["modes"] = modes.compute_time_s
        found.info.update(slow_mode_columns(modes))
    started = time.perf_counter()
    model = build_gnn(cfg, system, modes, runtime)
    x0 = system.x0.to(device=runtime.device, dtype=runtime.dtype)
    if method.output_init == "fit":
        found.info["gnn_fit_steps"] = model.fit_output_(x0)
    elif method.output_init == "anchored":
        model.anchor_(x0)
    else:
        model.rescale_output_(x0)
    found.times["init"] = time.perf_counter() - started
    found.info["gnn_parameters"] = sum(p.numel() for p in model.parameters())
    found.stages = [reparam_stage(cfg, method, lambda x: model), coordinate_stage(cfg)]
    return found

