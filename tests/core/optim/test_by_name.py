"""L-BFGS and FIRE reach exact minima; every method runs with every optimiser."""

import math

import pytest
import torch

from nrep.configs.schema import FIREConfig, LBFGSConfig
from nrep.core.energy.loop import lj_minimum_distance
from nrep.core.energy.potentials import lj_soft
from nrep.core.engine.callbacks import EarlyStopping
from nrep.core.engine.stages import Stage, minimise
from nrep.core.optim.by_name import optimizer_factory
from nrep.core.reparam.coordinates import Coordinates
from nrep.core.run.single import execute

OPTIMIZERS = {"lbfgs": LBFGSConfig(), "fire": FIREConfig()}
STIFFNESS = torch.tensor([1.0, 3.0, 10.0], dtype=torch.float64)
CENTRE = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)


def quadratic(x):
    return 0.5 * (STIFFNESS * (x - CENTRE) ** 2).sum()


def two_bead_lj(x):
    return lj_soft(torch.linalg.vector_norm(x[0] - x[1]))


def run(energy, x0, cfg, steps=3000):
    stage = Stage("coords", Coordinates, optimizer_factory(cfg), max_steps=steps, callbacks=[EarlyStopping(10, 5, 0.0)])
    return minimise(energy, x0, [stage])[0]


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_reaches_the_minimum_of_a_quadratic(name):
    x0 = torch.zeros(4, 3, dtype=torch.float64)
    result = run(quadratic, x0, OPTIMIZERS[name])
    assert torch.allclose(result.x, CENTRE.expand(4, 3), atol=1e-8)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_reaches_the_minimum_of_two_lj_beads(name):
    x0 = torch.tensor([[0.0, 0.0, 0.0], [1.6, 0.3, -0.2]], dtype=torch.float64)
    result = run(two_bead_lj, x0, OPTIMIZERS[name])
    distance = torch.linalg.vector_norm(result.x[0] - result.x[1]).item()
    assert distance == pytest.approx(lj_minimum_distance(), abs=1e-6)


def test_lbfgs_counts_its_line_search_evaluations():
    result = run(quadratic, torch.zeros(4, 3, dtype=torch.float64), OPTIMIZERS["lbfgs"])
    assert result.evaluations >= result.steps > 0


def test_fire_caps_each_step():
    x0 = torch.zeros(1, 3, dtype=torch.float64)
    steep = lambda x: 1e6 * (x - 5.0).pow(2).sum()  # noqa: E731
    stage = Stage("coords", Coordinates, optimizer_factory(FIREConfig(max_step=0.05)), max_steps=1)
    [result] = minimise(steep, x0, [stage])
    assert torch.linalg.vector_norm(result.x).item() == pytest.approx(0.05)


def test_fire_never_jumps_farther_than_max_step_on_a_stiff_energy():
    from nrep.core.engine.stages import Callback

    class Positions(Callback):
        seen = []

        def on_step(self, state):
            self.seen.append(state.x.clone())

    x0 = torch.zeros(1, 3, dtype=torch.float64)
    stiff = lambda x: 1e6 * (x - 5.0).pow(2).sum()  # noqa: E731
    stage = Stage("coords", Coordinates, optimizer_factory(FIREConfig(lr=0.01, max_step=0.05)), max_steps=300)
    positions = Positions()
    [result] = minimise(stiff, x0, [stage], [positions])
    jumps = [torch.linalg.vector_norm(b - a).item() for a, b in zip(positions.seen, positions.seen[1:])]
    assert max(jumps) <= 1.5 * 0.05 + 1e-12  # at most half a step back and one capped step per call
    assert torch.allclose(result.x, torch.full((1, 3), 5.0, dtype=torch.float64), atol=1e-3)


SMALL = ("system.n=30", "threads=1", "stop.max_steps=15", "output.snapshot=false")


@pytest.mark.parametrize("optim", ["adam", "sgd", "lbfgs", "fire"])
@pytest.mark.parametrize("method", ["gd", "cg", "gnn"])
def test_every_method_runs_with_every_optimiser(tmp_path, compose_cfg, method, optim):
    stage1 = [] if method == "gd" else ["method.stop.max_steps=15"]
    summary = execute(compose_cfg(*SMALL, f"method={method}", f"optim={optim}", *stage1), tmp_path / "run")
    assert summary["status"] == "ok" and math.isfinite(summary["energy_final_exact"])
    assert 0 < summary["steps_coords"] <= 15


def test_a_hybrid_runs_adam_on_the_reparametrisation_and_lbfgs_on_x(tmp_path, compose_cfg):
    cfg = compose_cfg(*SMALL, "method=gnn", "optim=lbfgs", "method.optim=adam", "method.stop.max_steps=15")
    summary = execute(cfg, tmp_path / "run")
    assert summary["evaluations_reparam"] == summary["steps_reparam"]  # Adam: one per step
    assert summary["evaluations_coords"] >= summary["steps_coords"]


def test_lbfgs_has_no_clamping_to_set(compose_cfg):
    from nrep.core.errors import NrepError

    with pytest.raises(NrepError, match="config key 'optim.clamp_grad' does not apply to the chosen optim option"):
        compose_cfg("optim=lbfgs", "optim.clamp_grad=0.1")


def test_time_budget_ends_the_run(tmp_path, compose_cfg):
    summary = execute(compose_cfg("system.n=30", "threads=1", "method=gd", "time_budget_s=0.3", "stop.patience=100000",
                                  "output.snapshot=false"), tmp_path / "run")
    assert summary["stop_reason"] == "time_budget" and summary["status"] == "ok"
