"""``nrep resume RUN_DIR|SWEEP_DIR``: continue a run (or a sweep) that Ctrl-C or SIGTERM stopped.

The run's config is composed again from the overrides Hydra saved in
``RUN_DIR/.hydra/overrides.yaml`` and must match the checkpoint's fingerprint; the run
then goes on in the same directory with the thread count it started with, so on the CPU
its numbers are those of a run that was never interrupted. A sweep's directory resumes
its interrupted jobs and runs those that never started, one after another.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from nrep.core.errors import NrepError
from nrep.core.io.files import CHECKPOINT, SUMMARY
from nrep.core.run.record import NOT_STARTED

if TYPE_CHECKING:
    import argparse

USAGE = """usage: nrep resume RUN_DIR|SWEEP_DIR [output.progress=on|off|auto] [--debug]

Continue a run stopped by Ctrl-C or SIGTERM (status=interrupted in its summary.json),
or killed outright after a periodic checkpoint (output.checkpoint_every_s; no summary),
from RUN_DIR/checkpoint.pt, in the same directory, with the same config and threads,
from the working directory it started in (its relative paths are relative to that), in
a terminal or not. The trace, best structure and final files are then those of the
whole run. The config is the run's own: the only override taken is whether to show
the progress bar.

A sweep's directory (nrep loop|fold -m ..., stopped by a signal): its interrupted and
killed jobs are resumed, the jobs that had not started are run, and a job that cannot
be resumed (L-BFGS, a batch of replicas, killed before its first checkpoint) is run
again from its start, one job after another in this process; finished jobs are kept.
sweep_summary.csv is then written again. A signal stops it as it stopped the sweep.

options:
  --debug  show tracebacks"""

# the overrides a resumed run takes (everything else comes from the run): key -> its choices
RESUME_OVERRIDES = {"output.progress": ("on", "off", "auto")}

def parse(argv: Sequence[str]) -> argparse.Namespace:
    from nrep.cli.main import Parser

    parser = Parser(prog="nrep resume", add_help=False, allow_abbrev=False)
    parser.add_argument("-h", "--help", action="store_true")
    parser.add_argument("run_dir", nargs="?", type=Path)
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--debug", action="store_true")
    return parser.parse_args(list(argv))


def resume_overrides(overrides: Sequence[str]) -> dict[str, str]:
    """The overrides of ``nrep resume`` (only output.progress); any other is refused in one line."""
    taken = {}
    for override in overrides:
        key, _, value = override.partition("=")
        if key not in RESUME_OVERRIDES:
            raise NrepError(f"nrep resume takes the run's own config; '{override}' cannot change it "
                            f"(only {', '.join(f'{k}=' + '|'.join(v) for k, v in RESUME_OVERRIDES.items())})")
        if value not in RESUME_OVERRIDES[key]:
            raise NrepError(f"{key}={value!r} is not one of {', '.join(RESUME_OVERRIDES[key])}")
        taken[key] = value
    return taken


def interrupted_summary(run_dir: Path) -> dict:
    """The summary of an interrupted run in ``run_dir``, or a one-line error saying why not."""
    path = run_dir / "summary.json"
    if not run_dir.is_dir():
        raise NrepError(f"no such run directory: {run_dir}")
    if not path.is_file() and (run_dir / CHECKPOINT).is_file():  # killed outright after a periodic checkpoint
        from nrep.core.run.checkpoint import load_checkpoint

        about = load_checkpoint(run_dir / CHECKPOINT).get("about", {})
        return {**about, "status": "killed", "checkpoint": CHECKPOINT, "steps_total": "its last checkpoint"}
    if not path.is_file():
        raise NrepError(f"{run_dir} holds no finished or interrupted run (no summary.json); pass a run's directory")
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise NrepError(f"cannot read {path} ({error}); it is not an nrep summary") from error
    status = summary.get("status")
    if status == NOT_STARTED:  # a job of a stopped sweep: it runs now
        return summary
    if status != "interrupted":
        raise NrepError(f"{run_dir} ended with status={status}; only interrupted runs can be resumed (start a new run instead)")
    return summary


def saved_overrides(run_dir: Path) -> list[str]:
    from omegaconf import OmegaConf

    path = run_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        raise NrepError(f"{path} is missing; the run's config cannot be rebuilt, so it cannot be resumed")
    return [str(o) for o in OmegaConf.load(path)]


def setup_logging(run_dir: Path | None) -> None:
    """As a run under Hydra logs (configs/hydra/job_logging/rich.yaml), appending to RUN_DIR/nrep.log
    (None: to the console only)."""
    import logging.config

    from omegaconf import OmegaConf

    from nrep.configs.compose import config_dir

    settings = OmegaConf.load(config_dir() / "hydra" / "job_logging" / "rich.yaml")
    if run_dir is None:
        del settings.handlers["file"]
        settings.root.handlers = [h for h in settings.root.handlers if h != "file"]
    else:
        settings.handlers.file.filename = str(run_dir / "nrep.log")  # not Hydra's ${hydra.runtime.output_dir}
    logging.config.dictConfig(OmegaConf.to_container(settings))


def run_resume(argv: Sequence[str]) -> int:
    args = parse(argv)
    run_dir = args.run_dir
    if args.help:
        print(USAGE)
        return 0
    if args.debug:
        os.environ["NREP_DEBUG"] = "1"
    if run_dir is None:
        raise NrepError("nrep resume needs the directory of an interrupted run or sweep (see nrep resume --help)")
    run_dir = run_dir.resolve()
    progress = resume_overrides(args.overrides).get("output.progress")
    if is_sweep_dir(run_dir):
        return resume_sweep(run_dir, progress)
    summary = interrupted_summary(run_dir)
    if "checkpoint" not in summary and summary.get("status") != NOT_STARTED:  # L-BFGS keeps its history in scipy
        raise NrepError(f"{run_dir} was interrupted without a checkpoint (L-BFGS runs and batches of replicas have none); "
                        "start a new run")

    from nrep.core.io.locks import locked

    with locked(run_dir):  # a second nrep resume (or a run) of this directory is refused before it logs a line
        return 0 if continue_job(run_dir, summary, progress) == "ok" else 1


def is_sweep_dir(directory: Path) -> bool:
    """A sweep's directory: no run of its own, and job directories (Hydra's .hydra/ record) below it."""
    if not directory.is_dir() or (directory / SUMMARY).exists() or (directory / ".hydra").exists():
        return False
    return any((child / ".hydra").is_dir() for child in directory.iterdir() if child.is_dir())


def sweep_jobs(sweep_dir: Path) -> list[Path]:
    """The job directories of a sweep, in the order Hydra numbered them (``<num>_...``)."""
    def order(job: Path) -> tuple[int, str]:
        number = job.name.split("_", 1)[0]
        return (int(number) if number.isdigit() else 1 << 62, job.name)

    return sorted((child for child in sweep_dir.iterdir() if (child / ".hydra" / "overrides.yaml").is_file()), key=order)


def resume_sweep(sweep_dir: Path, progress: str | None) -> int:
    """Resume the interrupted jobs of a sweep, run those not started (or not resumable) again; rewrite its table."""
    from nrep.cli.sweep import sweep_outcome, sweep_stop, write_sweep_table
    from nrep.core.io.files import SWEEP_STOP
    from nrep.core.io.locks import locked
    from nrep.core.io.runs import KILLED, MISSING, read_summary, unfinished
    from nrep.core.run.record import record_failure

    with locked(sweep_dir):  # the sweep itself, or another resume of it, is refused
        statuses = {job: (read_summary(job / SUMMARY) if (job / SUMMARY).is_file() else unfinished(job)).get("status")
                    for job in sweep_jobs(sweep_dir)}
        todo = [job for job, status in statuses.items() if status in ("interrupted", NOT_STARTED, KILLED, MISSING)]
        if not todo:
            raise NrepError(f"every job of the sweep in {sweep_dir} has ended; nothing to resume "
                            f"(nrep report {sweep_dir} shows them)")
        (sweep_dir / SWEEP_STOP).unlink(missing_ok=True)
        failed = 0
        with sweep_stop(sweep_dir) as stop:
            for job in todo:
                if stop.asked():
                    break
                try:
                    with locked(job):
                        summary = {"status": MISSING} if statuses[job] == MISSING else interrupted_summary(job)
                        failed += continue_job(job, summary, progress) != "ok"
                except NrepError as error:  # this job cannot go on; the others still can
                    logging.getLogger("nrep").error("%s: %s", job.name, error)
                    record_failure(job, error, None)  # only where the job left no summary of its own
                    failed += 1
        setup_logging(None)
        table = write_sweep_table(sweep_dir)
        stopped = stop.asked()
        print(sweep_outcome(table, sweep_dir) + (f"; stopped again: nrep resume {sweep_dir} continues it" if stopped else ""))
        return 1 if failed or stopped or (table["status"] != "ok").any() else 0


def continue_job(run_dir: Path, summary: dict, progress: str | None) -> str:
    """Go on with the run in ``run_dir`` (its lock held): from its checkpoint, or, if it has none
    (not started, L-BFGS, killed before a checkpoint), from its start; its status at the end."""
    from omegaconf import OmegaConf

    from nrep.configs.compose import compose, validate
    from nrep.core.io.files import remove_run_files
    from nrep.core.run.build import show_progress
    from nrep.core.run.single import execute

    overrides = saved_overrides(run_dir)
    command = "fold" if "system=protein" in overrides else "loop"
    setup_logging(run_dir)
    log = logging.getLogger("nrep")
    started_in = Path(summary.get("working_dir") or hydra_record(run_dir, "runtime.cwd") or os.getcwd())
    if started_in.is_dir():
        os.chdir(started_in)  # the run's relative paths (a --pdb file, caches) are relative to where it started
    else:
        log.warning("the run started in %s, which is gone; its relative paths are taken from %s", started_in, os.getcwd())
    cfg = compose(overrides, command=command, with_hydra=False)
    typed = validate(cfg)
    resumable = "checkpoint" in summary
    typed.threads = summary.get("threads", typed.threads if typed.threads is not None else job_threads(run_dir))
    record = OmegaConf.to_container(cfg, resolve=True)
    bar = show_progress(progress or typed.output.progress, False)
    if resumable:
        log.info("resuming %s (interrupted at step %s)", run_dir, summary.get("steps_total"))
    else:
        log.info("%s %s from its start", "running" if summary.get("status") == NOT_STARTED else "running again", run_dir)
        remove_run_files(run_dir, keep=("nrep.log", ".hydra"))
    command_line = summary.get("command", "")
    if typed.replicas > 1:
        from nrep.core.run.batch import execute_replicas

        summaries = execute_replicas(typed, run_dir, record, bar, command_line)
        return "ok" if all(s["status"] == "ok" for s in summaries) else "not ok"
    return execute(typed, run_dir, record, bar, command_line, resume=resumable)["status"]


def hydra_record(run_dir: Path, key: str) -> Any:
    """A key of the ``hydra`` node Hydra saved for the run (``.hydra/hydra.yaml``), or None."""
    from omegaconf import OmegaConf

    path = run_dir / ".hydra" / "hydra.yaml"
    if not path.is_file():
        return None
    return OmegaConf.select(OmegaConf.load(path), f"hydra.{key}", default=None)


def job_threads(run_dir: Path) -> int | None:
    """The threads a job of a sweep got from its launcher (its config left them unset), from Hydra's record."""
    from nrep.cli.launchers import job_threads as launcher_threads

    return launcher_threads(hydra_record(run_dir, "launcher"), str(hydra_record(run_dir, "mode")) == "MULTIRUN")
