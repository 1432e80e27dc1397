"""One run from a typed config to files on disk: system, energy, stages, minimise, record.

Nothing here knows about Hydra or the command line, so a run can be started from a test
or a notebook with a config object and a directory. :func:`minimise_built` is the part
between a built system and energy and the record (the Python API's ``nrep.minimise``
calls it with an energy of the user's own); the pieces it shares with batches are in
``build.py`` (set-up) and ``record.py`` (the files).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from nrep.configs.schema import NrepConfig, uses_line_search
from nrep.core.energy.registry import Energy, build_energy
from nrep.core.engine.callbacks import StopOnInterrupt
from nrep.core.engine.interrupts import interrupts_requested
from nrep.core.engine.stages import Callback, Checkpoints, FaultPolicy, minimise
from nrep.core.io import files as results
from nrep.core.io.locks import locked
from nrep.core.methods.plans import MethodPlan
from nrep.core.methods.registry import build_plan
from nrep.core.run.build import build_system, move_overlapping_atoms, watchers
from nrep.core.run.checkpoint import read_checkpoint, write_checkpoint
from nrep.core.run.record import Minimised, RunContext, about_run, exact_terms, now, record_failure, record_run
from nrep.core.run.sizes import LOUD_SETUP_S, estimate_loop
from nrep.core.runtime import configure, default_threads, use_threads
from nrep.core.systems.base import System

__all__ = ["Minimised", "execute", "minimise_built", "record_failure", "record_run"]

log = logging.getLogger("nrep")

# () -> (the system with its start, its energy, how many overlapping atoms were moved)
Builder = Callable[[], "tuple[System, Energy, int]"]


def merge_rows(rows: list[dict[str, Any]], extra: list[dict[str, Any]]) -> None:
    """Add the columns of ``extra`` to the trace rows of the same step."""
    by_step = {row["step"]: row for row in extra}
    for row in rows:
        row.update({k: v for k, v in by_step.get(row["step"], {}).items() if k != "step"})


def built_from_config(cfg: NrepConfig) -> Builder:
    """The builder of a config's own system (its start made safe) and energy."""

    def build() -> tuple[System, Energy, int]:
        system, moved = move_overlapping_atoms(cfg, build_system(cfg))
        return system, build_energy(cfg, system), moved

    return build


def minimise_built(
    cfg: NrepConfig,
    build: Builder,
    *,
    show_progress: bool = False,
    config_record: dict[str, Any] | None = None,
    command: str = "",
    checkpoint: dict | None = None,
    extra_callbacks: Sequence[Callback] = (),
    save_checkpoint: Callable[[dict, MethodPlan, dict], None] | None = None,
) -> Minimised:
    """Set up the runtime, build the system and energy with ``build``, plan the method and minimise.

    ``checkpoint``: continue from an interrupted run's checkpoint; ``extra_callbacks``
    watch the run beside its own (they cannot be checkpointed); ``save_checkpoint(state,
    plan, about)``: where the periodic checkpoints go (``output.checkpoint_every_s``).
    """
    started_at, t0 = now(), time.perf_counter()
    runtime = configure(cfg.device.name, cfg.device.dtype, cfg.threads, cfg.deterministic)
    torch.manual_seed(cfg.seed)

    # From here a first Ctrl-C or SIGTERM stops the run cleanly at its next step (set-up
    # included); a method with its own loop (OpenMM's) hears it through a callback, at its
    # next report.
    expected = estimate_loop(cfg)
    if expected is not None and expected.setup_s > LOUD_SETUP_S:  # a long silence would look like a hang
        log.info("%s n=%d, method=%s: expect %s", cfg.system.name, expected.n, cfg.method.name, expected.describe())
    with interrupts_requested() as interrupt:
        system, energy, overlaps_moved = build()
        if cfg.threads is None:  # the default follows the system's size (set-up ran on one thread)
            runtime = use_threads(runtime, default_threads(system.n))
        plan = build_plan(cfg, system, energy, runtime)
        if checkpoint is not None:
            plan.times = checkpoint["plan_times"]  # the trace's clock goes on from the first start
        energy = energy.to(runtime.device)
        x0 = system.x0.to(device=runtime.device, dtype=runtime.dtype)
        initial = exact_terms(energy, x0)
        with torch.no_grad():
            initial_sampled = float(energy(x0))
        callbacks = watchers(cfg, system, energy, plan, show_progress)
        time_setup = time.perf_counter() - t0 - plan.setup_s

        log.info(
            "%s n=%d, energy=%s, method=%s, optim=%s, seed=%d; %s %s, %d threads",
            system.name, system.n, cfg.energy.name, cfg.method.name, plan.optimiser or "its own", cfg.seed,
            runtime.device, cfg.device.dtype, runtime.threads,
        )
        watching = [*callbacks.values(), *extra_callbacks]
        try:
            if plan.runner is not None:  # the method's own loop (OpenMM)
                stage_results, rows = plan.runner([*watching, StopOnInterrupt(interrupt)])
                merge_rows(callbacks["trace"].rows, rows)
            else:
                policy = FaultPolicy(cfg.faults.retries, cfg.faults.step_factor, cfg.faults.explosion_factor)
                periodic = None
                if save_checkpoint is not None and cfg.output.checkpoint_every_s > 0 and not uses_line_search(cfg):
                    about = about_run(runtime.threads, command)
                    periodic = Checkpoints(cfg.output.checkpoint_every_s, lambda state: save_checkpoint(state, plan, about))
                stage_results = minimise(energy, x0, plan.stages, watching, policy, interrupt,
                                         checkpoint["loop"] if checkpoint is not None else None, periodic)
                if periodic is not None:
                    plan.info.update({"checkpoints_saved": periodic.saved, "time_checkpoints_s": periodic.time_s})
        finally:
            if "progress" in callbacks:
                callbacks["progress"].close()

    context = RunContext(started_at, t0, runtime, config_record, command, initial, initial_sampled, overlaps_moved,
                         time_setup, checkpoint)
    return Minimised(cfg, system, energy, plan, stage_results, callbacks, context)


def execute(
    cfg: NrepConfig,
    run_dir: Path,
    config_record: dict[str, Any] | None = None,
    show_progress: bool = False,
    command: str = "",
    resume: bool = False,
) -> dict[str, Any]:
    """Run ``cfg`` and write its results into ``run_dir``; return the summary record.

    ``config_record`` is the resolved config as plain containers (flattened into the
    summary). The summary is written last, so its presence means the run finished (or
    stopped: status=interrupted or diverged). ``resume``: continue the interrupted run in
    ``run_dir`` from its checkpoint.
    """
    with locked(run_dir):  # one nrep process per run directory
        checkpoint = read_checkpoint(run_dir, cfg) if resume else None
        if not resume:
            results.check_run_dir(run_dir, cfg.output.overwrite)
        done = minimise_built(cfg, built_from_config(cfg), show_progress=show_progress, config_record=config_record,
                              command=command, checkpoint=checkpoint,
                              save_checkpoint=lambda state, plan, about: write_checkpoint(run_dir, cfg, state, plan, about))
        return record_run(run_dir, done)
