"""Early stopping, tracing and schedules, fed with hand-made energy sequences."""

import pytest
import torch

from nrep.core.engine.callbacks import BestState, EarlyStopping, Resampler, TraceRecorder, TrajectoryRecorder
from nrep.core.engine.stages import StepState


def state(stage_step, energy, step=None, stage="coords"):
    return StepState(stage, stage_step if step is None else step, stage_step, torch.tensor(energy), torch.zeros(2, 3), 0.0)


def stop_step(stopper, energies):
    """Feed one energy per step; return the stage step at which the stopper fires (or None)."""
    stopper.on_stage_start(None, 0)
    for k, e in enumerate(energies):
        if stopper.on_step(state(k, e)) == "converged":
            return k
    return None


def test_stops_exactly_when_patience_runs_out():
    # Checks at steps 0, 5, 10, ...; the first check sets the best, then 3 checks without
    # improvement (5, 10, 15) exhaust patience 3.
    assert stop_step(EarlyStopping(check_every=5, patience=3, min_delta=0.0), [1.0] * 100) == 15


def test_improvement_resets_the_count():
    energies = [1.0] * 12 + [0.5] * 100  # at step 15 the check sees 0.5 < 1.0: reset
    assert stop_step(EarlyStopping(check_every=5, patience=3, min_delta=0.0), energies) == 30


def test_min_delta_is_respected():
    slow = [1.0 - 0.4e-3 * k for k in range(200)]  # improves 2e-3 per check of 5 steps
    # The best only moves on a real improvement, so the drift is measured from step 0:
    # 2e-3, 4e-3, 6e-3 at steps 5, 10, 15, all below min_delta 1e-2.
    assert stop_step(EarlyStopping(5, 3, min_delta=1e-2), slow) == 15
    # With min_delta 5e-3 the drift reaches 6e-3 on every third check and resets the count.
    assert stop_step(EarlyStopping(5, 3, min_delta=5e-3), slow) is None
    assert stop_step(EarlyStopping(5, 3, min_delta=1e-3), slow) is None  # counts every time
    flat_then_drop = [1.0] * 16 + [1.0 - 2e-3] * 100
    assert stop_step(EarlyStopping(5, 4, min_delta=1e-3), flat_then_drop) == 40  # reset at 20


def test_restarts_for_each_stage():
    stopper = EarlyStopping(1, 2, 0.0)
    assert stop_step(stopper, [1.0] * 10) == 2
    assert stop_step(stopper, [5.0] * 10) == 2  # a new stage's higher energy is not "worse"


def test_best_state_keeps_the_lowest():
    best = BestState()
    for k, e in enumerate([3.0, 1.0, 2.0]):
        s = state(k, e)
        s.x.fill_(e)
        best.on_step(s)
    assert best.energy == 1.0 and best.step == 1 and float(best.x[0, 0]) == 1.0


def test_trace_every_and_stage_ends():
    trace = TraceRecorder(every=10, energy_column="energy_reduced")
    for k in range(25):
        trace.on_step(state(k, float(k)))

    class Result:
        name, steps, energy, x = "coords", 25, -1.0, torch.zeros(1, 3)

    trace.on_stage_end(Result, 25, 1.0)
    assert [r["stage_step"] for r in trace.rows] == [0, 10, 20, 25]
    assert trace.rows[-1]["energy_reduced"] == -1.0


def test_trace_adds_metrics_of_the_coordinates():
    trace = TraceRecorder(every=10, energy_column="energy_kJ_mol", metrics=lambda x: {"atoms": x.shape[0]})
    trace.on_step(state(0, 5.0))
    trace.on_step(state(1, 4.0))  # not a trace step: no row, no metric
    assert trace.rows == [{"step": 0, "stage": "coords", "stage_step": 0, "time_s": 0.0, "energy_kJ_mol": 5.0, "atoms": 2}]


def test_resampler_schedule():
    class Target:
        calls = 0

        def resample(self):
            Target.calls += 1

    resampler = Resampler(Target(), every=100)
    for step in range(301):
        resampler.before_step(None, step)
    assert Target.calls == 3  # at steps 100, 200, 300; step 0 keeps the initial sample
    never = Resampler(Target(), every=0)
    for step in range(301):
        never.before_step(None, step)
    assert Target.calls == 3


def test_a_trajectory_row_says_what_each_frame_is_and_survives_a_checkpoint():
    recorder = TrajectoryRecorder(2, "energy_reduced", "rms_force_reduced", time_offset_s=1.0)
    for step in range(5):
        x = torch.full((2, 3), float(step))
        recorder.on_step(StepState("coords", step, step, torch.tensor(10.0 - step), x, 0.1 * step, torch.full((2, 3), 2.0)))
    assert [r["step"] for r in recorder.rows] == [0, 2, 4] and [r["frame"] for r in recorder.rows] == [0, 1, 2]
    # every component of the force is 2: an RMS force (over all components) of 2
    assert recorder.rows[1] == pytest.approx({"frame": 1, "step": 2, "stage": "coords", "time_s": 1.2, "energy_reduced": 8.0,
                                              "rms_force_reduced": 2.0})
    assert [float(x[0, 0]) for x in recorder.frames] == [0.0, 2.0, 4.0]
    again = TrajectoryRecorder(2, "energy_reduced", "rms_force_reduced")
    again.load_state_dict(recorder.state_dict())
    assert again.rows == recorder.rows and all(torch.equal(a, b) for a, b in zip(again.frames, recorder.frames))
    older = TrajectoryRecorder(2, "energy_reduced")  # a checkpoint written before trajectory.csv existed
    older.load_state_dict({"steps": [0, 2], "stages": ["coords"] * 2, "x": recorder.frames[:2]})
    assert [r["step"] for r in older.rows] == [0, 2] and len(older.frames) == 2
