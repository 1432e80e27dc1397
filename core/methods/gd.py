"""``gd``: descent on the coordinates themselves, with the ``optim`` optimiser (the baseline of the paper)."""

from __future__ import annotations

from nrep.configs.schema import NrepConfig
from nrep.core.methods.plans import MethodPlan, coordinate_stage
from nrep.core.runtime import Runtime


def plan(cfg: NrepConfig, system, energy, runtime: Runtime) -> MethodPlan:  # noqa: ANN001
    return MethodPlan([coordinate_stage(cfg)], optimiser=cfg.optim.name)
