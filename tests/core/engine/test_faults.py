"""Failed steps are rolled back and retried with a smaller step, or end the run as diverged."""

import math

import pytest
import torch

from nrep.core.engine.callbacks import BestState, EarlyStopping, TraceRecorder
from nrep.core.engine.stages import FaultPolicy, Stage, minimise, shrink_step_
from nrep.core.optim.fire import FIRE
from nrep.core.reparam.coordinates import Coordinates
from nrep.core.systems.overlaps import separate_overlaps


def adam(lr):
    return lambda params: torch.optim.Adam(params, lr=lr)


class Faulty:
    """A quadratic bowl that returns ``bad`` at the given evaluations (counted from 1)."""

    def __init__(self, at, bad=math.nan):
        self.at, self.bad, self.calls = set(at), bad, 0

    def __call__(self, x):
        self.calls += 1
        e = ((x - 1.0) ** 2).sum()
        return e * self.bad if self.calls in self.at else e


def run(energy, steps=40, policy=None, optimizer=None, callbacks=()):
    policy, optimizer = policy or FaultPolicy(), optimizer or adam(0.05)
    x0 = torch.zeros(5, 3, dtype=torch.float64)
    return minimise(energy, x0, [Stage("coords", Coordinates, optimizer, steps)], list(callbacks), policy)


def test_a_nan_step_is_rolled_back_and_retried_with_a_smaller_step():
    clean = run(Faulty([]))[-1]
    [result] = run(Faulty([10]))
    assert result.stop_reason == "max_steps" and result.rollbacks == 1 and result.steps == 40
    assert math.isfinite(result.energy) and result.energy < 15  # still descending (E(X0) = 15)
    assert not torch.equal(result.x, clean.x)  # the retried steps were smaller


def test_retries_run_out_and_the_run_ends_diverged_at_its_last_good_state():
    def walled(x):  # NaN beyond a wall at 0.5 that every descent towards 1 must cross
        e = ((x - 1.0) ** 2).sum()
        return e * math.nan if bool((x > 0.5).any()) else e

    best = BestState()
    [result] = run(walled, policy=FaultPolicy(retries=2), callbacks=[best])
    assert result.stop_reason == "diverged" and result.rollbacks == 2
    assert torch.isfinite(result.x).all() and bool((result.x <= 0.5).all())
    assert math.isfinite(result.energy) and 0 < result.steps < 40
    assert best.x is not None and best.energy == pytest.approx(result.energy)


def test_a_nan_at_the_start_ends_the_run_at_once():
    [result] = run(Faulty([1]), policy=FaultPolicy(retries=5))
    assert result.stop_reason == "diverged" and result.rollbacks == 0 and result.steps == 0


def test_an_explosion_counts_as_a_fault_unless_switched_off():
    [caught] = run(Faulty([12], bad=1e9))
    assert caught.rollbacks == 1
    [ignored] = run(Faulty([12], bad=1e9), policy=FaultPolicy(explosion_factor=None))
    assert ignored.rollbacks == 0


def test_an_infinite_gradient_is_a_fault():
    calls = {"n": 0}

    def energy(x):
        calls["n"] += 1
        e = ((x - 1.0) ** 2).sum()
        if calls["n"] == 7:  # finite energy, infinite gradient
            return e + 0.0 * torch.sqrt(x.abs()).sum() * math.inf
        return e

    [result] = run(energy)
    assert result.rollbacks == 1 and torch.isfinite(result.x).all()


def test_the_callbacks_never_see_a_failed_state():
    trace = TraceRecorder(1, "energy")
    run(Faulty([10, 11, 20]), callbacks=[trace])
    steps = [row["step"] for row in trace.rows]
    assert steps == sorted(set(steps))  # no step twice
    assert all(math.isfinite(row["energy"]) for row in trace.rows)


def test_a_rollback_restores_fire_state_and_shrinks_its_time_steps():
    [result] = run(Faulty([15]), optimizer=lambda p: FIRE(p, lr=0.05))
    assert result.rollbacks == 1 and math.isfinite(result.energy)
    fire = FIRE([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    shrink_step_(fire, 0.5)
    assert fire.dt == pytest.approx(0.05) and fire.param_groups[0]["dt_max"] == pytest.approx(0.5)


def test_repeated_rollbacks_compound_the_shrink():
    """Two faults at the same state shrink by f^2, not f (the restore must not undo the first)."""
    seen = []

    class Spy(torch.optim.SGD):
        def step(self, closure=None):
            seen.append(self.param_groups[0]["lr"])
            return super().step(closure)

    run(Faulty([6, 7]), steps=8, optimizer=lambda p: Spy(p, lr=0.1), policy=FaultPolicy(step_factor=0.5))
    assert seen[:5] == pytest.approx([0.1] * 5) and seen[5] == pytest.approx(0.025)


def test_overlapping_atoms_are_moved_apart_and_the_energy_is_finite():
    x = torch.tensor([[0.0, 0, 0], [0.0, 0, 0], [1.0, 0, 0], [1.0, 0, 0], [1.0, 0, 0]], dtype=torch.float64)
    moved_x, moved = separate_overlaps(x, seed=3)
    assert moved == 3 and torch.equal(x[0], moved_x[0])
    assert torch.pdist(moved_x).min() >= 0.01
    again, _ = separate_overlaps(x, seed=3)
    assert torch.equal(again, moved_x)  # seeded
    untouched, none = separate_overlaps(moved_x)
    assert none == 0 and untouched is moved_x


def test_early_stopping_state_survives_a_rollback():
    stop = EarlyStopping(1, 3, 0.0)
    [result] = minimise(Faulty([5]), torch.zeros(2, 3, dtype=torch.float64),
                        [Stage("coords", Coordinates, adam(0.05), 200, callbacks=[stop])], [], FaultPolicy())
    assert result.rollbacks == 1 and result.stop_reason in ("converged", "max_steps")


def test_a_run_from_a_start_with_coincident_beads_has_no_nan(compose_cfg, tmp_path, monkeypatch):
    import json

    from nrep.core.run import build as build_module
    from nrep.core.run import single as run_module

    build = build_module.build_loop

    def stacked(cfg):  # three beads on one spot
        system = build(cfg)
        x0 = system.x0.clone()
        x0[1] = x0[0]
        x0[2] = x0[0]
        return type(system)(**{**vars(system), "x0": x0})

    monkeypatch.setitem(build_module.SYSTEM_BUILDERS, "loop", stacked)
    cfg = compose_cfg("method=gd", "system.n=30", "stop.max_steps=50", "energy=bond_lj", "output.snapshot=false")
    cfg.threads = 1
    summary = run_module.execute(cfg, tmp_path / "run")
    assert summary["overlapping_atoms_moved"] == 2 and summary["status"] == "ok"
    assert math.isfinite(summary["energy_initial"]) and math.isfinite(summary["energy_final"])
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["overlapping_atoms_moved"] == 2
