"""The stage loop reads values from the device at host steps only: at most one read per check interval.

On a GPU each read (``.item()``, ``float(tensor)``, ``.cpu()``) waits for the device, so
the loop must not read at every step. On the CPU the reads are counted by patching those
three methods while the run's stage loop runs; the count is of reads made by nrep's own
code (torch's optimisers read their step counters, which live on the host anyway).
"""

import math
import sys
from collections import Counter

import pytest
import torch

from nrep.core.engine.stages import Callback, host_interval
from nrep.core.run import single


@pytest.fixture
def host_reads(monkeypatch):
    """A list that collects (method, caller) for each host read from nrep during minimise()."""
    reads, counting = [], [False]

    def counted(name):
        original = getattr(torch.Tensor, name)

        def read(self, *args, **kwargs):
            caller = sys._getframe(1).f_globals.get("__name__", "")
            if counting[0] and caller.startswith("nrep."):
                reads.append((name, f"{caller}:{sys._getframe(1).f_lineno}"))
            return original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, read)

    for name in ("item", "__float__", "cpu"):
        counted(name)
    real = single.minimise

    def minimise(*args, **kwargs):
        counting[0] = True
        try:
            return real(*args, **kwargs)
        finally:
            counting[0] = False

    monkeypatch.setattr(single, "minimise", minimise)
    return reads


@pytest.mark.parametrize("method,stages", [("gd", 1), ("cg", 2), ("gnn", 2)])
def test_at_most_one_host_read_per_check_interval(tmp_path, compose_cfg, host_reads, method, stages):
    steps, check = 240, 20
    stage_one = ["method.stop.patience=1000", f"method.stop.check_every={check}"] if method != "gd" else []
    cfg = compose_cfg("system.n=60", f"method={method}", f"stop.max_total_steps={steps}", "stop.patience=1000",
                      *stage_one, f"stop.check_every={check}", "threads=1", "output.snapshot=false",
                      "output.trace_terms_every=0")
    summary = single.execute(cfg, tmp_path / "run")
    assert summary["status"] == "ok" and summary["steps_total"] == steps
    # one read per check interval, plus per stage its first step and its end (the energy and the forces there)
    allowed = steps // check + 3 * stages
    assert len(host_reads) <= allowed, Counter(host_reads)
    assert len(host_reads) >= steps // check  # the trace and the fault checks do read at host steps


def test_the_host_interval_is_the_gcd_of_what_callbacks_read():
    class Every(Callback):
        def __init__(self, k):
            self.reads_every = k

    assert host_interval([Every(20), Every(30), Every(None)]) == 10
    assert host_interval([Every(None)]) == 1 and host_interval([]) == 1
    assert host_interval([Every(20), Callback()]) == 1  # a callback that says nothing reads every step


def test_a_fault_between_host_steps_rolls_back_to_the_last_one():
    """A NaN at step 25 of a loop that reads every 10 steps: found at step 30, retried from step 20."""
    from nrep.core.engine.stages import Stage, minimise
    from nrep.core.reparam.coordinates import Coordinates

    class Reads(Callback):
        reads_every = 10

        def __init__(self):
            self.seen = []

        def on_step(self, state):
            self.seen.append((state.step, state.host))

    calls = [0]

    def energy(x):
        calls[0] += 1
        value = (x**2).sum()
        return value * math.nan if calls[0] == 26 else value

    watcher = Reads()
    stage = Stage("coords", Coordinates, lambda p: torch.optim.SGD(p, lr=1e-3), max_steps=50)
    (result,) = minimise(energy, torch.ones(4, 3, dtype=torch.float64), [stage], [watcher])
    assert result.rollbacks == 1 and result.steps == 50 and result.stop_reason == "max_steps"
    # steps 25-29 went wrong unseen; step 30's read finds it and the loop goes on from step 20's state
    assert [s for s, _ in watcher.seen] == [*range(30), *range(21, 50)]
    assert all(host == (s % 10 == 0) for s, host in watcher.seen)
    assert math.isfinite(result.energy)
