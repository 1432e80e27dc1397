"""``nrep resume RUN_DIR``: continue a run that Ctrl-C or SIGTERM stopped, from its checkpoint.

The run's config is composed again from the overrides Hydra saved in
``RUN_DIR/.hydra/overrides.yaml`` and must match the checkpoint's fingerprint; the run
then goes on in the same directory with the thread count it started with, so on the CPU
its numbers are those of a run that was never interrupted.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from nrep.core.errors import NrepError
from nrep.core.io.files import CHECKPOINT

if TYPE_CHECKING:
    import argparse

USAGE = """usage: nrep resume RUN_DIR [output.progress=on|off|auto] [--debug]

Continue a run stopped by Ctrl-C or SIGTERM (status=interrupted in its summary.json),
or killed outright after a periodic checkpoint (output.checkpoint_every_s; no summary),
from RUN_DIR/checkpoint.pt, in the same directory, with the same config and threads,
from the working directory it started in (its relative paths are relative to that), in
a terminal or not. The trace, best structure and final files are then those of the
whole run. The config is the run's own: the only override taken is whether to show
the progress bar.

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
    if status != "interrupted":
        raise NrepError(f"{run_dir} ended with status={status}; only interrupted runs can be resumed (start a new run instead)")
    return summary


def saved_overrides(run_dir: Path) -> list[str]:
    from omegaconf import OmegaConf

    path = run_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        raise NrepError(f"{path} is missing; the run's config cannot be rebuilt, so it cannot be resumed")
    return [str(o) for o in OmegaConf.load(path)]


def setup_logging(run_dir: Path) -> None:
    """As a run under Hydra logs (configs/hydra/job_logging/rich.yaml), appending to RUN_DIR/nrep.log."""
    import logging.config

    from omegaconf import OmegaConf

    from nrep.configs.compose import config_dir

    settings = OmegaConf.load(config_dir() / "hydra" / "job_logging" / "rich.yaml")
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
        raise NrepError("nrep resume needs the directory of an interrupted run (see nrep resume --help)")
    run_dir = run_dir.resolve()
    progress = resume_overrides(args.overrides).get("output.progress")
    summary = interrupted_summary(run_dir)
    if "checkpoint" not in summary:  # L-BFGS keeps its history inside scipy: nothing to resume from
        raise NrepError(f"{run_dir} was interrupted without a checkpoint (L-BFGS runs and batches of replicas have none); "
                        "start a new run")

    from nrep.core.io.locks import locked

    with locked(run_dir):  # a second nrep resume (or a run) of this directory is refused before it logs a line
        return resume_locked(run_dir, summary, progress)


def resume_locked(run_dir: Path, summary: dict, progress: str | None) -> int:
    """Resume the interrupted run in ``run_dir`` (its lock held)."""
    from omegaconf import OmegaConf

    from nrep.configs.compose import compose, validate
    from nrep.core.run.build import show_progress
    from nrep.core.run.single import execute

    overrides = saved_overrides(run_dir)
    command = "fold" if "system=protein" in overrides else "loop"
    setup_logging(run_dir)
    log = logging.getLogger("nrep")
    started_in = Path(summary.get("working_dir", os.getcwd()))
    if started_in.is_dir():
        os.chdir(started_in)  # the run's relative paths (a --pdb file, caches) are relative to where it started
    else:
        log.warning("the run started in %s, which is gone; its relative paths are taken from %s", started_in, os.getcwd())
    cfg = compose(overrides, command=command, with_hydra=False)
    typed = validate(cfg)
    typed.threads = summary.get("threads", typed.threads)  # the same numbers need the same thread count
    record = OmegaConf.to_container(cfg, resolve=True)
    log.info("resuming %s (interrupted at step %s)", run_dir, summary.get("steps_total"))
    bar = show_progress(progress or typed.output.progress, False)
    result = execute(typed, run_dir, record, bar, summary.get("command", ""), resume=True)
    return 0 if result["status"] == "ok" else 1
