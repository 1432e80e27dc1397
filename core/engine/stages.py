"""The minimisation loop: one or more stages, each optimising a parametrisation of X.

A stage owns a model whose ``forward()`` returns the coordinates X (n, 3): the
coordinates themselves for GD and for stage 2, X = f(theta, Z) for a reparametrisation
in stage 1. Each stage starts a fresh optimiser from the X handed over by the previous
one. Stopping, tracing, progress and everything else that watches the run are
:class:`Callback` objects; this module only does the maths of a step, and two things a
step needs to be safe:

- faults: a step whose energy or gradient is NaN or infinite (or explodes) is rolled
  back to the last good state and retried with a smaller step (:class:`FaultPolicy`);
- interrupts: ``interrupt()`` is asked before every step; when it says so, the stage
  ends with "interrupted" and its result carries a checkpoint (model, optimiser,
  counters, callback states) from which :func:`minimise` resumes the very same run.

Host reads: on a GPU every number read into Python waits for the device. So the loop
reads the energy and the forces at *host steps* only, in one transfer: every k-th step of
a stage, k the greatest common divisor of the callbacks' ``reads_every`` (early stopping
and the trace: ``stop.check_every`` and ``output.trace_every``, 20 by default). Faults
are detected there too, and a failed step is rolled back to the last host step.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from torch import nn

from nrep.core.engine.faults import FaultBudget, FaultPolicy, LastGood, shrink_step_
from nrep.core.engine.forces import force_stats, force_tensors, value_and_gradient
from nrep.core.optim.capabilities import LoopOwner

log = logging.getLogger("nrep")

ModelFactory = Callable[[torch.Tensor], nn.Module]
OptimizerFactory = Callable[[list[nn.Parameter]], torch.optim.Optimizer]

# What _StageRun.run returns when a periodic checkpoint is due (never a stage's stop reason).
CHECKPOINT_DUE = "checkpoint_due"
# Stop reasons that end the whole run rather than handing over to the next stage.
RUN_ENDING_REASONS = frozenset({"diverged", "interrupted", "time_budget", "max_total_steps"})


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
    gradient: torch.Tensor | None = None  # dE/dX at x (detached), when the method has it
    host: bool = True  # a host step: energy_value and forces are already read (elsewhere each is a device sync)

    @functools.cached_property
    def energy_value(self) -> float:
        return float(self.energy)

    @functools.cached_property
    def forces(self) -> tuple[float, float]:
        """(RMS force, max force on one atom) at x (NaN without a gradient); a host read, so only when asked."""
        return force_stats(self.gradient)

    def fill(self, energy: float, forces: tuple[float, float]) -> None:
        """Set the values read at a host step, so that callbacks reading them cost nothing."""
        self.__dict__["energy_value"], self.__dict__["forces"] = energy, forces


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
    rollbacks: int = 0  # failed steps rolled back and retried with a smaller step
    checkpoint: dict | None = None  # set when the stage was interrupted: what resume needs
    gradient_start: torch.Tensor | None = None  # dE/dX at the stage's first X
    gradient: torch.Tensor | None = None  # dE/dX at ``x``

    @functools.cached_property
    def forces_start(self) -> tuple[float, float]:
        """(RMS, max) force at the stage's first X (read once)."""
        return force_stats(self.gradient_start)

    @functools.cached_property
    def forces(self) -> tuple[float, float]:
        """(RMS, max) force at the final X (read once)."""
        return force_stats(self.gradient)


class Callback:
    """Hooks into the loop; every method is optional.

    ``on_step`` may return a stop reason (e.g. "converged"), which ends the stage; the
    reasons in RUN_ENDING_REASONS end the run. ``stateful = False``: what it holds is not
    part of the run (a progress bar, a notebook's watcher), so a checkpoint neither keeps it
    nor needs it back, and a run resumes whether or not it is there.
    """

    stateful = True
    # how often on_step reads host values (state.energy_value, state.forces): every k-th
    # stage step; None: never (it keeps its values on the device or reads none). The
    # default, 1, suits a callback that reads at every step.
    reads_every: int | None = 1

    def on_stage_start(self, stage: Stage, step: int) -> None:
        pass

    def before_step(self, stage: Stage, step: int) -> None:
        pass

    def on_step(self, state: StepState) -> str | None:
        return None

    def on_stage_end(self, result: StageResult, step: int, elapsed_s: float) -> None:
        pass

    def state_dict(self) -> dict:
        """What a resumed run needs to continue exactly as this one would (tensors, plain values)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def stateful(callbacks: Sequence[Callback]) -> list[Callback]:
    """The callbacks whose state a checkpoint keeps (in order)."""
    return [cb for cb in callbacks if cb.stateful]


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
                 watchers: Sequence[Callback], step: int, started: float, faults: "FaultBudget",
                 interrupt: Callable[[], bool] | None, checkpoints: Checkpoints | None = None) -> None:
        self.stage, self.energy, self.watchers, self.started = stage, energy, watchers, started
        self.faults, self.interrupt, self.checkpoints = faults, interrupt, checkpoints
        self.model = stage.model_from(x)
        self.parameters = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = stage.make_optimizer(self.parameters)
        self.last_good = LastGood(self.parameters, self.optimizer)
        self.step, self.stage_step, self.evaluations = step, 0, 0
        self.energy_start = math.nan
        self.gradient_start: torch.Tensor | None = None
        self.rollbacks = 0
        self.checkpointed = -1  # the step of the last periodic checkpoint
        self.host_every = host_interval(watchers)
        self.good_counters = (step, 0)  # (step, stage_step) right after the last good state was watched

    def state_dict(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict() if isinstance(self.optimizer, torch.optim.Optimizer) else {},
            "step": self.step,
            "stage_step": self.stage_step,
            "evaluations": self.evaluations,
            "energy_start": self.energy_start,
            "gradient_start": self.gradient_start,
            "rollbacks": self.rollbacks,
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        for key in ("step", "stage_step", "evaluations", "energy_start", "rollbacks"):
            setattr(self, key, state[key])
        self.gradient_start = state.get("gradient_start")  # absent from checkpoints written before forces

    def evaluate(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Energy at the model's X, with the gradients of the parameters filled in."""
        for p in self.parameters:
            p.grad = None
        x_now = self.model()
        if x_now.requires_grad and not x_now.is_leaf:
            x_now.retain_grad()  # dE/dX, the forces, also when X = f(Z)
        e = self.energy(x_now)
        e.backward()
        self.evaluations += 1
        return e, x_now

    def watch(self, e: torch.Tensor, x_now: torch.Tensor, gradient: torch.Tensor | None = None,
              read: tuple[float, tuple[float, float]] | None = None) -> str | None:
        """Show the state to the callbacks; count the step that follows unless one stops.

        ``read``: the (energy, forces) read at a host step; None at other steps of the
        stage loop (``host`` is then False). Loops of their own (L-BFGS) run on the host."""
        state = StepState(self.stage.name, self.step, self.stage_step, e, x_now, time.perf_counter() - self.started,
                          gradient, host=read is not None or isinstance(self.optimizer, LoopOwner))
        if read is not None:
            state.fill(*read)
        if self.stage_step == 0:
            self.energy_start = state.energy_value
            self.gradient_start = gradient.clone() if gradient is not None else None
        reasons = [cb.on_step(state) for cb in self.watchers]
        reason = next((r for r in reasons if r is not None), None)
        if reason is None:
            self.stage_step += 1
            self.step += 1
        return reason

    def read_host(self, e: torch.Tensor, gradient: torch.Tensor | None) -> tuple[float, float, tuple[float, float]]:
        """The energy, the parameters' gradient total and the forces, in one transfer from the device.

        The gradient total is NaN or infinite when any entry is (one reduction per tensor)."""
        grads = [p.grad.sum() for p in self.parameters if p.grad is not None]
        parts = [e.detach().reshape(()), sum(grads) if grads else e.new_zeros(())]
        if gradient is not None:
            parts += force_tensors(gradient)
        values = torch.stack([v.to(torch.float64) for v in parts]).cpu().tolist()
        forces = (values[2], values[3]) if gradient is not None else (math.nan, math.nan)
        return values[0], values[1], forces

    def fault(self, energy: float, gradient_total: float = 0.0) -> str | None:
        """Why the state just evaluated is not good (non-finite energy or gradient, explosion), or None."""
        if not math.isfinite(energy):
            return f"energy {energy}"
        if not math.isfinite(gradient_total):
            return "a non-finite gradient"
        factor, good = self.faults.policy.explosion_factor, self.last_good
        if factor is not None and good.taken and energy > good.energy + factor * max(abs(good.energy), 1.0):
            return f"an explosion from {good.energy:.6g} to {energy:.6g}"
        return None

    def recover(self, why: str) -> bool:
        """Roll back to the last good state with a smaller step; False when that is not possible."""
        policy = self.faults.policy
        if not self.last_good.taken or self.faults.used >= policy.retries:
            log.warning("step %d (stage %s): %s; %s", self.step, self.stage.name, why,
                        "no retries left" if self.last_good.taken else "at the stage's first state")
            return False
        self.faults.used += 1
        self.rollbacks += 1
        self.last_good.restore()
        self.step, self.stage_step = self.good_counters  # the steps since the last host step are taken again
        # the restored step already carries the shrinks made before it was taken
        shrink_step_(self.optimizer, policy.step_factor ** (self.rollbacks - self.last_good.rollbacks))
        log.warning("step %d (stage %s): %s; rolled back and retrying with the step x %.3g (retry %d of %d)",
                    self.step, self.stage.name, why, policy.step_factor ** self.rollbacks, self.faults.used, policy.retries)
        return True

    def run(self) -> str:
        """Step until a callback stops the stage, max_steps, an interrupt or an unrecoverable fault."""
        if isinstance(self.optimizer, LoopOwner):
            def watch(e: torch.Tensor, x_now: torch.Tensor, gradient: torch.Tensor | None = None) -> str | None:
                if self.interrupt is not None and self.interrupt():
                    return "interrupted"
                return self.watch(e, x_now, gradient)

            reason = self.optimizer.run(self.evaluate, watch, self.stage.max_steps, self.model)
            self.evaluations = self.optimizer.evaluations
            return reason
        retrying = False
        while self.stage_step < self.stage.max_steps:
            # between steps only: a checkpoint then holds a state the callbacks have not seen yet
            if not retrying and self.interrupt is not None and self.interrupt():
                return "interrupted"
            if not retrying and self.checkpoints is not None and self.step != self.checkpointed and self.checkpoints.due():
                self.checkpointed = self.step  # at most one save per step, however short the interval
                return CHECKPOINT_DUE  # minimise saves the state and calls run() again
            if not retrying:
                for cb in self.watchers:
                    cb.before_step(self.stage, self.step)
            e, x_now = self.evaluate()
            gradient = _gradient_of(x_now)
            read = None
            if self.stage_step % self.host_every == 0:  # a host step: one transfer, the fault check, the last good state
                value, gradient_total, forces = self.read_host(e, gradient)
                why = self.fault(value, gradient_total)
                if why is not None:
                    if not self.recover(why):
                        if self.last_good.taken:
                            self.last_good.restore()  # end at the last good state, not the failed one
                        return "diverged"
                    retrying = True
                    continue  # the callbacks have seen the restored state already
                read = (value, forces)
            if not retrying:
                reason = self.watch(e.detach(), x_now.detach(), gradient, read)
                if reason is not None:
                    return reason
                if read is not None:
                    self.last_good.take(read[0], self.rollbacks)
                    self.good_counters = (self.step, self.stage_step)  # as after the good step, which watch counted
            retrying = False
            if self.stage.clamp_grad is not None:
                clamp_gradients_(self.parameters, self.stage.clamp_grad)
            self.optimizer.step(_reuse_first(e, lambda: self.evaluate()[0]))
        return "max_steps"


def host_interval(callbacks: Sequence[Callback]) -> int:
    """Every how many stage steps the loop reads host values: the gcd of the callbacks'
    ``reads_every`` (1 when none says, as for a bare :func:`minimise` without callbacks)."""
    intervals = [k for k in (getattr(cb, "reads_every", 1) for cb in callbacks) if k is not None]
    return math.gcd(*intervals) if intervals else 1


def _gradient_of(x_now: torch.Tensor) -> torch.Tensor | None:
    """dE/dX after a backward pass through X (the parameter itself for GD)."""
    return x_now.grad.detach() if x_now.grad is not None else None


class Checkpoints:
    """Periodic checkpoints: ``save(checkpoint)`` every ``every_s`` seconds of a stage, between steps.

    The checkpoint is the one an interrupt leaves, so a run killed after a save (``kill -9``,
    a lost node) resumes from it exactly as from an interrupt. Optimisers that own their
    loop (L-BFGS) are not checkpointed.
    """

    def __init__(self, every_s: float, save: Callable[[dict], None]) -> None:
        self.every_s, self.save = every_s, save
        self.last = time.monotonic()
        self.saved = 0
        self.time_s = 0.0  # spent saving

    def due(self) -> bool:
        return time.monotonic() - self.last >= self.every_s

    def write(self, checkpoint: dict) -> None:
        started = time.perf_counter()
        self.save(checkpoint)
        self.time_s += time.perf_counter() - started
        self.saved += 1
        self.last = time.monotonic()


def _result_record(result: StageResult) -> dict:
    return {f.name: getattr(result, f.name) for f in dataclasses.fields(result) if f.name != "checkpoint"}


def minimise(
    energy: Callable[[torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    stages: Sequence[Stage],
    callbacks: Sequence[Callback] = (),
    faults: FaultPolicy | None = None,
    interrupt: Callable[[], bool] | None = None,
    resume: dict | None = None,
    checkpoints: Checkpoints | None = None,
) -> list[StageResult]:
    """Run the stages in order, handing the final X of each to the next.

    Returns one result per stage that ran; a run-ending stop reason skips the rest.
    ``faults``: rollback and retry of failed steps (default: FaultPolicy()).
    ``interrupt()``: asked before each step; True ends the run with "interrupted", and
    that stage's result carries ``checkpoint``. ``resume``: such a checkpoint; the same
    stages and callbacks (built from the same config) then continue the run exactly where
    it stopped. ``checkpoints``: also save that checkpoint periodically while the run goes on.
    """
    fault_state = FaultBudget(faults or FaultPolicy())
    results: list[StageResult] = []
    x = x0.detach()
    step, first, elapsed = 0, 0, 0.0
    if resume is not None:
        results = [StageResult(**record) for record in resume["completed"]]
        first, elapsed = resume["stage_index"], resume["elapsed_s"]
        fault_state.used = resume["faults_used"]
        if results:
            x = results[-1].x
    started = time.perf_counter() - elapsed
    for index, stage in enumerate(stages):
        if index < first:
            continue
        watchers = [*callbacks, *stage.callbacks]
        run = _StageRun(stage, energy, x, watchers, step, started, fault_state, interrupt, checkpoints)
        stage_started = time.perf_counter()
        resuming = resume is not None and index == first
        if resuming:
            run.load_state_dict(resume["stage"])
            stage_started -= resume["stage_time_s"]
        for cb in watchers:
            cb.on_stage_start(stage, run.step)
        if resuming:  # after on_stage_start, which resets per-stage state
            for cb, state in zip(stateful(callbacks), resume["callbacks"], strict=True):
                cb.load_state_dict(state)
            for cb, state in zip(stage.callbacks, resume["stage_callbacks"], strict=True):
                cb.load_state_dict(state)
        def state_now(index: int = index, stage_started: float = stage_started, run: _StageRun = run,
                      stage: Stage = stage) -> dict:
            """The run's state between two steps: what a checkpoint holds."""
            return {
                "stage_index": index,
                "elapsed_s": time.perf_counter() - started,
                "stage_time_s": time.perf_counter() - stage_started,
                "stage": run.state_dict(),
                "completed": [_result_record(r) for r in results],
                "callbacks": [cb.state_dict() for cb in stateful(callbacks)],
                "stage_callbacks": [cb.state_dict() for cb in stage.callbacks],
                "faults_used": fault_state.used,
            }

        stop_reason = run.run()
        while stop_reason == CHECKPOINT_DUE:
            checkpoints.write(state_now())
            stop_reason = run.run()
        step = run.step
        checkpoint = state_now() if stop_reason == "interrupted" else None
        with torch.no_grad():
            x = run.model().detach()
        final_energy, gradient = value_and_gradient(energy, x)
        if not math.isfinite(final_energy) and run.last_good.taken:  # the last step failed
            run.last_good.restore()
            with torch.no_grad():
                x = run.model().detach()
            (final_energy, gradient), stop_reason = value_and_gradient(energy, x), "diverged"
        _synchronize(x.device)
        result = StageResult(
            stage.name, run.stage_step, stop_reason, time.perf_counter() - stage_started, x, final_energy,
            run.energy_start, run.evaluations, run.rollbacks, checkpoint, run.gradient_start, gradient,
        )
        results.append(result)
        for cb in watchers:
            cb.on_stage_end(result, step, time.perf_counter() - started)
        if stop_reason in RUN_ENDING_REASONS:
            break
    return results
