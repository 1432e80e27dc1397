"""``gd``: descent on the coordinates themselves, with the ``optim`` optimiser (the baseline of the paper)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nrep.configs.schema import NrepConfig
from nrep.core.methods.plans import MethodPlan, coordinate_stage
from nrep.core.runtime import Runtime

if TYPE_CHECKING:
    from nrep.core.energy.registry import Energy
    from nrep.core.systems.base import System


def plan(cfg: NrepConfig, system: System, energy: Energy, runtime: Runtime) -> MethodPlan:
    return MethodPlan([coordinate_stage(cfg)], optimiser=cfg.optim.name)
