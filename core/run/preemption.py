"""Runs inside a scheduler's job: a time limit or a preemption ends in a checkpoint and a requeue.

Hydra's submitit launcher runs each job of a SLURM sweep under submitit, which asks for a
signal (SIGUSR2, or ``$SUBMITIT_PREEMPT_SIGNAL``) ``signal_delay_s`` before the time limit
and on preemption; its own handler then requeues the job (``max_num_timeout`` times for
time limits) and exits. nrep's run takes that signal first, stops at its next step and
writes its checkpoint, summary (``status=interrupted``), trace and structures; only then
is submitit's handler called, which requeues the job and ends the process. The requeued
job (SLURM sets ``SLURM_RESTART_COUNT``) finds the checkpoint in its run directory and
resumes from it, so it ends with the numbers of a run never stopped. A run that has no
checkpoint to resume from (L-BFGS, a batch of replicas) starts again from its beginning.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from typing import Iterator

from nrep.core.engine.interrupts import also_stop_on, forget_last_stop, last_stop_signal

log = logging.getLogger("nrep")

PREEMPT_SIGNAL_ENV = "SUBMITIT_PREEMPT_SIGNAL"  # submitit's own setting; USR2 unless set


def preemption_signal() -> int | None:
    """The signal submitit's job handler waits for, when this process is a submitit job on SLURM."""
    if os.environ.get("SUBMITIT_EXECUTOR") != "slurm":
        return None
    name = os.environ.get(PREEMPT_SIGNAL_ENV, "USR2").upper()
    return int(getattr(signal, name if name.startswith("SIG") else f"SIG{name}", signal.SIGUSR2))


def requeued() -> bool:
    """Whether this job is a requeued one (SLURM counts the restarts of a job)."""
    try:
        return int(os.environ.get("SLURM_RESTART_COUNT", "0")) > 0
    except ValueError:
        return False


@contextlib.contextmanager
def handed_to_scheduler() -> Iterator[None]:
    """Around one job: its run stops on the scheduler's signal, and submitit's handler runs after the run is saved.

    The handler requeues the job and exits the process (SystemExit); when it will not
    requeue (timed out too many times) it raises submitit's UncompletedJobError, which is
    logged here: the run's interrupted summary and checkpoint stay for ``nrep resume``.
    """
    sig = preemption_signal()
    if sig is None:
        yield
        return
    forget_last_stop()
    with also_stop_on(sig):
        yield
    if last_stop_signal() != sig:
        return
    handler = signal.getsignal(sig)
    if not callable(handler):
        return
    log.info("%s from the scheduler: the run is saved; handing over to submitit to requeue the job",
             signal.Signals(sig).name)
    try:
        handler(sig, None)  # requeues and exits, or raises
    except Exception as error:  # noqa: BLE001 - submitit's UncompletedJobError, without importing submitit here
        log.warning("the job is not requeued (%s); continue it with nrep resume", error)
