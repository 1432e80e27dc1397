"""An interrupted minimisation resumed from its checkpoint equals the run that was never stopped."""

import io
import signal

import pytest
import torch

from nrep.core.engine.callbacks import BestState, EarlyStopping, TraceRecorder
from nrep.core.engine.interrupts import InterruptRequest
from nrep.core.engine.stages import Stage, minimise
from nrep.core.optim.fire import FIRE
from nrep.core.reparam.coordinates import Coordinates
from tests.core.engine.test_stages import Doubled


def bumpy(x):
    return ((x - 1.0) ** 2).sum() + 0.3 * torch.cos(3 * x).sum()


def make_run(optimizer):
    """Fresh stages and callbacks, as a resumed process would build them from the config."""
    stages = [
        Stage("reparam", Doubled, optimizer, 60, callbacks=[EarlyStopping(5, 4, 1e-4)]),
        Stage("coords", Coordinates, optimizer, 80, clamp_grad=0.5, callbacks=[EarlyStopping(5, 4, 1e-6)]),
    ]
    return stages, [BestState(), TraceRecorder(7, "energy")]


def after(n):
    calls = {"n": 0}

    def interrupt():
        calls["n"] += 1
        return calls["n"] > n

    return interrupt


def through_a_file(checkpoint):
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)  # no pickle


@pytest.mark.parametrize("optimizer", [
    lambda p: torch.optim.Adam(p, lr=0.05),
    lambda p: FIRE(p, lr=0.02),
], ids=["adam", "fire"])
@pytest.mark.parametrize("stop_after", [0, 17, 60, 95])
def test_resume_equals_the_uninterrupted_run(optimizer, stop_after):
    x0 = torch.linspace(-1, 2, 12, dtype=torch.float64).reshape(4, 3)
    stages, whole_callbacks = make_run(optimizer)
    whole = minimise(bumpy, x0, stages, whole_callbacks)
    stop_after = min(stop_after, sum(r.steps for r in whole) - 2)  # within the run, whatever its length

    stages, first_callbacks = make_run(optimizer)
    stopped = minimise(bumpy, x0, stages, first_callbacks, interrupt=after(stop_after))
    assert stopped[-1].stop_reason == "interrupted" and stopped[-1].checkpoint is not None
    checkpoint = through_a_file(stopped[-1].checkpoint)

    stages, callbacks = make_run(optimizer)
    resumed = minimise(bumpy, x0, stages, callbacks, resume=checkpoint)
    assert [(r.name, r.steps, r.stop_reason) for r in resumed] == [(r.name, r.steps, r.stop_reason) for r in whole]
    assert torch.equal(resumed[-1].x, whole[-1].x)
    assert resumed[-1].energy == whole[-1].energy
    def untimed(rows):
        return [{k: v for k, v in row.items() if k != "time_s"} for row in rows]

    assert untimed(callbacks[1].rows) == untimed(whole_callbacks[1].rows)  # the trace goes on, no repeats or gaps
    assert callbacks[0].energy == whole_callbacks[0].energy and torch.equal(callbacks[0].x, whole_callbacks[0].x)


def test_a_first_signal_asks_a_second_stops_at_once():
    request = InterruptRequest()
    assert not request()
    request.handle(signal.SIGTERM)
    assert request() and request.name == "SIGTERM"
    with pytest.raises(KeyboardInterrupt):
        request.handle(signal.SIGINT)


def test_an_lbfgs_stage_stops_when_asked():
    from nrep.core.optim.lbfgs import ScipyLBFGS

    x0 = torch.linspace(-1, 2, 12, dtype=torch.float64).reshape(4, 3)
    [result] = minimise(bumpy, x0, [Stage("coords", Coordinates, ScipyLBFGS, 500)], interrupt=after(3))
    assert result.stop_reason == "interrupted" and result.steps == 3 and torch.isfinite(result.x).all()


@pytest.mark.parametrize("optimizer", [
    lambda p: torch.optim.Adam(p, lr=0.05),
    lambda p: FIRE(p, lr=0.02),
], ids=["adam", "fire"])
def test_periodic_checkpoints_change_nothing_and_each_resumes_the_run(optimizer):
    """Saved between steps while the run goes on: the run's numbers are untouched, and the run resumed from
    any saved checkpoint (a process killed after that save) ends as the run that never stopped."""
    from nrep.core.engine.stages import Checkpoints

    x0 = torch.linspace(-1, 2, 12, dtype=torch.float64).reshape(4, 3)
    stages, whole_callbacks = make_run(optimizer)
    whole = minimise(bumpy, x0, stages, whole_callbacks)
    saved = []
    stages, callbacks = make_run(optimizer)
    periodic = Checkpoints(0.0, lambda state: saved.append(through_a_file(state)))  # due before every step
    checked = minimise(bumpy, x0, stages, callbacks, checkpoints=periodic)
    assert torch.equal(checked[-1].x, whole[-1].x) and [r.steps for r in checked] == [r.steps for r in whole]
    steps = sum(r.steps for r in whole)
    assert periodic.saved == len(saved) and steps <= len(saved) <= steps + len(whole) and steps > 50  # one per step
    for checkpoint in (saved[3], saved[len(saved) // 2], saved[-2]):
        stages, callbacks = make_run(optimizer)
        resumed = minimise(bumpy, x0, stages, callbacks, resume=checkpoint)
        assert torch.equal(resumed[-1].x, whole[-1].x) and resumed[-1].energy == whole[-1].energy
        assert [(r.name, r.steps, r.stop_reason) for r in resumed] == [(r.name, r.steps, r.stop_reason) for r in whole]
