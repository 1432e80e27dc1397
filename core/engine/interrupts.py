"""Ctrl-C and SIGTERM during a run: the first asks it to stop cleanly, the second stops at once.

A run polls :class:`InterruptRequest` before every step; when a signal has arrived it
ends with status=interrupted, writes its summary, trace, best structure and a checkpoint,
and ``nrep resume`` continues it. A second signal while that is happening raises
KeyboardInterrupt, which ends the process (exit code 130) without waiting.

A sweep stops as a whole (:func:`shared_interrupts`): the launching process holds one
request for all the jobs it runs itself, and a request can also poll a predicate (a
sweep's stop file), through which jobs running in other processes learn of the signal.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from typing import Callable, Iterator

log = logging.getLogger("nrep")

SIGNALS = (signal.SIGINT, signal.SIGTERM)
POLL_EVERY_S = 0.25  # how often a polled predicate is asked (a file's existence: cheap, but not every step)


class InterruptRequest:
    """Records the first SIGINT/SIGTERM; a second one raises KeyboardInterrupt.

    ``polled()``, if given, is asked too (at most every POLL_EVERY_S): True stops the run
    as a signal would. ``on_first(signum)`` is called once, on the first signal.
    """

    def __init__(self, polled: Callable[[], bool] | None = None, on_first: Callable[[int], None] | None = None,
                 message: str = "stopping after this step and saving a checkpoint") -> None:
        self.signal: int | None = None
        self.polled, self.on_first, self.message = polled, on_first, message
        self._next_poll = 0.0

    def __call__(self) -> bool:
        """True once a run should stop."""
        if self.signal is not None:
            return True
        if self.polled is not None and time.monotonic() >= self._next_poll:
            self._next_poll = time.monotonic() + POLL_EVERY_S
            if self.polled():
                self.signal = signal.SIGTERM  # as if signalled: a stop asked for from outside this process
                log.warning("the sweep was asked to stop: stopping after this step and saving a checkpoint")
                return True
        return False

    def asked(self) -> bool:
        """Whether a stop was asked for (a signal, or ``polled()`` now), without acting on it."""
        return self.signal is not None or (self.polled is not None and self.polled())

    def handle(self, signum: int, frame: object = None) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = signum
        log.warning("%s: %s (again to stop at once)", signal.Signals(signum).name, self.message)
        if self.on_first is not None:
            self.on_first(signum)

    @property
    def name(self) -> str | None:
        return None if self.signal is None else signal.Signals(self.signal).name


# The request of a sweep running in this process: its runs share it instead of installing their own.
_shared: InterruptRequest | None = None


@contextlib.contextmanager
def _installed(request: InterruptRequest) -> Iterator[InterruptRequest]:
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {sig: signal.signal(sig, request.handle) for sig in SIGNALS}
    try:
        yield request
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def interrupts_requested(polled: Callable[[], bool] | None = None) -> Iterator[InterruptRequest]:
    """Install the handlers for the duration of the block (main thread only), then restore them.

    Inside :func:`shared_interrupts` the sweep's request is used as it is. Off the main
    thread (a launcher's worker thread) Python cannot install handlers; the request then
    fires only through ``polled`` and signals act as they did.
    """
    if _shared is not None:
        yield _shared
        return
    with _installed(InterruptRequest(polled)) as request:
        yield request


@contextlib.contextmanager
def shared_interrupts(polled: Callable[[], bool] | None = None,
                      on_first: Callable[[int], None] | None = None) -> Iterator[InterruptRequest]:
    """One request for every run started in the block (a sweep): after the first signal each
    running run stops at its next step, and the caller starts no further one. Nested, the
    outer request is the one used."""
    global _shared
    if _shared is not None:  # a job of a sweep that this process launched: the sweep's request already holds
        yield _shared
        return
    request = InterruptRequest(polled, on_first, "stopping the sweep: its running jobs stop after their step "
                                                 "and save a checkpoint, no further job starts")
    with _installed(request):
        _shared = request
        try:
            yield request
        finally:
            _shared = None
