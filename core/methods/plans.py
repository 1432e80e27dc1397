"""Methods as lists of stages.

- ``gd``: one stage, descent on the coordinates.
- ``cg``: stage 1 on Z in X = Ψ Z (the k slowest modes), then the coordinates.
- ``gnn``: stage 1 on the latent and weights of a GNN over the slow-mode graph, then
  the coordinates.

Stage 1 uses the ``optim`` optimiser with the method's own learning rate and stopping;
stage 2 starts a fresh optimiser from stage 1's X.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from nrep.configs.schema import (
    CGMethodConfig,
    ConfigError,
    GNNMethodConfig,
    LoopSystemConfig,
    NrepConfig,
    ReparamMethodConfig,
    StopConfig,
    stage1_optim,
)
from nrep.core.engine.callbacks import EarlyStopping
from nrep.core.engine.stages import Stage
from nrep.core.io.paths import cache_dir
from nrep.core.modes import slow_modes as slow
from nrep.core.optim.by_name import optimizer_factory
from nrep.core.reparam.coordinates import Coordinates
from nrep.core.reparam.gnn import GNNReparam, SlowModeGCN, SparseGCN, mode_propagator
from nrep.core.reparam.linear import LinearModes
from nrep.core.runtime import Runtime, derive_seed

log = logging.getLogger("nrep")

# The authors' Hessian samples for loops: (count, first scale, last scale) of random
# clouds of std scale * n^(1/3)/2 (paper.md §3.2).
AUTHORS_CLOUD_SAMPLES = {"bond_lj": (10, 3.0, 8.0), "pure_lj": (40, 0.01, 0.2)}
DEFAULT_PERTURBATION_SAMPLES = (10, 0.01, 0.1)


@dataclass
class MethodPlan:
    """What a method needs to run: its stages, its slow modes (if any), and set-up times."""

    stages: list[Stage]
    modes: slow.SlowModes | None = None
    times: dict[str, float] = field(default_factory=dict)
    info: dict[str, object] = field(default_factory=dict)  # summary columns (modes_k, ...)

    @property
    def setup_s(self) -> float:
        """Wall time the method spent before its first step (slow modes, network initialisation)."""
        return sum(self.times.values())


def early_stopping(stop: StopConfig) -> EarlyStopping:
    return EarlyStopping(stop.check_every, stop.patience, stop.min_delta)


def coordinate_stage(cfg: NrepConfig) -> Stage:
    """Descent on X itself with ``optim`` and ``stop``: GD, and stage 2 of CG and GNN."""
    return Stage(
        name="coords",
        model_from=Coordinates,
        make_optimizer=optimizer_factory(cfg.optim),
        max_steps=cfg.stop.max_steps,
        clamp_grad=getattr(cfg.optim, "clamp_grad", None),
        callbacks=[early_stopping(cfg.stop)],
    )


def reparam_stage(cfg: NrepConfig, method: ReparamMethodConfig, model_from) -> Stage:  # noqa: ANN001
    optim = stage1_optim(cfg)
    return Stage(
        name="reparam",
        model_from=model_from,
        make_optimizer=optimizer_factory(optim, lr=method.lr),
        max_steps=method.stop.max_steps,
        clamp_grad=getattr(optim, "clamp_grad", None),
        callbacks=[early_stopping(method.stop)],
    )


# --------------------------------------------------------------------------- slow modes


def mode_count(method: ReparamMethodConfig, system) -> int:  # noqa: ANN001
    """``modes.k``, ``modes.fraction`` of n, or the system's default (loops: n // 3; proteins: 3 x residues)."""
    settings = method.modes
    if settings.k is not None:
        k = settings.k
    elif settings.fraction is not None:
        k = max(1, round(settings.fraction * system.n))
    else:
        k = system.default_mode_count
    if k > system.n:
        raise ConfigError(f"method.modes.k={k} exceeds the {system.n} particles of {system.name}; choose k <= {system.n}")
    return k


def hessian_samples(cfg: NrepConfig, x0: torch.Tensor) -> list[torch.Tensor]:
    """The sample configurations of the Hessian backbone, drawn from the run's seed."""
    settings = cfg.method.modes
    n = x0.shape[0]
    kind = settings.sample_kind
    if kind == "auto":
        kind = "cloud" if isinstance(cfg.system, LoopSystemConfig) else "perturb"
    count, first, last = AUTHORS_CLOUD_SAMPLES.get(cfg.energy.name, DEFAULT_PERTURBATION_SAMPLES)
    if kind == "perturb":
        count, first, last = DEFAULT_PERTURBATION_SAMPLES
    if settings.sample_scales is not None:
        first, last = settings.sample_scales
    if settings.n_samples is not None:
        count = settings.n_samples
    scales = np.linspace(first, last, count).tolist()
    seed = derive_seed(cfg.seed, "modes")
    if kind == "cloud":
        return slow.cloud_samples(n, scales, base_std=n ** (1.0 / 3.0) / 2.0, seed=seed)
    return slow.perturbation_samples(x0, scales, seed=seed)


def cache_path(cfg: NrepConfig, system) -> Path:  # noqa: ANN001
    """Where the modes of this system, energy, mode settings and seed are cached.

    The key includes a hash of the start X0, so a changed structure file never reuses
    modes computed for the old one.
    """
    settings = cfg.method.modes
    root = cache_dir("modes", settings.cache_dir)
    modes_settings = {k: v for k, v in asdict(settings).items() if k not in ("cache", "cache_dir", "solver", "dense_max_n")}
    description = {
        "system": asdict(cfg.system),
        "init": asdict(cfg.init),
        "energy": {k: v for k, v in asdict(cfg.energy).items() if k != "compile"},  # how, not what
        "modes": modes_settings,
        "seed": cfg.seed,
        "x0": hashlib.sha256(system.x0.to(torch.float64).numpy().tobytes()).hexdigest(),
    }
    return root / f"{cfg.system.name}-{slow.cache_key(description)}.npz"


def compute_slow_modes(cfg: NrepConfig, energy, system) -> slow.SlowModes:  # noqa: ANN001
    """The method's slow modes, from the cache when allowed and present (float64, CPU)."""
    settings = cfg.method.modes
    path = cache_path(cfg, system) if settings.cache else None
    if path is not None and path.exists():
        modes = slow.load_modes(path)
        log.info("slow modes from the cache %s (computed in %.2f s)", path, modes.compute_time_s)
        return modes
    modes = slow.slow_modes(
        hessian_samples(cfg, system.x0),
        energy.pair_interactions(),
        k=mode_count(cfg.method, system),
        norm=settings.backbone,
        solver=settings.solver,
        dense_max_n=settings.dense_max_n,
        seed=derive_seed(cfg.seed, "eigensolver"),
        local=energy.local_interactions(),
    )
    log.info("%d slow modes (%s solver) in %.2f s", modes.k, modes.solver, modes.compute_time_s)
    if path is not None:
        slow.save_modes(path, modes)
    return modes


# --------------------------------------------------------------------------- GNN


def gnn_edges(cfg: NrepConfig, system, x0: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
    """The edge list (2, E), both directions, of the sparse graphs ``bonds`` and ``knn``."""
    if cfg.method.graph == "bonds":
        pairs = system.coupled_pairs
    else:
        from scipy.spatial import cKDTree

        _, neighbours = cKDTree(x0.numpy()).query(x0.numpy(), k=cfg.method.knn_k + 1)
        rows = np.repeat(np.arange(len(x0)), cfg.method.knn_k)
        pairs = torch.from_numpy(np.stack([rows, neighbours[:, 1:].ravel()], axis=1))
    pairs = pairs.long()
    return torch.cat([pairs, pairs.flip(1)]).unique(dim=0).T.contiguous()


def build_gnn(cfg: NrepConfig, system, modes: slow.SlowModes | None, runtime: Runtime) -> GNNReparam:  # noqa: ANN001
    """The GNN, initialised reproducibly from the run's seed (on the CPU, in float64)."""
    method: GNNMethodConfig = cfg.method
    dims = [method.latent_dim, *method.hidden_dims]
    if method.graph in ("slow_modes", "slow_modes_plain"):
        propagator = mode_propagator(modes.psi, modes.rayleigh if method.graph == "slow_modes" else None)

        def make_layer(a: int, b: int):  # noqa: ANN202
            return SlowModeGCN(propagator, a, b)
    else:
        edges = gnn_edges(cfg, system, system.x0)

        def make_layer(a: int, b: int):  # noqa: ANN202
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


# --------------------------------------------------------------------------- plans


def build_plan(cfg: NrepConfig, system, energy, runtime: Runtime) -> MethodPlan:  # noqa: ANN001
    """Stages (and slow modes) of ``cfg.method``; the energy must still be on the CPU."""
    method = cfg.method
    if not isinstance(method, ReparamMethodConfig):  # gd; the OpenMM baselines run outside the stage loop
        return MethodPlan([coordinate_stage(cfg)] if method.name == "gd" else [])
    coords = coordinate_stage(cfg)

    needs_modes = isinstance(method, CGMethodConfig) or method.graph in ("slow_modes", "slow_modes_plain")
    modes = compute_slow_modes(cfg, energy, system) if needs_modes else None
    plan = MethodPlan([], modes)
    if modes is not None:
        plan.times["modes"] = modes.compute_time_s
        plan.info.update(
            modes_k=modes.k,
            modes_solver=modes.solver,
            modes_cache_hit=modes.cache_hit,
            modes_eigenvalue_max=float(modes.eigenvalues[-1]),
        )

    if isinstance(method, CGMethodConfig):
        psi = modes.psi
        anchored = method.start == "anchored"
        plan.stages = [reparam_stage(cfg, method, lambda x: LinearModes(psi, x, anchored)), coords]
        return plan

    started = time.perf_counter()
    model = build_gnn(cfg, system, modes, runtime)
    x0 = system.x0.to(device=runtime.device, dtype=runtime.dtype)
    if method.output_init == "fit":
        plan.info["gnn_fit_steps"] = model.fit_output_(x0)
    elif method.output_init == "anchored":
        model.anchor_(x0)
    else:
        model.rescale_output_(x0)
    plan.times["init"] = time.perf_counter() - started
    plan.info["gnn_parameters"] = sum(p.numel() for p in model.parameters())
    plan.stages = [reparam_stage(cfg, method, lambda x: model), coords]
    return plan
