"""Ctrl-C and SIGTERM during a run: the first asks it to stop cleanly, the second stops at once.

A run polls :class:`InterruptRequest` before every step; when a signal has arrived it
ends with status=interrupted, writes its summary, trace, best structure and a checkpoint,
and ``nrep resume`` continues it. A second signal while that is happening raises
KeyboardInterrupt, which ends the process (exit code 130) without waiting.

A sweep stops as a whole (:func:`shared_interrupts`): the launching process holds one
request for all the jobs it runs itself, and a request can also poll a predicate (a
sweep's stop file), through which jobs running in other processes learn of the signal.

While a run is busy in one long call into C (an eigen-solve during set-up) Python's
handler cannot run; the small watcher process of ``signal_watcher.py`` then acknowledges
the first signal at once and ends the run on the second.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

log = logging.getLogger("nrep")

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_also: tuple[int, ...] = ()  # further signals that stop a run (a scheduler's warning: see also_stop_on)
_last_stop: int | None = None  # the signal that stopped the latest run of this process
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
        self._handled = 0  # signals Python's handler has seen (the second raises KeyboardInterrupt)
        self.ack_fd: int | None = None  # where the handler tells the signal watcher it has acknowledged

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
        self._handled += 1
        if self._handled > 1:
            raise KeyboardInterrupt
        global _last_stop
        self.signal = _last_stop = signum
        message = self.message if signum in SIGNALS else "the scheduler's warning: stopping after this step and saving a checkpoint"
        log.warning("%s: %s (again to stop at once)", signal.Signals(signum).name, message)
        if self.ack_fd is not None:  # the watcher need not say it
            with contextlib.suppress(OSError):
                os.write(self.ack_fd, b"a")
        if self.on_first is not None:
            self.on_first(signum)

    @property
    def name(self) -> str | None:
        return None if self.signal is None else signal.Signals(self.signal).name


@contextlib.contextmanager
def also_stop_on(*signals: int) -> Iterator[None]:
    """Runs started in the block stop cleanly on these signals too (e.g. the SIGUSR2 a scheduler
    sends before a time limit); the handler they replace is back once each run's block ends."""
    global _also
    saved = _also
    _also = tuple(dict.fromkeys((*saved, *signals)))
    try:
        yield
    finally:
        _also = saved


def last_stop_signal() -> int | None:
    """The signal that stopped the latest run of this process (None: none did)."""
    return _last_stop


def forget_last_stop() -> None:
    global _last_stop
    _last_stop = None


# The request of a sweep running in this process: its runs share it instead of installing their own.
_shared: InterruptRequest | None = None


@contextlib.contextmanager
def _installed(request: InterruptRequest) -> Iterator[InterruptRequest]:
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    with _signal_watcher() as ack_fd:
        request.ack_fd = ack_fd
        previous = {sig: signal.signal(sig, request.handle) for sig in (*SIGNALS, *_also)}
        try:
            yield request
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


@contextlib.contextmanager
def _signal_watcher() -> Iterator[int | None]:
    """Start core/engine/signal_watcher.py on a wake-up pipe; yield the fd the handler acknowledges on.

    The watcher sees every signal at once, even while this process is busy in C (see its
    docstring). Without it (it could not start) signals act only when Python runs.
    """
    import subprocess

    wakeup_read, wakeup_write = os.pipe()
    ack_read, ack_write = os.pipe()
    os.set_blocking(wakeup_write, False)
    os.set_blocking(ack_write, False)
    watcher = None
    try:
        watcher = subprocess.Popen(
            [sys.executable, "-S", "-I", str(Path(__file__).with_name("signal_watcher.py")),
             str(wakeup_read), str(ack_read), str(os.getpid())],
            pass_fds=(wakeup_read, ack_read), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        )
    except OSError as error:
        log.debug("no signal watcher (%s); signals act when Python runs", error)
    os.close(wakeup_read)
    os.close(ack_read)
    previous_fd = signal.set_wakeup_fd(wakeup_write, warn_on_full_buffer=False)
    try:
        yield ack_write if watcher is not None else None
    finally:
        signal.set_wakeup_fd(previous_fd)
        os.close(wakeup_write)  # the watcher reads the end of the pipe and exits
        os.close(ack_write)
        if watcher is not None:
            try:
                watcher.wait(timeout=5)
            except subprocess.TimeoutExpired:
                watcher.kill()


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
