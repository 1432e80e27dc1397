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
