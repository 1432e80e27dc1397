"""Runs on disk: where they are below some directories and what their summaries say.

Reads JSON and looks at file names only (no torch, no pandas), so listing results stays
fast; ``nrep ls``, ``nrep show`` and ``nrep report`` all find runs here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from nrep.core.errors import NrepError
from nrep.core.io.files import CHECKPOINT, SUMMARY

MISSING = "missing"  # Hydra started the job (.hydra/ is there) but it wrote no summary
KILLED = "killed"  # ... and no summary, but a periodic checkpoint to resume from
UNREADABLE = "unreadable"
RUNNING = "running"  # no summary yet, and the lock's process is alive


def read_summary(path: Path) -> dict[str, Any]:
    """A run's summary.json; status=unreadable (with the reason) when it is not a JSON object."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(record, dict):
            raise ValueError("not a JSON object")
        if not isinstance(record.get("status"), str):
            raise ValueError("not an nrep summary (it has no status)")
    except (OSError, ValueError) as error:
        return {"status": UNREADABLE, "error": f"{path.name}: {error}"}
    return record


def unfinished(run_dir: Path) -> dict[str, Any]:
    """The record of a run Hydra started that wrote no summary: running (its lock's process is
    alive on this host), killed with a periodic checkpoint, or missing."""
    from nrep.core.io.locks import owner_alive, read_lock

    owner = read_lock(run_dir)
    if owner is not None and owner_alive(owner):
        return {"status": RUNNING, "error": f"running: pid {owner.get('pid')} since {owner.get('since', '?')}"}
    if (run_dir / CHECKPOINT).is_file():
        return {"status": KILLED, "error": f"no summary.json, but a periodic checkpoint: killed (or still running); "
                                           f"nrep resume {run_dir} continues it"}
    return {"status": MISSING, "error": "no summary.json: the job was killed, or is still running"}


def find_runs(directories: Iterable[Path]) -> list[dict[str, Any]]:
    """One record per run below ``directories`` (with its ``run_dir``): its summary, or
    status=missing for a job that Hydra started but that wrote no summary."""
    records: dict[Path, dict] = {}
    for directory in directories:
        directory = Path(directory)
        if not directory.is_dir():
            raise NrepError(f"{directory}: no such directory; give run or sweep directories (results/...)")
        for path in sorted(directory.rglob(SUMMARY)):
            records.setdefault(path.parent.resolve(), read_summary(path))
        for marker in sorted(directory.rglob(".hydra")):
            run_dir = marker.parent.resolve()
            has_runs_inside = any(found.is_relative_to(run_dir) for found in records)  # a batch: seed<k>/ below
            if marker.is_dir() and not has_runs_inside and not (run_dir / SUMMARY).exists():
                records[run_dir] = unfinished(run_dir)
    return [{**record, "run_dir": str(run_dir)} for run_dir, record in records.items()]
