"""Ctrl-C and SIGTERM during a run: the first asks it to stop cleanly, the second stops at once.

A run polls :class:`InterruptRequest` before every step; when a signal has arrived it
ends with status=interrupted, writes its summary, trace, best structure and a checkpoint,
and ``nrep resume`` continues it. A second signal while that is happening raises
KeyboardInterrupt, which ends the process (exit code 130) without waiting.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from typing import Iterator

log = logging.getLogger("nrep")

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class InterruptRequest:
    """Records the first SIGINT/SIGTERM; a second one raises KeyboardInterrupt."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def __call__(self) -> bool:
        """True once a run should stop."""
        return self.signal is not None

    def handle(self, signum: int, frame: object = None) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = signum
        log.warning("%s: stopping after this step and saving a checkpoint (again to stop at once)",
                    signal.Signals(signum).name)

    @property
    def name(self) -> str | None:
        return None if self.signal is None else signal.Signals(self.signal).name


@contextlib.contextmanager
def interrupts_requested() -> Iterator[InterruptRequest]:
    """Install the handlers for the duration of the block (main thread only), then restore them.

    Off the main thread (a launcher's worker thread) Python cannot install handlers; the
    request then never fires and signals act as they did.
    """
    request = InterruptRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {sig: signal.signal(sig, request.handle) for sig in SIGNALS}
    try:
        yield request
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
