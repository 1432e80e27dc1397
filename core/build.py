"""From typed config objects to the core objects of a run: the system and its energy."""

from __future__ import annotations

from dataclasses import asdict

from nrep.configs.schema import CloudInitConfig, LoopEnergyConfig, LoopSystemConfig, NrepConfig
from nrep.core.energy.loop import LoopEnergy, build_loop_energy
from nrep.core.runtime import derive_seed
from nrep.core.systems.loop import LoopSystem, cloud_std, gaussian_cloud, make_loop


def build_system(cfg: NrepConfig) -> LoopSystem:
    """The system with its start X0 (float64, CPU), drawn from the run's seed."""
    if isinstance(cfg.system, LoopSystemConfig) and isinstance(cfg.init, CloudInitConfig):
        n = cfg.system.n
        std = cfg.init.std if cfg.init.std is not None else cloud_std(n)
        x0 = gaussian_cloud(n, std, seed=derive_seed(cfg.seed, "start"))
        return make_loop(n, cfg.system.loop_spacing, x0)
    raise NotImplementedError(f"no builder for system={cfg.system.name} with init={cfg.init.name}")


def build_energy(cfg: NrepConfig, system: LoopSystem) -> LoopEnergy:
    if isinstance(cfg.energy, LoopEnergyConfig):
        e = cfg.energy
        repulsion = None
        if e.repulsion.enabled:
            repulsion = {k: v for k, v in asdict(e.repulsion).items() if k not in ("enabled", "resample_every")}
        return build_loop_energy(
            system,
            e.name,
            normalisation=e.normalisation,
            bond_length=e.bond_length,
            loop_strength=e.loop_strength,
            lj_softening=e.lj_softening,
            lj_core_radius=e.lj_core_radius,
            repulsion=repulsion,
            seed=derive_seed(cfg.seed, "repulsion"),
        )
    raise NotImplementedError(f"no builder for energy={cfg.energy.name}")
