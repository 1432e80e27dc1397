"""Finding runs on disk and telling how a run without a summary stands."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from nrep.core.io import runs
from tests.core.io.test_locks import write_lock


def test_a_run_without_a_summary_is_running_killed_or_missing(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    for name in ("running", "killed", "missing"):
        (tmp_path / name / ".hydra").mkdir(parents=True)
    write_lock(tmp_path / "running", os.getpid())  # a live process holds it
    write_lock(tmp_path / "killed", int(gone.stdout))  # its process is gone: a stale lock
    (tmp_path / "killed" / "checkpoint.pt").write_bytes(b"")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "summary.json").write_text(json.dumps({"loss": 1}))
    found = {os.path.basename(r["run_dir"]): r["status"] for r in runs.find_runs([tmp_path])}
    assert found == {"running": "running", "killed": "killed", "missing": "missing", "foreign": "unreadable"}
