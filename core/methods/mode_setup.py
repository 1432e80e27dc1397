"""The slow modes a method (CG, the GNN's mode graph) is built on: how many, from which samples, cached where."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from nrep.configs.schema import LoopSystemConfig, NrepConfig, ReparamMethodConfig
from nrep.core.errors import NrepError
from nrep.core.io.paths import cache_dir
from nrep.core.modes import slow_modes as slow
from nrep.core.runtime import derive_seed

if TYPE_CHECKING:
    from nrep.core.energy.registry import Energy
    from nrep.core.systems.base import System

log = logging.getLogger("nrep")

# The authors' Hessian samples for loops: (count, first scale, last scale) of random
# clouds of std scale * n^(1/3)/2 (paper.md §3.2).
AUTHORS_CLOUD_SAMPLES = {"bond_lj": (10, 3.0, 8.0), "pure_lj": (40, 0.01, 0.2)}
DEFAULT_PERTURBATION_SAMPLES = (10, 0.01, 0.1)


def mode_count(method: ReparamMethodConfig, system: System) -> int:
    """``modes.k``, ``modes.fraction`` of n, or the system's default (loops: n // 3; proteins: 3 x residues)."""
    settings = method.modes
    if settings.k is not None:
        k = settings.k
    elif settings.fraction is not None:
        k = max(1, round(settings.fraction * system.n))
    else:
        k = system.default_mode_count
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


def cache_path(cfg: NrepConfig, system: System) -> Path:
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


def compute_slow_modes(cfg: NrepConfig, energy: Energy, system: System) -> slow.SlowModes:
    """The method's slow modes, from the cache when allowed and present (float64, CPU)."""
    settings = cfg.method.modes
    source = hessian_source(settings.hessian, energy)
    path = cache_path(cfg, system) if settings.cache else None
    if path is not None and path.exists():
        try:
            modes = slow.load_modes(path)
        except Exception as error:  # noqa: BLE001 - numpy raises many kinds (BadZipFile, KeyError, ValueError, ...) on a damaged file
            log.warning("ignoring the unreadable cached slow modes %s (%s: %s); computing them again",
                        path, type(error).__name__, error)
        else:
            if modes.psi.shape[0] == system.n:  # (n, k)
                log.info("slow modes from the cache %s (computed in %.2f s)", path, modes.compute_time_s)
                modes.hessian = source  # the cache key holds the setting, and it resolves the same way
                return modes
            log.warning("ignoring the cached slow modes %s (they are for %d particles, not %d); computing them again",
                        path, modes.psi.shape[0], system.n)
    terms = source == "terms"
    modes = slow.slow_modes(
        hessian_samples(cfg, system.x0),
        energy.pair_interactions() if terms else [],
        k=mode_count(cfg.method, system),
        norm=settings.backbone,
        solver=settings.solver,
        dense_max_n=settings.dense_max_n,
        seed=derive_seed(cfg.seed, "eigensolver"),
        local=energy.local_interactions() if terms else (),
        other=energy.autograd_hessian_part() if terms and hasattr(energy, "autograd_hessian_part") else None,
        differences=None if terms else energy,
    )
    modes.hessian = source
    log.info("%d slow modes (%s solver, Hessian from %s) in %.2f s", modes.k, modes.solver, source, modes.compute_time_s)
    if path is not None:
        slow.save_modes(path, modes)
    return modes


def has_terms(energy: Energy) -> bool:
    """Whether the energy offers analytic Hessian terms (pair and local interactions)."""
    return getattr(energy, "has_terms", hasattr(energy, "pair_interactions"))


def hessian_source(wanted: str, energy: Energy) -> str:
    """``method.modes.hessian`` resolved: terms or differences (auto: terms when the energy has them)."""
    if wanted == "auto":
        return "terms" if has_terms(energy) else "differences"
    if wanted == "terms" and not has_terms(energy):
        raise NrepError("method.modes.hessian=terms needs an energy with analytic terms (nrep's amber14 has them, "
                        "other force fields do not); use method.modes.hessian=differences")
    return wanted


def slow_mode_columns(modes: slow.SlowModes) -> dict[str, object]:
    """The summary columns that describe a run's slow modes."""
    return {
        "modes_k": modes.k,
        "modes_solver": modes.solver,
        "modes_hessian": modes.hessian,
        "modes_cache_hit": modes.cache_hit,
        "modes_eigenvalue_max": float(modes.eigenvalues[-1]),
    }

