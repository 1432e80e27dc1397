"""A sweep as a whole: its stop on the first signal, and its table of all runs at the end.

The table callback is registered as a Hydra callback in ``configs/config.yaml``, so it
runs in the launching process whatever the launcher (the jobs themselves may have run in
other processes or on a cluster): it reads the summaries the jobs wrote.

The stop (``core/run/stopping.py``): the first SIGINT/SIGTERM of a sweep writes ``SWEEP_DIR/.nrep.stop``. Every job
polls that file (so jobs in other processes, joblib's workers, learn of it too): a
running job stops after its step with a checkpoint, one not yet begun records
``status=not started`` and does not run, and ``nrep resume SWEEP_DIR`` continues them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from nrep.core.errors import NrepError
from nrep.core.io.files import SWEEP_STOP
from nrep.core.run.stopping import sweep_stop

__all__ = ["SWEEP_TABLE", "SweepTable", "sweep_outcome", "sweep_stop", "write_sweep_table"]

log = logging.getLogger("nrep")

SWEEP_TABLE = "sweep_summary.csv"


def write_sweep_table(sweep_dir: Path) -> Any:
    """Write ``sweep_summary.csv`` (a row per job) and return the table (raises NrepError when no job has a record)."""
    from nrep.core.io.files import atomic_write_text
    from nrep.core.report import table as report

    table = report.load_runs([sweep_dir])
    atomic_write_text(sweep_dir / SWEEP_TABLE, table.to_csv(index=False))
    return table


def sweep_outcome(table: Any, sweep_dir: Path) -> str:
    """One line: how many runs, how many ok, the others by status, where the table is."""
    from nrep.core.report import table as report

    not_ok = table[table["status"] != "ok"]
    counts = f", {report.status_counts(not_ok['status'])}" if len(not_ok) else ""
    return f"sweep: {len(table)} runs, {len(table) - len(not_ok)} ok{counts}; table in {sweep_dir / SWEEP_TABLE}"


class SweepTable(Callback):
    """Writes ``sweep_summary.csv`` (a row per job) into the sweep directory at the end of a sweep."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from nrep.cli.app import problems

        sweep_dir = Path(str(config.hydra.sweep.dir))
        try:
            table = write_sweep_table(sweep_dir)
        except NrepError as error:
            log.error("sweep ended without results: %s", error)
            problems.append((str(sweep_dir), "no runs"))
            return
        not_ok = table[table["status"] != "ok"]
        # the jobs may have run elsewhere: the summaries, not this process, say how they ended
        problems[:] = [(run_dir, status) for run_dir, status in zip(not_ok["run_dir"], not_ok["status"])]
        stopped = (sweep_dir / SWEEP_STOP).exists()
        log.info("%s (%s)", sweep_outcome(table, sweep_dir),
                 f"stopped: nrep resume {sweep_dir} continues it" if stopped else f"nrep report {sweep_dir} for figures")
