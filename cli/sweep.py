"""What happens when a sweep ends: one CSV of all its runs, and the count of those that failed.

Registered as a Hydra callback in ``configs/config.yaml``, so it runs in the launching
process whatever the launcher (the jobs themselves may have run in other processes or
on a cluster): it reads the summaries the jobs wrote.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from nrep.core.errors import NrepError

log = logging.getLogger("nrep")

SWEEP_TABLE = "sweep_summary.csv"


class SweepTable(Callback):
    """Writes ``sweep_summary.csv`` (a row per job) into the sweep directory at the end of a sweep."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from nrep.cli.app import problems
        from nrep.core.io.files import atomic_write_text
        from nrep.core.report import table as report

        sweep_dir = Path(str(config.hydra.sweep.dir))
        try:
            table = report.load_runs([sweep_dir])
        except NrepError as error:
            log.error("sweep ended without results: %s", error)
            problems.append((str(sweep_dir), "no runs"))
            return
        atomic_write_text(sweep_dir / SWEEP_TABLE, table.to_csv(index=False))
        not_ok = table[table["status"] != "ok"]
        # the jobs may have run elsewhere: the summaries, not this process, say how they ended
        problems[:] = [(run_dir, status) for run_dir, status in zip(not_ok["run_dir"], not_ok["status"])]
        log.info(
            "sweep: %d runs, %d ok%s; table in %s (nrep report %s for figures)",
            len(table), len(table) - len(not_ok), f", {report.status_counts(table['status'])}" if len(not_ok) else "",
            sweep_dir / SWEEP_TABLE, sweep_dir,
        )
