"""``nrep.run`` and ``nrep.load_runs``: the command line's runs and tables from Python.

``nrep.run("fold", pdb="2JOF", method="gnn", seed=1)`` is ``nrep fold --pdb 2JOF
method=gnn seed=1``: the same checks, the same directory and files (Hydra's ``.hydra/``,
``nrep.log``, the summary, trace and structures), read back as a :class:`Result`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from nrep.core.errors import NrepError

if TYPE_CHECKING:
    import pandas as pd

    from nrep.core.run.result import Result

RUN_COMMANDS = ("loop", "fold")


def run_argv(command: str, pdb: str | Path | None, chain: str | None, settings: dict[str, Any]) -> list[str]:
    """The command line's arguments after ``nrep <command>`` for these Python arguments."""
    from nrep.configs.compose import overrides_from

    if command not in RUN_COMMANDS:
        raise NrepError(f"nrep.run runs {' or '.join(RUN_COMMANDS)} (got {command!r}); for an energy of your own use nrep.minimise")
    argv: list[str] = []
    if pdb is not None or chain is not None:
        if command != "fold":
            raise NrepError('pdb= and chain= choose a protein: use nrep.run("fold", pdb=...)')
        argv += ["--pdb", str(pdb)] if pdb is not None else []
        argv += ["--chain", chain] if chain is not None else []
    return argv + overrides_from(settings)


def run(
    command: str,
    pdb: str | Path | None = None,
    method: str | dict | None = None,
    optim: str | dict | None = None,
    *,
    chain: str | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    **settings: Any,
) -> Result | list[Result]:
    """One run of ``nrep loop`` or ``nrep fold``, as on the command line; returns its :class:`Result`
    (a batch of ``replicas=B``: one per seed).

    pdb, chain: ``--pdb`` and ``--chain`` of ``nrep fold``. method, optim: an option name
    or a mapping with ``name`` and keys, as for ``nrep.minimise``. settings: any config
    key as a Python value (``system={"n": 100}``, ``stop={"max_steps": 500}``,
    ``seed=1``, ``threads=1``). out: the run's directory (default: the command line's,
    below ``output.root``); overwrite: ``--overwrite``. A sweep (``-m``) is a loop in
    Python, one call per job. Raises NrepError (one line) for bad input or a failed run.
    """
    from nrep.cli.main import launch_command
    from nrep.core.run.result import Result

    choices = {key: value for key, value in (("method", method), ("optim", optim)) if value is not None}
    argv = run_argv(command, pdb, chain, {**choices, **settings})
    if out is not None:
        argv += ["--out", str(out)]
    _, run_dir = launch_command(command, [*argv, *(["--overwrite"] if overwrite else [])])
    replicas = sorted(run_dir.glob("seed*/summary.json"), key=lambda p: int(p.parent.name.removeprefix("seed")))
    if replicas and not (run_dir / "summary.json").exists():  # replicas=B: one run per seed
        return [Result.from_run_dir(path.parent) for path in replicas]
    return Result.from_run_dir(run_dir)


def load_runs(*directories: str | Path) -> pd.DataFrame:
    """Every run below ``directories`` (default ``results``) as a table, one row per run.

    The columns are the summaries' (status, system, n_particles, method, optim, seed,
    energy_unit, energy_final_exact, ..., and the resolved config as ``cfg.*``): the table
    ``nrep report`` groups. Raises NrepError when there is no run below them.
    """
    from nrep.core.report.table import load_runs as runs_table

    return runs_table([Path(d) for d in directories or ("results",)])
