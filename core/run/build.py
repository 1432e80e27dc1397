"""From typed config objects to the system of a run (its energy: :mod:`nrep.core.energy.registry`)."""

from __future__ import annotations

from dataclasses import asdict

from nrep.configs.schema import (
    CachedStartConfig,
    CloudInitConfig,
    LoopSystemConfig,
    NrepConfig,
    ProteinSystemConfig,
)
from nrep.core.runtime import derive_seed
from nrep.core.systems.loop import LoopSystem, cloud_std, gaussian_cloud, make_loop
from nrep.core.systems.protein import ProteinSystem, load_protein


def build_system(cfg: NrepConfig) -> LoopSystem | ProteinSystem:
    """The system with its start X0 (float64, CPU); random starts are drawn from the run's seed."""
    if isinstance(cfg.system, LoopSystemConfig) and isinstance(cfg.init, CloudInitConfig):
        n = cfg.system.n
        std = cfg.init.std if cfg.init.std is not None else cloud_std(n)
        x0 = gaussian_cloud(n, std, seed=derive_seed(cfg.seed, "start"))
        return make_loop(n, cfg.system.loop_spacing, x0)
    if isinstance(cfg.system, ProteinSystemConfig):
        init = cfg.init
        options = {k: v for k, v in asdict(init).items() if k not in ("name", "cache", "cache_dir")}
        if "peptide_bond_A" in options:
            options["peptide_bond"] = options.pop("peptide_bond_A")
        cached = isinstance(init, CachedStartConfig)
        return load_protein(
            cfg.system.pdb,
            start=init.name,
            start_options=options,
            start_cache_dir=init.cache_dir if cached else None,
            cache_start=cached and init.cache,
            seed=derive_seed(cfg.seed, "start"),
            **structure_settings(cfg.system),
        )
    raise NotImplementedError(f"no builder for system={cfg.system.name} with init={cfg.init.name}")


def structure_settings(system: ProteinSystemConfig) -> dict:
    """Where to find a protein and how to prepare it, as :func:`locate_and_prepare` takes them."""
    return {
        "chain": system.chain,
        "local_dir": system.local_dir,
        "cache_dir": system.cache_dir,
        "base_url": system.base_url,
        "timeout_s": system.download_timeout_s,
        "ph": system.ph,
        "replace_nonstandard": system.replace_nonstandard,
        "max_atoms": system.max_atoms,
        "model": system.model,
        "gaps": system.gaps,
    }
