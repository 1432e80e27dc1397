"""The interrupt request: signals, a polled stop, and one request shared by a sweep's runs."""

import os
import signal

import pytest

from nrep.core.engine import interrupts
from nrep.core.engine.interrupts import InterruptRequest, interrupts_requested, shared_interrupts


def test_a_polled_stop_fires_like_a_signal(monkeypatch):
    monkeypatch.setattr(interrupts, "POLL_EVERY_S", 0.0)
    asked = []
    request = InterruptRequest(polled=lambda: bool(asked))
    assert not request() and not request.asked()
    asked.append(True)
    assert request.asked() and request() and request.name == "SIGTERM"


def test_runs_inside_a_sweep_share_its_request_and_the_first_signal_is_reported_once():
    seen = []
    with shared_interrupts(on_first=seen.append) as sweep:
        with interrupts_requested() as run, shared_interrupts() as nested:
            assert run is sweep and nested is sweep
            os.kill(os.getpid(), signal.SIGTERM)
            assert run() and sweep.asked()
        assert seen == [signal.SIGTERM]
        with pytest.raises(KeyboardInterrupt):  # a second signal stops at once
            os.kill(os.getpid(), signal.SIGINT)
    with interrupts_requested() as alone:  # after the sweep: a run has its own request again
        assert alone is not sweep and not alone()


# One call into C that runs for seconds without returning to Python (summing a range of n
# integers, about 10 ns each), as a dense eigen-solve during set-up does: Python's own
# handler cannot run during it.
BUSY_IN_C = """
import time
from nrep.core.engine.interrupts import interrupts_requested
with interrupts_requested() as request:
    print("busy", flush=True)
    started = time.perf_counter()
    sum(range({n}))
    print(f"returned after {{time.perf_counter() - started:.1f}} s, signal {{request.signal}}", flush=True)
"""


def busy_process(n):
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-c", BUSY_IN_C.format(n=n)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "busy"
    return process


def test_a_signal_during_a_long_call_into_c_is_acknowledged_at_once_and_acted_on_after_it():
    import time

    process = busy_process(2 * 10**8)  # about 2 s here
    time.sleep(0.2)
    sent = time.perf_counter()
    process.send_signal(signal.SIGTERM)
    acknowledged = process.stderr.readline()
    waited = time.perf_counter() - sent
    out, _ = process.communicate(timeout=120)
    assert "SIGTERM: received while busy" in acknowledged and waited < 1.5, (acknowledged, waited)
    assert process.returncode == 0 and f"signal {int(signal.SIGTERM)}" in out  # the run then sees it as usual


def test_a_second_signal_during_a_long_call_into_c_ends_the_process_at_once():
    import time

    process = busy_process(10**11)  # minutes, unless ended
    time.sleep(0.2)
    sent = time.perf_counter()
    process.send_signal(signal.SIGINT)
    time.sleep(0.7)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert time.perf_counter() - sent < 5 and process.returncode == -signal.SIGKILL
    assert err.strip().splitlines()[-1] == "nrep: interrupted"
