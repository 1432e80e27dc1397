"""``cg``: stage 1 on Z in X = Ψ Z (or X0 + Ψ Z), Ψ the k slowest modes, then the coordinates (paper eq. 3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nrep.configs.schema import CGMethodConfig, NrepConfig
from nrep.core.methods.mode_setup import compute_slow_modes, slow_mode_columns
from nrep.core.methods.plans import MethodPlan, coordinate_stage, reparam_stage
from nrep.core.reparam.linear import LinearModes
from nrep.core.runtime import Runtime

if TYPE_CHECKING:
    from nrep.core.energy.registry import Energy
    from nrep.core.systems.base import System


def plan(cfg: NrepConfig, system: System, energy: Energy, runtime: Runtime) -> MethodPlan:
    method: CGMethodConfig = cfg.method
    modes = compute_slow_modes(cfg, energy, system)
    psi, anchored = modes.psi, method.start == "anchored"
    stages = [reparam_stage(cfg, method, lambda x: LinearModes(psi, x, anchored)), coordinate_stage(cfg)]
    return MethodPlan(stages, modes, {"modes": modes.compute_time_s}, slow_mode_columns(modes), optimiser=cfg.optim.name)

