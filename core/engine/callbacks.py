"""Callbacks that watch a minimisation: stopping, tracing, best state, schedules, progress."""

from __future__ import annotations

import math
from typing import Any, Callable

import torch

from nrep.core.engine.stages import Callback, Stage, StageResult, StepState


class EarlyStopping(Callback):
    """The authors' rule: every ``check_every`` steps compare E with the best so far.

    E counts as an improvement when E < best - min_delta (best then becomes E); otherwise
    a counter goes up, and the stage stops with "converged" when it reaches ``patience``.
    So a stage that never improves after its first check stops at stage step
    check_every * patience.
    """

    def __init__(self, check_every: int, patience: int, min_delta: float) -> None:
        self.check_every = self.reads_every = check_every
        self.patience = patience
        self.min_delta = min_delta
        self.best = math.inf
        self.bad_checks = 0

    def on_stage_start(self, stage: Stage, step: int) -> None:
        self.best, self.bad_checks = math.inf, 0

    def on_step(self, state: StepState) -> str | None:
        if state.stage_step % self.check_every:
            return None
        if state.energy_value < self.best - self.min_delta:
            self.best, self.bad_checks = state.energy_value, 0
            return None
        self.bad_checks += 1
        return "converged" if self.bad_checks >= self.patience else None

    def state_dict(self) -> dict:
        return {"best": self.best, "bad_checks": self.bad_checks}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.bad_checks = state["best"], state["bad_checks"]


class ForceTolerance(Callback):
    """Stops a stage at the first check (every ``check_every`` steps) where the largest force on one
    atom is below ``fmax`` (reason "fmax") or the RMS force below ``frms`` ("frms"); None: that rule is off.

    The forces are read only at checks, so a GPU run syncs no more often than early stopping does.
    """

    def __init__(self, check_every: int, fmax: float | None = None, frms: float | None = None) -> None:
        self.check_every, self.fmax, self.frms = check_every, fmax, frms
        self.reads_every = check_every

    def on_step(self, state: StepState) -> str | None:
        if state.stage_step % self.check_every:
            return None
        rms, largest = state.forces
        if self.fmax is not None and largest < self.fmax:
            return "fmax"
        if self.frms is not None and rms < self.frms:
            return "frms"
        return None


class NonFiniteGuard(Callback):
    """Ends the run with "diverged" when the energy becomes NaN or infinite.

    The stage loop rolls failed steps back before callbacks see them; this guard covers
    what it cannot roll back (L-BFGS runs inside scipy, the OpenMM baselines). It looks at
    host steps only: between them the stage loop's own check at the next host step covers it.
    """

    reads_every = None

    def on_step(self, state: StepState) -> str | None:
        if not state.host:
            return None
        return None if math.isfinite(state.energy_value) else "diverged"


class StopOnInterrupt(Callback):
    """Ends the run with "interrupted" once ``asked()`` says so: how a method with its own loop
    (the OpenMM baselines, which report to callbacks between their chunks) hears Ctrl-C / SIGTERM."""

    reads_every = None  # asks Python-side things only

    def __init__(self, asked: Callable[[], bool]) -> None:
        self.asked = asked

    def on_step(self, state: StepState) -> str | None:
        return "interrupted" if self.asked() else None


class TotalStepCap(Callback):
    """Ends the run with "max_total_steps" once ``steps`` steps of all its stages together are taken."""

    reads_every = None  # asks Python-side things only

    def __init__(self, steps: int) -> None:
        self.steps = steps

    def on_step(self, state: StepState) -> str | None:
        return "max_total_steps" if state.step >= self.steps else None


class TimeBudget(Callback):
    """Ends the run with "time_budget" once ``seconds`` of wall time have passed."""

    reads_every = None  # asks Python-side things only

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_step(self, state: StepState) -> str | None:
        return "time_budget" if state.elapsed_s >= self.seconds else None


class BestState(Callback):
    """Keeps the lowest energy seen and the coordinates where it was seen.

    At every step, on the device: the energy, X and the step are kept as tensors and
    replaced by ``torch.where``, so no step waits for a host read; ``energy``, ``x`` and
    ``step`` read them when asked (at the end, in a checkpoint).
    """

    reads_every = None

    def __init__(self) -> None:
        self._energy: torch.Tensor | None = None
        self._x: torch.Tensor | None = None
        self._step: torch.Tensor | None = None

    def _offer(self, energy: torch.Tensor, x: torch.Tensor, step: int) -> None:
        energy = energy.detach().reshape(())
        if self._energy is None or self._x.shape != x.shape:
            self._energy, self._x = energy.clone(), x.detach().clone()
            self._step = torch.tensor(step, device=energy.device)
            if not torch.isfinite(energy):  # a first value that is not a number is no best state
                self._energy = torch.full_like(energy, math.inf)
            return
        better = energy < self._energy  # False for NaN
        self._energy = torch.where(better, energy, self._energy)
        self._x = torch.where(better, x.detach(), self._x)
        self._step = torch.where(better, torch.tensor(step, device=energy.device), self._step)

    @property
    def energy(self) -> float:
        return math.inf if self._energy is None else float(self._energy)

    @property
    def x(self) -> torch.Tensor | None:
        return None if self._x is None or not math.isfinite(self.energy) else self._x

    @property
    def step(self) -> int:
        return -1 if self._step is None or not math.isfinite(self.energy) else int(self._step)

    def on_step(self, state: StepState) -> str | None:
        self._offer(state.energy, state.x, state.step)
        return None

    def on_stage_end(self, result: StageResult, step: int, elapsed_s: float) -> None:
        self._offer(torch.tensor(result.energy, dtype=result.x.dtype, device=result.x.device), result.x, step)

    def state_dict(self) -> dict:
        return {"energy": self.energy, "x": self.x, "step": self.step}

    def load_state_dict(self, state: dict) -> None:
        self._energy = self._x = self._step = None
        if state["x"] is not None:
            x = state["x"]
            self._energy = torch.tensor(state["energy"], dtype=x.dtype, device=x.device)
            self._x, self._step = x.clone(), torch.tensor(state["step"], device=x.device)


class TraceRecorder(Callback):
    """Rows of (step, stage, stage_step, time_s, energy, forces, metrics...) every ``every`` steps.

    The first step of each stage and the end of each stage are always recorded. The
    energy column is named after the energy's unit (``energy_reduced``, ``energy_kJ_mol``),
    the two force columns (RMS, max) after the force's (``force_columns``; None: none).
    ``time_offset_s`` is added to the times: the method's set-up (slow modes) comes first.
    ``metrics(x)`` adds columns computed from the coordinates (e.g. RMSD) to each row.
    """

    def __init__(
        self,
        every: int,
        energy_column: str,
        time_offset_s: float = 0.0,
        metrics: Callable[[torch.Tensor], dict[str, float]] | None = None,
        force_columns: tuple[str, str] | None = None,
        terms: Callable[[torch.Tensor], dict[str, float]] | None = None,
        terms_every: int = 0,
    ) -> None:
        self.every = self.reads_every = every
        self.energy_column = energy_column
        self.force_columns = force_columns
        self.terms, self.terms_every = terms, terms_every
        self.time_offset_s = time_offset_s
        self.metrics = metrics
        self.rows: list[dict[str, Any]] = []

    def _record(self, step: int, stage: str, stage_step: int, time_s: float, energy: float, x: torch.Tensor,
                forces: tuple[float, float], stage_end: bool = False) -> None:
        if self.rows and (self.rows[-1]["stage"], self.rows[-1]["stage_step"]) == (stage, stage_step):
            self.rows.pop()  # the end of a stage re-states its last step
        row = {
            "step": step,
            "stage": stage,
            "stage_step": stage_step,
            "time_s": self.time_offset_s + time_s,
            self.energy_column: energy,
        }
        if self.force_columns is not None:
            row.update(zip(self.force_columns, forces))
        if self.terms is not None and self.terms_every and (stage_end or len(self.rows) % self.terms_every == 0):
            row.update(self.terms(x))
        if self.metrics is not None:
            row.update(self.metrics(x))
        self.rows.append(row)

    def on_step(self, state: StepState) -> str | None:
        if state.stage_step % self.every == 0:
            forces = state.forces if self.force_columns is not None else None
            self._record(state.step, state.stage, state.stage_step, state.elapsed_s, state.energy_value, state.x, forces)
        return None

    def on_stage_end(self, result: StageResult, step: int, elapsed_s: float) -> None:
        forces = result.forces if self.force_columns is not None else None
        self._record(step, result.name, result.steps, elapsed_s, result.energy, result.x, forces, stage_end=True)

    def state_dict(self) -> dict:
        return {"rows": [dict(row) for row in self.rows]}

    def load_state_dict(self, state: dict) -> None:
        self.rows = [dict(row) for row in state["rows"]]


class TrajectoryRecorder(Callback):
    """Snapshots every ``every`` steps and at each stage's end: X (CPU, float64) and a row saying what it is.

    Each row holds frame, step, stage, time_s (plus ``time_offset_s``, as in the trace),
    the energy (``energy_column``) and, when ``force_column`` is given, the RMS force.
    """

    def __init__(self, every: int, energy_column: str = "energy", force_column: str | None = None,
                 time_offset_s: float = 0.0) -> None:
        self.every = self.reads_every = every
        self.energy_column, self.force_column = energy_column, force_column
        self.time_offset_s = time_offset_s
        self.frames: list[torch.Tensor] = []
        self.rows: list[dict[str, Any]] = []

    def _keep(self, step: int, stage: str, elapsed_s: float, energy: float, x: torch.Tensor, at: object) -> None:
        """``at``: the StepState or StageResult, whose ``forces`` are read only when the row has a force column."""
        if self.rows and (self.rows[-1]["step"], self.rows[-1]["stage"]) == (step, stage):
            return
        row = {"frame": len(self.rows), "step": step, "stage": stage, "time_s": self.time_offset_s + elapsed_s,
               self.energy_column: energy}
        if self.force_column is not None:
            row[self.force_column] = at.forces[0]
        self.rows.append(row)
        self.frames.append(x.detach().to("cpu", torch.float64).clone())

    def on_step(self, state: StepState) -> str | None:
        if state.stage_step % self.every == 0:
            self._keep(state.step, state.stage, state.elapsed_s, state.energy_value, state.x, state)
        return None

    def on_stage_end(self, result: StageResult, step: int, elapsed_s: float) -> None:
        self._keep(step, result.name, elapsed_s, result.energy, result.x, result)

    def state_dict(self) -> dict:
        return {"rows": [dict(row) for row in self.rows], "x": list(self.frames)}

    def load_state_dict(self, state: dict) -> None:
        if "rows" not in state:  # a checkpoint of nrep before trajectory.csv: steps and stages only
            state = {"x": state["x"], "rows": [{"frame": k, "step": step, "stage": stage, "time_s": math.nan,
                                                self.energy_column: math.nan}
                                               for k, (step, stage) in enumerate(zip(state["steps"], state["stages"]))]}
        self.rows, self.frames = [dict(row) for row in state["rows"]], list(state["x"])


class Resampler(Callback):
    """Calls ``resample()`` (e.g. new repulsion pairs) every ``every`` steps, counted over all stages."""

    reads_every = None

    def __init__(self, target: Any, every: int) -> None:
        self.target = target
        self.every = every

    def before_step(self, stage: Stage, step: int) -> None:
        if self.every and step and step % self.every == 0:
            self.target.resample()

    def state_dict(self) -> dict:
        return self.target.sample_state()

    def load_state_dict(self, state: dict) -> None:
        self.target.load_sample_state(state)


class StepFunction(Callback):
    """A plain function ``fn(state) -> stop reason or None`` called at every step (a notebook's own watcher)."""

    stateful = False

    def __init__(self, fn: Callable[[StepState], str | None]) -> None:
        self.fn = fn

    def on_step(self, state: StepState) -> str | None:
        return self.fn(state)


class ProgressBar(Callback):
    """A rich progress bar per stage, refreshed every ``refresh_every`` steps."""

    stateful = False  # a run stopped in a terminal resumes outside one, and the reverse

    def __init__(self, unit: str, force_unit: str = "", refresh_every: int = 20) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.unit = unit
        self.refresh_every = self.reads_every = refresh_every
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("E = {task.fields[energy]} " + unit),
            TextColumn("F_rms = {task.fields[rms_force]} " + force_unit),
            TimeElapsedColumn(),
        )
        self.task = None

    def on_stage_start(self, stage: Stage, step: int) -> None:
        if self.task is None:
            self.progress.start()
        self.task = self.progress.add_task(f"stage {stage.name}", total=stage.max_steps, energy="-", rms_force="-")

    def on_step(self, state: StepState) -> str | None:
        if state.stage_step % self.refresh_every == 0:
            self.progress.update(self.task, completed=state.stage_step, energy=f"{state.energy_value:.6g}",
                                 rms_force=f"{state.forces[0]:.4g}")
        return None

    def on_stage_end(self, result: StageResult, step: int, elapsed_s: float) -> None:
        self.progress.update(self.task, completed=result.steps, total=result.steps, energy=f"{result.energy:.6g}",
                             rms_force=f"{result.forces[0]:.4g}")

    def close(self) -> None:
        if self.task is not None:
            self.progress.stop()
