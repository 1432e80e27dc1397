"""One run from a typed config to files on disk: system, energy, stages, minimise, record.

Nothing here knows about Hydra or the command line, so a run can be started from a test
or a notebook with a config object and a directory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import io
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from nrep.configs.schema import (
    LoopEnergyConfig,
    NrepConfig,
    uses_line_search,
)
from nrep.core.energy.amber import openmm_energy
from nrep.core.energy.loop import lj_minimum_distance
from nrep.core.energy.registry import build_energy
from nrep.core.engine.callbacks import (
    BestState,
    NonFiniteGuard,
    ProgressBar,
    Resampler,
    TimeBudget,
    TraceRecorder,
    TrajectoryRecorder,
)
from nrep.core.engine.interrupts import interrupts_requested
from nrep.core.engine.stages import Callback, FaultPolicy, StageResult, minimise
from nrep.core.errors import NrepError
from nrep.core.io import files as results
from nrep.core.methods.plans import MethodPlan
from nrep.core.methods.registry import build_plan, method_of
from nrep.core.metrics import loop_closure, stuck_pairs
from nrep.core.report.figures import loop_snapshot
from nrep.core.run.build import build_system
from nrep.core.runtime import configure, derive_seed, git_commit, versions
from nrep.core.systems.loop import LoopSystem
from nrep.core.systems.overlaps import DISPLACEMENT, MIN_DISTANCE, separate_overlaps
from nrep.core.systems.protein import ProteinSystem

log = logging.getLogger("nrep")

CHECKPOINT = "checkpoint.pt"
CHECKPOINT_FORMAT = 1


def energy_column(unit: str) -> str:
    """The trace column for an energy in ``unit``: energy_reduced, energy_kJ_mol, ..."""
    return "energy_" + unit.replace("/", "_")


def exact_terms(energy, x: torch.Tensor) -> dict[str, float]:  # noqa: ANN001
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
    runtime: Any  # nrep.core.runtime.Runtime
    config_record: dict[str, Any] | None
    command: str
    initial_terms: dict[str, float]  # the exact terms at X0
    initial_energy: float  # the energy as minimised at X0
    overlaps_moved: int
    time_setup_s: float
    resumed: dict | None = None  # the checkpoint a resumed run started from


def watchers(cfg: NrepConfig, system, energy, plan: MethodPlan, show_progress: bool) -> dict[str, Callback]:  # noqa: ANN001
    """The callbacks of a run by role: guard, best, trace, and the optional ones."""
    metrics = system.rmsd if isinstance(system, ProteinSystem) else None
    # MD reports a snapshot every report_every steps: one trace row per snapshot
    every = plan.trace_every or cfg.output.trace_every
    found: dict[str, Callback] = {
        "guard": NonFiniteGuard(),
        "best": BestState(),
        "trace": TraceRecorder(every, energy_column(energy.unit), plan.setup_s, metrics),
    }
    sampled = isinstance(cfg.energy, LoopEnergyConfig) and cfg.energy.repulsion.enabled
    if sampled and not uses_line_search(cfg):
        found["resampler"] = Resampler(energy, cfg.energy.repulsion.resample_every)
    if cfg.time_budget_s is not None:
        found["budget"] = TimeBudget(cfg.time_budget_s - plan.setup_s)
    if cfg.output.trajectory_every:
        found["trajectory"] = TrajectoryRecorder(cfg.output.trajectory_every)
    if show_progress:
        found["progress"] = ProgressBar(energy.unit)
    return found


def write_trajectory(system, run_dir: Path, recorder: TrajectoryRecorder) -> None:  # noqa: ANN001
    """trajectory.pdb (proteins) or trajectory.xyz (loops) of the recorded frames."""
    if isinstance(system, ProteinSystem):
        results.write_pdb_models(run_dir / "trajectory.pdb", system.topology, [x.numpy() for _, _, x in recorder.frames])
    else:
        frames = [(f"step {step} stage {stage}", x.numpy()) for step, stage, x in recorder.frames]
        results.write_xyz_frames(run_dir / "trajectory.xyz", frames)


def merge_rows(rows: list[dict[str, Any]], extra: list[dict[str, Any]]) -> None:
    """Add the columns of ``extra`` to the trace rows of the same step."""
    by_step = {row["step"]: row for row in extra}
    for row in rows:
        row.update({k: v for k, v in by_step.get(row["step"], {}).items() if k != "step"})


def structure_metrics(cfg: NrepConfig, system, x: torch.Tensor) -> dict[str, Any]:  # noqa: ANN001
    """How good the final structure is: RMSD to the reference, or how well the loop closed."""
    if isinstance(system, ProteinSystem):
        return system.rmsd(x)
    if not isinstance(cfg.energy, LoopEnergyConfig):
        return {}  # closure is measured against the LJ minimum of the loop energies; another energy has none
    r_min = lj_minimum_distance(cfg.energy.bond_length, cfg.energy.lj_softening)
    return {
        "loop_closure": loop_closure(x, system.loops.to(x.device), r_min),
        "stuck_pairs": stuck_pairs(x, system.coupled_pairs.to(x.device), cfg.energy.bond_length),
    }


def system_columns(system) -> dict[str, Any]:  # noqa: ANN001
    columns: dict[str, Any] = {"system": system.name, "n_particles": system.n}
    if isinstance(system, ProteinSystem):
        columns.update(system.describe())
    return columns


def stage_columns(stage_results: list[StageResult]) -> dict[str, Any]:
    columns: dict[str, Any] = {"steps_total": sum(r.steps for r in stage_results)}
    for r in stage_results:
        columns.update({
            f"steps_{r.name}": r.steps,
            f"stop_reason_{r.name}": r.stop_reason,
            f"evaluations_{r.name}": r.evaluations,
            f"time_{r.name}_s": r.time_s,
        })
    return columns


def write_protein_structures(system: ProteinSystem, energy, run_dir: Path, x: torch.Tensor, best: BestState) -> dict[str, Any]:  # noqa: ANN001
    """reference.pdb, start.pdb, final.pdb, best.pdb and final.npy; the energy of final.pdb as
    written, by nrep and by OpenMM.

    Coordinates beyond the PDB format's range (a run that blew up) leave final.npy only.
    """
    topology = system.topology
    x_final = x.detach().cpu().to(torch.float64).numpy()
    results.write_npy(run_dir / "final.npy", x_final)
    results.write_pdb(run_dir / "reference.pdb", topology, system.reference.numpy())
    results.write_pdb(run_dir / "start.pdb", topology, system.x0.numpy())
    if best.x is not None:
        try:
            results.write_pdb(run_dir / "best.pdb", topology, best.x.detach().cpu().to(torch.float64).numpy())
        except ValueError as error:
            log.warning("best.pdb not written: %s", error)
    try:
        x_written = results.write_pdb(run_dir / "final.pdb", topology, x_final)
    except ValueError as error:
        log.warning("final.pdb not written (%s): the coordinates left the PDB format's range; final.npy holds them", error)
        return {"energy_final_pdb": None, "energy_final_pdb_openmm": None}
    with torch.no_grad():
        ours = float(energy.to("cpu", torch.float64)(torch.from_numpy(x_written)))
    return {"energy_final_pdb": ours, "energy_final_pdb_openmm": openmm_energy(system.prepared.system, x_written)[0]}


def write_structures(cfg: NrepConfig, system: LoopSystem, run_dir: Path, x: torch.Tensor, best: BestState, energy_final: float) -> None:
    x_out = x.detach().cpu().to(torch.float64).numpy()
    results.write_npy(run_dir / "final.npy", x_out)
    results.write_xyz(run_dir / "final.xyz", x_out, comment=f"nrep {run_dir.name} final E={energy_final:.8g}")
    if best.x is not None:
        results.write_npy(run_dir / "best.npy", best.x.detach().cpu().to(torch.float64).numpy())
    if cfg.output.snapshot:
        title = f"{cfg.energy.name} n={system.n} {cfg.method.name} seed={cfg.seed}: E={energy_final:.5g}"
        loop_snapshot(x_out, run_dir / "final.png", title, loop_spacing=system.loop_spacing)


def config_fingerprint(cfg: NrepConfig) -> str:
    """A hash of everything that determines a run except where it writes (for checkpoints)."""
    import hashlib
    import json

    settings = asdict(cfg)
    settings.pop("output", None)
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def write_checkpoint(run_dir: Path, cfg: NrepConfig, loop_state: dict, plan: MethodPlan) -> None:
    """checkpoint.pt: the loop's state plus what must match on resume (plain tensors and values)."""
    buffer = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, "config": config_fingerprint(cfg), "plan_times": dict(plan.times),
                "loop": loop_state}, buffer)
    results.atomic_write_bytes(run_dir / CHECKPOINT, buffer.getvalue())


def read_checkpoint(run_dir: Path, cfg: NrepConfig) -> dict:
    """The checkpoint of an interrupted run, loaded without pickle, checked against ``cfg``."""
    path = run_dir / CHECKPOINT
    if not path.is_file():
        raise NrepError(f"{run_dir} has no {CHECKPOINT}; only runs stopped by Ctrl-C or SIGTERM can be resumed")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds on a damaged file
        raise NrepError(f"cannot read {path} ({type(error).__name__}); the checkpoint is damaged: rerun instead") from error
    if state.get("format") != CHECKPOINT_FORMAT or state.get("config") != config_fingerprint(cfg):
        raise NrepError(f"{path} does not belong to the config in {run_dir / '.hydra'}; resume with the run's own config")
    return state


def system_length_unit(system) -> str:  # noqa: ANN001
    return "nm" if isinstance(system, ProteinSystem) else "bond lengths"


def move_overlapping_atoms(cfg: NrepConfig, system):  # noqa: ANN001, ANN201
    """The system with atoms that sit on top of each other moved apart (with a warning), and how many moved.

    Coincident atoms give infinite or NaN energies and gradients from the first step.
    """
    x0, moved = separate_overlaps(system.x0, seed=derive_seed(cfg.seed, "overlaps"))
    if not moved:
        return system, 0
    log.warning("%d atoms of the start sat on top of another (closer than %g %s); moved them %g apart",
                moved, MIN_DISTANCE, system_length_unit(system), DISPLACEMENT)
    return dataclasses.replace(system, x0=x0), moved


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
    started_at, t0 = now(), time.perf_counter()
    checkpoint = read_checkpoint(run_dir, cfg) if resume else None
    if not resume:
        results.check_run_dir(run_dir, cfg.output.overwrite)
    runtime = configure(cfg.device.name, cfg.device.dtype, cfg.threads, cfg.deterministic)
    torch.manual_seed(cfg.seed)

    # From here a first Ctrl-C or SIGTERM stops the run cleanly at its next step (set-up
    # included); OpenMM's baselines run in one call that cannot stop halfway, so they keep
    # the default behaviour.
    stoppable = method_of(cfg).in_engine
    with interrupts_requested() if stoppable else contextlib.nullcontext() as interrupt:
        system = build_system(cfg)
        system, overlaps_moved = move_overlapping_atoms(cfg, system)
        energy = build_energy(cfg, system)
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
        try:
            if plan.runner is not None:  # the method's own loop (OpenMM)
                stage_results, rows = plan.runner(list(callbacks.values()))
                merge_rows(callbacks["trace"].rows, rows)
            else:
                policy = FaultPolicy(cfg.faults.retries, cfg.faults.step_factor, cfg.faults.explosion_factor)
                stage_results = minimise(energy, x0, plan.stages, list(callbacks.values()), policy, interrupt,
                                         checkpoint["loop"] if checkpoint is not None else None)
        finally:
            if "progress" in callbacks:
                callbacks["progress"].close()

    context = RunContext(started_at, t0, runtime, config_record, command, initial, initial_sampled, overlaps_moved,
                         time_setup, checkpoint)
    return record_run(cfg, run_dir, system, energy, plan, stage_results, callbacks, context)


def record_run(
    cfg: NrepConfig,
    run_dir: Path,
    system,  # noqa: ANN001 - LoopSystem | ProteinSystem
    energy,  # noqa: ANN001
    plan: MethodPlan,
    stage_results: list[StageResult],
    callbacks: dict[str, Callback],
    context: RunContext,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write a finished (or stopped) run's files into ``run_dir``, summary.json last; return the summary.

    ``callbacks`` are the run's own (its best state, trace and trajectory); ``extra``
    adds summary columns.
    """
    final = stage_results[-1]
    final_terms = exact_terms(energy, final.x)
    best: BestState = callbacks["best"]
    status = final.stop_reason if final.stop_reason in ("diverged", "interrupted") else "ok"
    summary: dict[str, Any] = {
        "run_id": run_dir.name,
        "run_dir": str(run_dir),
        "status": status,
        "stop_reason": final.stop_reason,
        "command": context.command,
        "started_at": context.started_at,
        **system_columns(system),
        "energy_model": cfg.energy.name,
        "energy_unit": energy.unit,
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
        **structure_metrics(cfg, system, final.x),
        **stage_columns(stage_results),
        "rollbacks": sum(r.rollbacks for r in stage_results),
        "overlapping_atoms_moved": context.overlaps_moved,
        **plan.info,
        "time_setup_s": context.time_setup_s,
        "time_modes_s": plan.times.get("modes", 0.0),
        "time_init_s": plan.times.get("init", 0.0),
        "time_method_s": plan.setup_s + sum(r.time_s for r in stage_results),
        **(extra or {}),
        **context.runtime.describe(),
        **{f"version_{k}": v for k, v in versions().items()},
        "git_commit": git_commit(),
    }
    summary["time_total_s"] = time.perf_counter() - context.t0
    summary["finished_at"] = now()
    if context.config_record is not None:
        summary.update(results.flatten(context.config_record, prefix="cfg."))

    if context.resumed is not None:
        summary["resumed_from_step"] = context.resumed["loop"]["stage"]["step"]
    if final.checkpoint is not None and uses_line_search(cfg):
        log.warning("interrupted at step %d; L-BFGS keeps its history inside scipy, so this run cannot be resumed "
                    "(best and final structures are kept)", final.checkpoint["stage"]["step"])
    elif final.checkpoint is not None:
        write_checkpoint(run_dir, cfg, final.checkpoint, plan)
        summary["checkpoint"] = CHECKPOINT
        summary["resume_command"] = f"nrep resume {run_dir}"
        log.warning("interrupted at step %d; continue with: nrep resume %s", final.checkpoint["stage"]["step"], run_dir)

    results.write_csv(run_dir / results.TRACE, callbacks["trace"].rows)
    if "trajectory" in callbacks:
        write_trajectory(system, run_dir, callbacks["trajectory"])
    if isinstance(system, ProteinSystem):
        summary.update(write_protein_structures(system, energy, run_dir, final.x, best))
    else:
        write_structures(cfg, system, run_dir, final.x, best, summary["energy_final_exact"])
    results.write_json(run_dir / results.SUMMARY, summary)
    if context.resumed is not None and final.checkpoint is None:
        (run_dir / CHECKPOINT).unlink(missing_ok=True)  # finished: the summary is the record now
    log_outcome(summary, final, energy.unit, best.energy, run_dir)
    return summary


def log_outcome(summary: dict[str, Any], final: StageResult, unit: str, best_energy: float, run_dir: Path) -> None:
    log.info("%s: %s after %d steps, %.2f s", summary["status"], final.stop_reason, summary["steps_total"], summary["time_total_s"])
    log.info("final energy %.8g %s (exact: %.8g), best %.8g", final.energy, unit, summary["energy_final_exact"], best_energy)
    if "rmsd_ca_A" in summary:
        log.info("RMSD to %s: CA %.2f Å, backbone %.2f Å, heavy %.2f Å, all %.2f Å", summary["system"],
                 summary["rmsd_ca_A"], summary["rmsd_backbone_A"], summary["rmsd_heavy_A"], summary["rmsd_all_A"])
    elif "loop_closure" in summary:
        log.info("loop closure %.2f, stuck pairs %d", summary["loop_closure"], summary["stuck_pairs"])
    log.info("results in %s", run_dir)


def record_failure(run_dir: Path, error: BaseException, config_record: dict[str, Any] | None, command: str = "") -> None:
    """Write a summary with status=failed and the error, unless the directory holds another run's results."""
    if results.has_results(run_dir):
        return
    summary: dict[str, Any] = {
        "run_id": run_dir.name,
        "run_dir": str(run_dir),
        "status": "failed",
        "error": f"{type(error).__name__}: {error}",
        "command": command,
        "finished_at": now(),
    }
    if config_record is not None:
        summary.update(results.flatten(config_record, prefix="cfg."))
    results.write_json(run_dir / results.SUMMARY, summary)
