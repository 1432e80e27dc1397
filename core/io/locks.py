"""One nrep process per run directory: an ``O_EXCL`` lock file holding the owner's pid and host.

Two runs started at once into the same ``--out`` (or two ``nrep resume`` of one run)
would otherwise both write there, and one run's results would be lost. The lock is taken
before anything else is written and removed when the run ends. A lock left by a process
that no longer exists on this host (``kill -9``, a crash) is stale and taken over; one
from another host (a shared file system) cannot be checked, so the message says how to
remove it by hand. The same process may take a lock it already holds (the front-end takes
it before Hydra writes, the run again when it starts).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from pathlib import Path
from typing import Iterator

from nrep.core.errors import NrepError

LOCK = ".nrep.lock"


def _owner() -> dict[str, object]:
    return {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}


def read_lock(directory: Path) -> dict[str, object] | None:
    """The owner recorded in ``directory``'s lock, or None when there is none (an unreadable lock: pid None)."""
    try:
        text = (directory / LOCK).read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return {"pid": None, "host": None}
    try:
        owner = json.loads(text)
    except ValueError:
        return {"pid": None, "host": None}
    return owner if isinstance(owner, dict) else {"pid": None, "host": None}


def owner_alive(owner: dict[str, object]) -> bool | None:
    """Whether the lock's process still runs: True or False on this host, None when it cannot be told."""
    pid = owner.get("pid")
    if owner.get("host") != socket.gethostname() or not isinstance(pid, int):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _create(path: Path) -> bool:
    # The owner is written to a private file first and then hard-linked into place, which
    # fails if the lock exists: a rival never sees a lock file that is there but still empty.
    draft = path.with_name(f"{LOCK}.{os.getpid()}.{time.monotonic_ns()}")
    try:
        draft.write_text(json.dumps(_owner()))
    except OSError as error:  # a read-only or full place: nothing can be written there
        draft.unlink(missing_ok=True)
        raise NrepError(f"cannot write into the run directory {path.parent} ({error.strerror or error}); "
                        "make it writable or choose another --out") from None
    try:
        os.link(draft, path)
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: exclusive creation, written after
        try:
            handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(handle, "w") as lock:
            lock.write(draft.read_text())
    finally:
        draft.unlink(missing_ok=True)
    return True


def acquire(directory: Path) -> bool:
    """Take ``directory``'s lock (creating the directory); False when this process holds it already.

    Raises NrepError (one line) when another live process holds it.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # a file of that name, a file above it, a read-only place
        raise NrepError(f"cannot make the run directory {directory} ({error.strerror or error}); "
                        "choose another --out") from None
    path = directory / LOCK
    for _ in range(2):  # a stale lock is removed once, then taken like a free one
        if _create(path):
            return True
        owner = read_lock(directory) or {}
        if owner.get("pid") == os.getpid() and owner.get("host") == socket.gethostname():
            return False
        alive = owner_alive(owner)
        if alive is False:
            path.unlink(missing_ok=True)
            continue
        who = f"pid {owner.get('pid')} on {owner.get('host')}, since {owner.get('since', '?')}"
        if alive is None:
            raise NrepError(f"{directory} is locked by another nrep run ({who}), which cannot be checked from here; "
                            f"wait for it, choose another --out, or delete {path} if no run uses it")
        raise NrepError(f"{directory} is in use by another nrep run ({who}); wait for it to end or choose another --out")
    raise NrepError(f"cannot take the lock {path}: it keeps coming back; another nrep run is starting there")


def release(directory: Path) -> None:
    """Remove ``directory``'s lock if this process holds it."""
    owner = read_lock(directory)
    if owner is not None and owner.get("pid") == os.getpid() and owner.get("host") == socket.gethostname():
        (directory / LOCK).unlink(missing_ok=True)


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold ``directory``'s lock for the block (released at its end if this block took it).

    A directory the lock created is removed again if nothing else was written into it
    (a run refused before it started leaves nothing behind).
    """
    existed = directory.exists()
    took = acquire(directory)
    try:
        yield
    finally:
        if took:
            release(directory)
            if not existed:
                with contextlib.suppress(OSError):
                    directory.rmdir()  # only if empty
