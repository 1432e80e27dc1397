"""How a sweep stops as a whole: one stop request for its jobs, and a stop file for those elsewhere.

The first SIGINT/SIGTERM of a sweep writes ``SWEEP_DIR/.nrep.stop``; every job polls it
(joblib's workers are other processes), so a running job stops after its step with a
checkpoint and one not yet begun does not start (the front-end records it as
``not started``).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from nrep.core.engine.interrupts import SIGNALS, InterruptRequest, shared_interrupts
from nrep.core.io.files import SWEEP_STOP


@contextlib.contextmanager
def sweep_stop(sweep_dir: Path) -> Iterator[InterruptRequest]:
    """The sweep's one stop request for the block: the first signal writes the stop file, which every job polls."""
    stop_file = sweep_dir / SWEEP_STOP

    def write_stop_file(signum: int) -> None:
        if signum not in SIGNALS:  # a scheduler's warning to this job (time limit, preemption) is not the user's stop
            return
        with contextlib.suppress(OSError):  # the jobs of this process stop anyway; others only through the file
            stop_file.parent.mkdir(parents=True, exist_ok=True)
            stop_file.write_text(f"stopped by signal {signum}\n")

    with shared_interrupts(stop_file.exists, write_stop_file) as request:
        yield request
