"""What a method hands to a run: its plan (stages, slow modes, set-up times, summary columns), and the
stages every method shares: descent on the coordinates, and stage 1 of a reparametrisation.

Stage 1 uses the ``optim`` optimiser with the method's own learning rate and stopping;
stage 2 starts a fresh optimiser from stage 1's X. A method whose loop is not nrep's (the
OpenMM baselines) gives a ``runner`` instead of stages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Sequence

from nrep.configs.schema import NrepConfig, ReparamMethodConfig, StopConfig, stage1_optim
from nrep.core.engine.callbacks import EarlyStopping, ForceTolerance
from nrep.core.engine.stages import Callback, Stage, StageResult
from nrep.core.optim.by_name import optimizer_factory
from nrep.core.reparam.coordinates import Coordinates

if TYPE_CHECKING:
    from nrep.core.modes.slow_modes import SlowModes

# A method's own loop: (the run's callbacks) -> (its stage results, extra trace rows).
Runner = Callable[[Sequence[Callback]], "tuple[list[StageResult], list[dict]]"]


@dataclass
class MethodPlan:
    """What a method needs to run: its stages (or its own runner), its slow modes (if any), and set-up times."""

    stages: list[Stage]
    modes: SlowModes | None = None
    times: dict[str, float] = field(default_factory=dict)
    info: dict[str, object] = field(default_factory=dict)  # summary columns (modes_k, ...)
    runner: Runner | None = None  # None: the stages run through nrep's engine
    trace_every: int | None = None  # None: output.trace_every
    optimiser: str | None = None  # the optimiser the summary names; None: the method's own (OpenMM)

    @property
    def setup_s(self) -> float:
        """Wall time the method spent before its first step (slow modes, network initialisation)."""
        return sum(self.times.values())


def force_tolerance(stop: StopConfig) -> list[ForceTolerance]:
    """``stop.fmax`` / ``stop.frms`` as a callback, or none when both are off."""
    if stop.fmax is None and stop.frms is None:
        return []
    return [ForceTolerance(stop.check_every, stop.fmax, stop.frms)]


def stopping(stop: StopConfig) -> list[Callback]:
    """A stage's stopping rules: the authors' early stopping and the force tolerances."""
    return [EarlyStopping(stop.check_every, stop.patience, stop.min_delta), *force_tolerance(stop)]


def coordinate_stage(cfg: NrepConfig) -> Stage:
    """Descent on X itself with ``optim`` and ``stop``: GD, and stage 2 of CG and GNN."""
    return Stage(
        name="coords",
        model_from=Coordinates,
        make_optimizer=optimizer_factory(cfg.optim),
        max_steps=cfg.stop.max_steps,
        clamp_grad=getattr(cfg.optim, "clamp_grad", None),
        callbacks=stopping(cfg.stop),
    )


def reparam_stage(cfg: NrepConfig, method: ReparamMethodConfig, model_from: Callable, name: str = "reparam") -> Stage:
    """Stage 1 (or a later round of it): ``method.optim`` with ``method.lr``, stopped by ``method.stop``."""
    optim = stage1_optim(cfg)
    return Stage(
        name=name,
        model_from=model_from,
        make_optimizer=optimizer_factory(optim, lr=method.lr),
        max_steps=method.stop.max_steps,
        clamp_grad=getattr(optim, "clamp_grad", None),
        callbacks=stopping(method.stop),
    )
