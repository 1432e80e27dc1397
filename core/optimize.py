"""The minimisation loop: one or more stages, each optimising a parametrisation of X.

A stage owns a model whose ``forward()`` returns the coordinates X (n, 3): the
coordinates themselves for GD and for stage 2, X = f(theta, Z) for a reparametrisation
in stage 1. Each stage starts a fresh optimiser from the X handed over by the previous
one. Stopping, tracing, progress and everything else that watches the run are
:class:`Callback` objects; this module only does the maths of a step.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from torch import nn

ModelFactory = Callable[[torch.Tensor], nn.Module]
OptimizerFactory = Callable[[list[nn.Parameter]], torch.optim.Optimizer]

# Stop reasons that end the whole run rather than handing over to the next stage.
RUN_ENDING_REASONS = frozenset({"diverged", "interrupted"})


@dataclass
class Stage:
    """One stage of a run.

    model_from: builds the stage's model from the coordinates handed over to it (the
        start X0 for the first stage); its ``forward()`` returns X.
    make_optimizer: builds a fresh optimiser over the model's parameters.
    max_steps: the most optimiser steps this stage takes.
    clamp_grad: clamp every gradient entry to +-clamp_grad before a step (None: off).
    callbacks: callbacks of this stage only (its early stopping, say).
    """

    name: str
    model_from: ModelFactory
    make_optimizer: OptimizerFactory
    max_steps: int
    clamp_grad: float | None = None
    callbacks: list["Callback"] = field(default_factory=list)


@dataclass
class StepState:
    """What callbacks see at one step: the energy at X before this step's update."""

    stage: str
    step: int  # counted over all stages
    stage_step: int
    energy: torch.Tensor  # detached scalar
    x: torch.Tensor  # detached, the X at which ``energy`` was evaluated
    elapsed_s: float  # since the minimisation started

    @functools.cached_property
    def energy_value(self) -> float:
        return float(self.energy)


@dataclass
class StageResult:
    name: str
    steps: int
    stop_reason: str
    time_s: float
    x: torch.Tensor  # final coordinates, detached
    energy: float  # energy at ``x``
    energy_start: float  # energy at the stage's first X (nan if it took no step)


class Callback:
    """Hooks into the loop; every method is optional.

    ``on_step`` may return a stop reason (e.g. "converged"), which ends the stage; the
    reasons in RUN_ENDING_REASONS end the run.
    """

    def on_stage_start(self, stage: Stage, step: int) -> None:
        pass

    def before_step(self, stage: Stage, step: int) -> None:
        pass

    def on_step(self, state: StepState) -> str | None:
        return None

    def on_stage_end(self, result: StageResult, step: int, elapsed_s: float) -> None:
        pass


def clamp_gradients_(parameters: Sequence[nn.Parameter], bound: float) -> None:
    """Clamp every gradient entry to [-bound, bound] in place (the authors' clamp_grads)."""
    for p in parameters:
        if p.grad is not None:
            p.grad.clamp_(-bound, bound)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def minimise(
    energy: Callable[[torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    stages: Sequence[Stage],
    callbacks: Sequence[Callback] = (),
) -> list[StageResult]:
    """Run the stages in order, handing the final X of each to the next.

    Returns one result per stage that ran; a run-ending stop reason skips the rest.
    """
    results: list[StageResult] = []
    x = x0.detach()
    step = 0
    started = time.perf_counter()
    for stage in stages:
        watchers = [*callbacks, *stage.callbacks]
        model = stage.model_from(x)
        parameters = [p for p in model.parameters() if p.requires_grad]
        optimizer = stage.make_optimizer(parameters)
        for cb in watchers:
            cb.on_stage_start(stage, step)
        stage_started = time.perf_counter()
        stop_reason, stage_step, energy_start = "max_steps", 0, math.nan
        while stage_step < stage.max_steps:
            for cb in watchers:
                cb.before_step(stage, step)
            optimizer.zero_grad(set_to_none=True)
            x_now = model()
            e = energy(x_now)
            e.backward()
            state = StepState(stage.name, step, stage_step, e.detach(), x_now.detach(), time.perf_counter() - started)
            if stage_step == 0:
                energy_start = state.energy_value
            reasons = [cb.on_step(state) for cb in watchers]
            reason = next((r for r in reasons if r is not None), None)
            if reason is not None:
                stop_reason = reason
                break
            if stage.clamp_grad is not None:
                clamp_gradients_(parameters, stage.clamp_grad)
            optimizer.step()
            stage_step += 1
            step += 1
        with torch.no_grad():
            x = model().detach()
            final_energy = float(energy(x))
        _synchronize(x.device)
        result = StageResult(
            stage.name, stage_step, stop_reason, time.perf_counter() - stage_started, x, final_energy, energy_start
        )
        results.append(result)
        for cb in watchers:
            cb.on_stage_end(result, step, time.perf_counter() - started)
        if stop_reason in RUN_ENDING_REASONS:
            break
    return results
