"""The signal watcher: a tiny process beside a run, for signals that arrive while it is busy in C.

Python runs a signal handler only between bytecodes, so while the run is inside one long
call into C that holds the GIL (a dense eigen-solve, part of a structure's preparation)
its handler waits, and no thread of that process can run either. This process, started
by :mod:`nrep.core.engine.interrupts` with ``python -S -I`` (standard library only, no
nrep), reads the signal numbers that the C-level handler writes to the run's wake-up
pipe at once:

- the first signal: if the run's own handler has not acknowledged it within ACK_WAIT_S
  (it writes a byte to the ack pipe when it does), say on stderr that it was received
  and that the run stops as soon as the computation returns;
- the second: if the run has not left its interruptible block within EXIT_GRACE_S (its
  end closes the wake-up pipe), end it at once (SIGKILL: it cannot run any handler).

It ignores SIGINT itself (a terminal's Ctrl-C reaches the whole process group) and ends
when the wake-up pipe closes, i.e. when the run's block ends or the run exits.

Usage: python -S -I signal_watcher.py WAKEUP_FD ACK_FD PARENT_PID
"""

import os
import select
import signal
import sys

ACK_WAIT_S = 0.5
EXIT_GRACE_S = 1.0
NAMES = {int(signal.SIGINT): "SIGINT", int(signal.SIGTERM): "SIGTERM"}


def wait_readable(fd: int, seconds: float) -> bool:
    return bool(select.select([fd], [], [], seconds)[0])


def main(wakeup_fd: int, ack_fd: int, parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    seen = 0
    while True:
        data = os.read(wakeup_fd, 64)
        if not data:  # the run's block ended (or the run exited)
            return
        for signum in data:
            if signum not in NAMES:
                continue
            seen += 1
            if seen == 1:
                if wait_readable(ack_fd, ACK_WAIT_S):
                    os.read(ack_fd, 64)  # the run said so itself
                    continue
                sys.stderr.write(f"nrep: {NAMES[signum]}: received while busy in a computation that cannot be "
                                 "interrupted; the run stops as soon as it returns (again to stop at once)\n")
                sys.stderr.flush()
            elif seen == 2:
                if wait_readable(wakeup_fd, EXIT_GRACE_S) and not os.read(wakeup_fd, 64):
                    return  # the run's handler ended it within the grace time
                sys.stderr.write("nrep: interrupted\n")
                sys.stderr.flush()
                os.kill(parent, signal.SIGKILL)
                return


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
