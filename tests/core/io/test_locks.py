"""One nrep process per run directory: the lock file, its owner, stale locks, and nothing left behind."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from nrep.core.errors import NrepError
from nrep.core.io import locks


def write_lock(directory, pid, host=None):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / locks.LOCK).write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(), "since": "then"}))


def test_a_lock_names_its_owner_is_reentrant_and_goes_when_released(tmp_path):
    run = tmp_path / "run"
    assert locks.acquire(run) is True
    assert locks.read_lock(run)["pid"] == os.getpid() and locks.read_lock(run)["host"] == socket.gethostname()
    assert locks.acquire(run) is False  # this process holds it already (front-end, then the run)
    locks.release(run)
    assert locks.read_lock(run) is None


def test_a_live_owner_refuses_in_one_line(tmp_path):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        write_lock(tmp_path, other.pid)
        with pytest.raises(NrepError, match=f"is in use by another nrep run \\(pid {other.pid} on ") as raised:
            locks.acquire(tmp_path)
        assert "\n" not in str(raised.value) and locks.read_lock(tmp_path)["pid"] == other.pid
    finally:
        other.kill()
        other.wait()


def test_a_stale_lock_is_taken_over(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    write_lock(tmp_path, int(gone.stdout))
    assert locks.acquire(tmp_path) is True and locks.read_lock(tmp_path)["pid"] == os.getpid()


@pytest.mark.parametrize("content", [None, "not json"])
def test_a_lock_that_cannot_be_checked_says_how_to_remove_it(tmp_path, content):
    if content is None:
        write_lock(tmp_path, 1, host="another-node")
    else:
        (tmp_path / locks.LOCK).write_text(content)
    with pytest.raises(NrepError, match=f"cannot be checked from here; .* delete {tmp_path / locks.LOCK} if no run uses it"):
        locks.acquire(tmp_path)


def test_locked_leaves_no_directory_it_made_for_nothing(tmp_path):
    with pytest.raises(NrepError, match="refused"):
        with locks.locked(tmp_path / "new"):
            assert (tmp_path / "new" / locks.LOCK).is_file()
            raise NrepError("refused")
    assert not (tmp_path / "new").exists()
    with locks.locked(tmp_path / "kept"):
        (tmp_path / "kept" / "summary.json").write_text("{}")
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == ["summary.json"]
