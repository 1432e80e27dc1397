"""The record of a run: summary.json (written last), trace.csv, structures, checkpoint.

Shared by single runs and batches: a finished (or stopped) run's files are written here,
whatever ran it. The summary is written last, so its presence means the run finished.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import re
import time
from pathlib import Path
from typing import Any

import torch

from nrep.configs.schema import NrepConfig, uses_line_search
from nrep.core.engine.callbacks import BestState
from nrep.core.engine.stages import Callback, StageResult
from nrep.core.errors import NrepError
from nrep.core.io import files as results
from nrep.core.methods.plans import MethodPlan
from nrep.core.run.checkpoint import CHECKPOINT, write_checkpoint
from nrep.core.run.outputs import outputs_for
from nrep.core.runtime import Runtime, git_commit, versions
from nrep.core.systems.base import System

log = logging.getLogger("nrep")


def energy_column(unit: str) -> str:
    """The trace column for an energy in ``unit``: energy_reduced, energy_kJ_mol, ..."""
    return "energy_" + unit.replace("/", "_")


PHYSICAL_LENGTHS = ("nm", "Å", "angstrom", "pm")


def force_unit(energy_unit: str, length_unit: str) -> str:
    """The unit of a force: kJ/mol/nm for proteins; the energy's own name (reduced, arbitrary) where
    lengths are reduced too (the loops' bond lengths, a given system's length units)."""
    return f"{energy_unit}/{length_unit}" if length_unit in PHYSICAL_LENGTHS else energy_unit


def force_columns(energy_unit: str, length_unit: str) -> tuple[str, str]:
    """The (RMS, max) force columns: rms_force_kJ_mol_nm, max_force_kJ_mol_nm (loops: ..._reduced)."""
    slug = re.sub(r"[^0-9A-Za-z]+", "_", force_unit(energy_unit, length_unit)).strip("_")
    return f"rms_force_{slug}", f"max_force_{slug}"


def exact_terms(energy: torch.nn.Module, x: torch.Tensor) -> dict[str, float]:
    """The energy's exact terms at x, evaluated in float64 whatever the run's dtype."""
    with torch.no_grad():
        return {name: float(value) for name, value in energy.exact_terms(x.to(torch.float64)).items()}


def now() -> str:
    """The local time with its offset, to the second (the summary's started_at, finished_at)."""
    return dt.datetime.now(dt.timezone.utc).astimezone().isoformat(timespec="seconds")


@dataclasses.dataclass
class RunContext:
    """What a run's record needs besides its system, energy, plan and results."""

    started_at: str
    t0: float  # perf_counter at the start
    runtime: Runtime
    config_record: dict[str, Any] | None
    command: str
    initial_terms: dict[str, float]  # the exact terms at X0
    initial_energy: float  # the energy as minimised at X0
    overlaps_moved: int
    time_setup_s: float
    resumed: dict | None = None  # the checkpoint a resumed run started from


def about_run(threads: int, command: str) -> dict[str, Any]:
    """What a checkpoint keeps about its run, for a resume without a summary (a run killed outright)."""
    return {"threads": threads, "command": command, "working_dir": os.getcwd()}


def system_columns(system: System) -> dict[str, Any]:
    return {"system": system.name, "n_particles": system.n, **system.describe()}


def stage_columns(stage_results: list[StageResult], forces: tuple[str, str]) -> dict[str, Any]:
    """Steps, stop reason, evaluations, time and the forces at the start and end of each stage;
    ``forces``: the (RMS, max) column names, whose plain form is the run's final forces."""
    rms, largest = forces
    columns: dict[str, Any] = {"steps_total": sum(r.steps for r in stage_results)}
    columns[rms], columns[largest] = stage_results[-1].forces
    for r in stage_results:
        columns.update({
            f"steps_{r.name}": r.steps,
            f"stop_reason_{r.name}": r.stop_reason,
            f"evaluations_{r.name}": r.evaluations,
            f"time_{r.name}_s": r.time_s,
        })
        for name, values in ((rms, (r.forces_start[0], r.forces[0])), (largest, (r.forces_start[1], r.forces[1]))):
            kind, unit = name.split("_force_")
            columns[f"{kind}_force_{r.name}_start_{unit}"], columns[f"{kind}_force_{r.name}_end_{unit}"] = values
    return columns


@dataclasses.dataclass
class Minimised:
    """A run that has minimised, before anything is written: what :func:`summarise` and :func:`record_run` take."""

    config: NrepConfig  # the run's own (a replica's: the batch's with its seed)
    system: System
    energy: torch.nn.Module
    plan: MethodPlan
    stage_results: list[StageResult]
    callbacks: dict[str, Callback]  # the run's own, by role (best, trace, ...)
    context: RunContext
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)  # more summary columns (a batch's)


def summarise(run_dir: Path | None, done: Minimised) -> dict[str, Any]:
    """The summary columns of a finished (or stopped) run, without its files' (nothing is written).

    ``run_dir`` None: a run kept in memory (``nrep.minimise`` without ``out``).
    """
    cfg, system, energy, plan, stage_results, context = (done.config, done.system, done.energy, done.plan,
                                                         done.stage_results, done.context)
    final = stage_results[-1]
    final_terms = exact_terms(energy, final.x)
    best: BestState = done.callbacks["best"]
    status = final.stop_reason if final.stop_reason in ("diverged", "interrupted") else "ok"
    summary: dict[str, Any] = {
        "run_id": run_dir.name if run_dir is not None else None,
        "run_dir": str(run_dir) if run_dir is not None else None,
        "status": status,
        "stop_reason": final.stop_reason,
        "command": context.command,
        "working_dir": os.getcwd(),  # relative paths in the config (a --pdb file, caches) are relative to it
        "started_at": context.started_at,
        **system_columns(system),
        "energy_model": cfg.energy.name,
        "energy_unit": energy.unit,
        **(energy.describe() if hasattr(energy, "describe") else {}),
        "method": cfg.method.name,
        "optim": plan.optimiser,
        "seed": cfg.seed,
        "energy_initial": context.initial_energy,
        "energy_initial_exact": sum(context.initial_terms.values()),
        "energy_start": stage_results[0].energy_start,
        "energy_final": final.energy,
        "energy_final_exact": sum(final_terms.values()),
        "energy_best": best.energy,
        **{f"energy_final_{name}": value for name, value in final_terms.items()},
        **outputs_for(system).metrics(cfg, system, final.x),
        **stage_columns(stage_results, force_columns(energy.unit, system.length_unit)),
        "rollbacks": sum(r.rollbacks for r in stage_results),
        "overlapping_atoms_moved": context.overlaps_moved,
        "checkpoints_saved": 0,  # periodic checkpoints (plan.info has them when the run saved any)
        "time_checkpoints_s": 0.0,
        **plan.info,
        "time_setup_s": context.time_setup_s,
        "time_modes_s": plan.times.get("modes", 0.0),
        "time_init_s": plan.times.get("init", 0.0),
        "time_method_s": plan.setup_s + sum(r.time_s for r in stage_results),
        **done.extra,
        **context.runtime.describe(),
        **{f"version_{k}": v for k, v in versions().items()},
        "git_commit": git_commit(),
    }
    summary["time_total_s"] = time.perf_counter() - context.t0
    summary["finished_at"] = now()
    if context.config_record is not None:
        summary.update(results.flatten(context.config_record, prefix="cfg."))
    return summary


def record_run(run_dir: Path, done: Minimised) -> dict[str, Any]:
    """Write a finished (or stopped) run's files into ``run_dir``, summary.json last; return the summary."""
    cfg, system, energy, plan, callbacks, context = (done.config, done.system, done.energy, done.plan, done.callbacks,
                                                     done.context)
    final = done.stage_results[-1]
    outputs = outputs_for(system)
    best: BestState = callbacks["best"]
    summary = summarise(run_dir, done)
    if context.resumed is not None:
        summary["resumed_from_step"] = context.resumed["loop"]["stage"]["step"]
    if final.checkpoint is not None and uses_line_search(cfg):
        log.warning("interrupted at step %d; L-BFGS keeps its history inside scipy, so this run cannot be resumed "
                    "(best and final structures are kept)", final.checkpoint["stage"]["step"])
    elif final.stop_reason == "interrupted" and final.checkpoint is None:
        log.warning("interrupted at step %d; %s cannot be resumed (its summary, trace and structures so far are kept)",
                    final.steps, f"method={cfg.method.name}")
    elif final.checkpoint is not None:
        write_checkpoint(run_dir, cfg, final.checkpoint, plan, about_run(context.runtime.threads, context.command))
        summary["checkpoint"] = CHECKPOINT
        summary["resume_command"] = f"nrep resume {run_dir}"
        log.warning("interrupted at step %d; continue with: nrep resume %s", final.checkpoint["stage"]["step"], run_dir)

    results.write_csv(run_dir / results.TRACE, callbacks["trace"].rows)
    if "trajectory" in callbacks:
        outputs.write_trajectory(cfg, system, run_dir, callbacks["trajectory"])
    summary.update(outputs.write_structures(cfg, system, energy, run_dir, final.x, best, summary["energy_final_exact"]))
    results.write_json(run_dir / results.SUMMARY, summary)
    if final.checkpoint is None:  # finished (a periodic or resumed checkpoint is done with): the summary is the record
        (run_dir / CHECKPOINT).unlink(missing_ok=True)
    log_outcome(summary, final, energy.unit, best.energy, run_dir)
    return summary


def log_outcome(summary: dict[str, Any], final: StageResult, unit: str, best_energy: float, run_dir: Path) -> None:
    log.info("%s: %s after %d steps; time_method_s %.2f s (slow modes, set-up and steps: the time nrep report "
             "shows), time_total_s %.2f s", summary["status"], final.stop_reason, summary["steps_total"],
             summary["time_method_s"], summary["time_total_s"])
    log.info("final energy %.8g %s (exact: %.8g), best %.8g", final.energy, unit, summary["energy_final_exact"], best_energy)
    if "rmsd_ca_A" in summary:
        log.info("RMSD to %s: CA %.2f Å, backbone %.2f Å, heavy %.2f Å, all %.2f Å", summary["system"],
                 summary["rmsd_ca_A"], summary["rmsd_backbone_A"], summary["rmsd_heavy_A"], summary["rmsd_all_A"])
    elif "loop_closure" in summary:
        log.info("loop closure %.2f, stuck pairs %d", summary["loop_closure"], summary["stuck_pairs"])
    log.info("results in %s", run_dir)


NOT_STARTED = "not started"  # a job of a stopped sweep that never ran (nrep resume SWEEP_DIR runs it)


def record_failure(run_dir: Path, error: BaseException, config_record: dict[str, Any] | None, command: str = "") -> None:
    """Write a summary with status=failed and the error, unless the directory holds another run's results."""
    _record_without_run(run_dir, "failed", config_record, command, error=f"{type(error).__name__}: {error}")


def record_not_started(run_dir: Path, config_record: dict[str, Any] | None, command: str = "") -> None:
    """Write a summary with status=not started: a sweep was stopped before this job began."""
    _record_without_run(run_dir, NOT_STARTED, config_record, command,
                        error="the sweep was stopped before this job started; nrep resume continues the sweep")


def _record_without_run(run_dir: Path, status: str, config_record: dict[str, Any] | None, command: str,
                        error: str) -> None:
    if results.has_results(run_dir):
        return
    summary: dict[str, Any] = {
        "run_id": run_dir.name,
        "run_dir": str(run_dir),
        "status": status,
        "error": error,
        "command": command,
        "working_dir": os.getcwd(),
        "finished_at": now(),
    }
    if config_record is not None:
        summary.update(results.flatten(config_record, prefix="cfg."))
    try:
        results.write_json(run_dir / results.SUMMARY, summary)
    except NrepError as error:  # e.g. the disk that failed the run has no room for its summary either
        log.error("no summary.json written either: %s", error)
