"""``cg``: stage 1 on Z in X = Ψ Z (or X0 + Ψ Z), Ψ the k slowest modes, then the coordinates (paper eq. 3).

With ``method.rounds`` R > 1 (adaptive CG), stage 1 runs R times: round r computes the
slow modes again at the structure X_r that round r - 1 reached and descends X_r + Ψ_r Z.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import torch

from nrep.configs.schema import CGMethodConfig, NrepConfig
from nrep.core.methods.mode_setup import compute_slow_modes, slow_mode_columns
from nrep.core.methods.plans import MethodPlan, coordinate_stage, reparam_stage
from nrep.core.reparam.linear import LinearModes
from nrep.core.runtime import Runtime

if TYPE_CHECKING:
    from typing import Callable

    from nrep.core.energy.registry import Energy
    from nrep.core.modes.slow_modes import SlowModes
    from nrep.core.systems.base import System


def plan(cfg: NrepConfig, system: System, energy: Energy, runtime: Runtime) -> MethodPlan:
    method: CGMethodConfig = cfg.method
    modes = compute_slow_modes(cfg, energy, system)
    psi, anchored = modes.psi, method.start == "anchored"
    found = MethodPlan([], modes, {"modes": modes.compute_time_s}, slow_mode_columns(modes), optimiser=cfg.optim.name)
    later_rounds_s: dict[str, float] = {}  # per round, so a resumed round's recomputation is not counted twice

    def round_at(name: str) -> Callable[[torch.Tensor], LinearModes]:
        def model_from(x: torch.Tensor) -> LinearModes:
            moved = modes_at(cfg, energy, system, x)
            later_rounds_s[name] = moved.compute_time_s
            found.times["modes"] = modes.compute_time_s + sum(later_rounds_s.values())
            return LinearModes(moved.psi, x, anchored=True)
        return model_from

    found.stages = [reparam_stage(cfg, method, lambda x: LinearModes(psi, x, anchored))]
    found.stages += [reparam_stage(cfg, method, round_at(f"reparam_{r}"), name=f"reparam_{r}")
                     for r in range(2, method.rounds + 1)]
    found.stages.append(coordinate_stage(cfg))
    if method.rounds > 1:
        found.info["modes_rounds"] = method.rounds
    return found


def modes_at(cfg: NrepConfig, energy: Energy, system: System, x: torch.Tensor) -> SlowModes:
    """The slow modes as :func:`compute_slow_modes` computes them for the same system started at ``x``."""
    return compute_slow_modes(cfg, energy, dataclasses.replace(system, x0=x.detach().to("cpu", torch.float64)))

