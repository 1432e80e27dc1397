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

from nrep.core.lbfgs import ScipyLBFGS

ModelFactory = Callable[[torch.Tensor], nn.Module]
OptimizerFactory = Callable[[list[nn.Parameter]], torch.optim.Optimizer]

# Stop reasons that end the whole run rather than handing over to the next stage.
RUN_ENDING_REASONS = frozenset({"diverged", "interrupted", "time_budget"})


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
    evaluations: int  # energy + gradient evaluations (line searches take several per step)


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


def _reuse_first(first: torch.Tensor, evaluate: Callable[[], torch.Tensor]) -> Callable[[], torch.Tensor]:
    """A closure for ``optimizer.step``: its first call returns the energy already evaluated
    (whose gradients are in place), later calls (line searches) evaluate again."""
    calls = 0

    def closure() -> torch.Tensor:
        nonlocal calls
        calls += 1
        return first if calls == 1 else evaluate()

    return closure


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _StageRun:
    """One stage in progress: the model, its optimiser and the counters callbacks see."""

    def __init__(self, stage: Stage, energy: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                 watchers: Sequence[Callback], step: int, started: float) -> None:
        self.stage, self.energy, self.watchers, self.started = stage, energy, watchers, started
        self.model = stage.model_from(x)
        self.parameters = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = stage.make_optimizer(self.parameters)
        self.step, self.stage_step, self.evaluations = step, 0, 0
        self.energy_start = math.nan

    def evaluate(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Energy at the model's X, with the gradients of the parameters filled in."""
        for p in self.parameters:
            p.grad = None
        x_now = self.model()
        e = self.energy(x_now)
        e.backward()
        self.evaluations += 1
        return e, x_now

    def watch(self, e: torch.Tensor, x_now: torch.Tensor) -> str | None:
        """Show the state to the callbacks; count the step that follows unless one stops."""
        state = StepState(self.stage.name, self.step, self.stage_step, e, x_now, time.perf_counter() - self.started)
        if self.stage_step == 0:
            self.energy_start = state.energy_value
        reasons = [cb.on_step(state) for cb in self.watchers]
        reason = next((r for r in reasons if r is not None), None)
        if reason is None:
            self.stage_step += 1
            self.step += 1
        return reason

    def run(self) -> str:
        """Step until a callback stops the stage or max_steps; returns the stop reason."""
        if isinstance(self.optimizer, ScipyLBFGS):
            reason = self.optimizer.run(self.evaluate, self.watch, self.stage.max_steps, self.model)
            self.evaluations = self.optimizer.evaluations
            return reason
        while self.stage_step < self.stage.max_steps:
            for cb in self.watchers:
                cb.before_step(self.stage, self.step)
            e, x_now = self.evaluate()
            reason = self.watch(e.detach(), x_now.detach())
            if reason is not None:
                return reason
            if self.stage.clamp_grad is not None:
                clamp_gradients_(self.parameters, self.stage.clamp_grad)
            self.optimizer.step(_reuse_first(e, lambda: self.evaluate()[0]))
        return "max_steps"


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
        run = _StageRun(stage, energy, x, watchers, step, started)
        for cb in watchers:
            cb.on_stage_start(stage, step)
        stage_started = time.perf_counter()
        stop_reason = run.run()
        step = run.step
        with torch.no_grad():
            x = run.model().detach()
            final_energy = float(energy(x))
        _synchronize(x.device)
        result = StageResult(
            stage.name, run.stage_step, stop_reason, time.perf_counter() - stage_started, x, final_energy,
            run.energy_start, run.evaluations,
        )
        results.append(result)
        for cb in watchers:
            cb.on_stage_end(result, step, time.perf_counter() - started)
        if stop_reason in RUN_ENDING_REASONS:
            break
    return results
