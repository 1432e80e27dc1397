"""The Hydra application: one call of :func:`task` per run (or per job of a sweep).

The front-end (:mod:`nrep.cli.main`) rewrites ``sys.argv`` and calls :func:`launch`.
Failures are recorded (status=failed in the run's summary) and counted, never raised
through Hydra, so one failing job does not stop a sweep and the user sees one line.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from nrep.configs.compose import CONFIG_NAME, config_dir
from nrep.configs.schema import register_schemas, to_config
from nrep.core.errors import NrepError

log = logging.getLogger("nrep")

# Runs that did not end with status=ok, as (run directory, status or error).
problems: list[tuple[str, str]] = []


def debug_enabled() -> bool:
    return os.environ.get("NREP_DEBUG") == "1"


def task(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from nrep.cli.sweep import sweep_stop

    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return run_job(cfg, hydra_cfg, multirun=False)
    from nrep.core.run.preemption import handed_to_scheduler

    # a job of a sweep: one signal stops the whole sweep, whichever process the job runs in;
    # on a scheduler, its time-limit signal saves the run before submitit requeues the job
    with handed_to_scheduler(), sweep_stop(Path(str(hydra_cfg.sweep.dir))) as stop:
        if stop.asked():
            from nrep.core.run.record import NOT_STARTED, record_not_started

            run_dir = Path(hydra_cfg.runtime.output_dir)
            record_not_started(run_dir, OmegaConf.to_container(cfg, resolve=True), os.environ.get("NREP_COMMAND_LINE", ""))
            problems.append((str(run_dir), NOT_STARTED))
            return None
        return run_job(cfg, hydra_cfg, multirun=True)


def run_job(cfg: DictConfig, hydra_cfg: DictConfig, multirun: bool) -> float | None:
    """Run one job (a run, or a batch of replicas) and record how it ended; failures are recorded, not raised."""
    from nrep.cli.launchers import job_threads
    from nrep.core.run.build import show_progress
    from nrep.core.run.single import execute, record_failure

    run_dir = Path(hydra_cfg.runtime.output_dir)
    command = os.environ.get("NREP_COMMAND_LINE", "")
    record = None
    try:
        record = OmegaConf.to_container(cfg, resolve=True)
        typed = to_config(cfg)
        if typed.threads is None:
            typed.threads = job_threads(hydra_cfg.get("launcher"), multirun)
        resume = requeued_run(run_dir)
        if typed.replicas > 1:
            from nrep.core.run.batch import execute_replicas

            summaries = execute_replicas(typed, run_dir, record, show_progress(typed.output.progress, multirun), command)
            problems.extend((s["run_dir"], s["status"]) for s in summaries if s["status"] != "ok")
            return min(s["energy_final_exact"] for s in summaries)
        summary = execute(typed, run_dir, record, show_progress(typed.output.progress, multirun), command, resume=resume)
    except NrepError as error:
        log.error("%s", error)
        record_failure(run_dir, error, record, command)
        problems.append((str(run_dir), str(error)))
        return None
    except Exception as error:  # a bug: keep the traceback in the run's log, one line on screen
        if debug_enabled():
            raise
        log.error("internal error: %s: %s (the traceback is in %s; --debug shows it)", type(error).__name__, error, run_dir / "nrep.log")
        _log_traceback_to_file(run_dir)
        record_failure(run_dir, error, record, command)
        problems.append((str(run_dir), f"internal error: {error}"))
        return None
    if summary["status"] != "ok":
        problems.append((str(run_dir), summary["status"]))
    return summary["energy_final_exact"]


def requeued_run(run_dir: Path) -> bool:
    """In a job the scheduler requeued: True when its run left a checkpoint to resume from; without
    one, the earlier attempt's files are removed and the run starts again. Outside a requeue: False."""
    from nrep.core.io.files import CHECKPOINT, has_results, remove_run_files
    from nrep.core.run.preemption import requeued

    if not requeued():
        return False
    if (run_dir / CHECKPOINT).is_file():
        log.info("requeued by the scheduler: resuming %s from its checkpoint", run_dir)
        return True
    if has_results(run_dir):
        log.info("requeued by the scheduler: %s has no checkpoint to resume from; starting it again", run_dir)
        remove_run_files(run_dir, keep=("nrep.log", ".hydra"))
    return False


def _log_traceback_to_file(run_dir: Path) -> None:
    import traceback

    with open(run_dir / "nrep.log", "a", encoding="utf-8") as handle:
        handle.write(traceback.format_exc())


def launch(argv: list[str]) -> int:
    """Run Hydra with ``argv`` (program name first); 0 if every run ended with status ok."""
    import hydra

    from nrep.cli.launchers import quiet_submitit

    register_schemas()
    quiet_submitit()
    problems.clear()
    saved = sys.argv
    sys.argv = argv
    try:
        hydra.main(config_path=str(config_dir()), config_name=CONFIG_NAME, version_base="1.3")(task)()
    finally:
        sys.argv = saved
    return 1 if problems else 0
