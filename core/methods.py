"""Methods as lists of stages: GD is one stage on the coordinates.

The reparametrised methods (CG, GNN) put a stage on their own parameters in front of
the coordinate stage; they plug in here.
"""

from __future__ import annotations

from nrep.configs.schema import NrepConfig, StopConfig
from nrep.core.callbacks import EarlyStopping
from nrep.core.optimize import Stage
from nrep.core.optimizers import optimizer_factory
from nrep.core.reparam.coordinates import Coordinates


def early_stopping(stop: StopConfig) -> EarlyStopping:
    return EarlyStopping(stop.check_every, stop.patience, stop.min_delta)


def coordinate_stage(cfg: NrepConfig) -> Stage:
    """Descent on X itself with ``optim`` and ``stop``: GD, and stage 2 of CG and GNN."""
    return Stage(
        name="coords",
        model_from=Coordinates,
        make_optimizer=optimizer_factory(cfg.optim),
        max_steps=cfg.stop.max_steps,
        clamp_grad=cfg.optim.clamp_grad,
        callbacks=[early_stopping(cfg.stop)],
    )


def build_stages(cfg: NrepConfig) -> list[Stage]:
    if cfg.method.name == "gd":
        return [coordinate_stage(cfg)]
    raise NotImplementedError(f"method={cfg.method.name} is not available yet")
