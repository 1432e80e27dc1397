"""The stage loop: max steps, stopping, clamping and the handover between stages."""

import torch
from torch import nn

from nrep.core.engine.callbacks import EarlyStopping
from nrep.core.engine.stages import Callback, Stage, minimise
from nrep.core.reparam.coordinates import Coordinates


def sgd(lr):
    return lambda params: torch.optim.SGD(params, lr=lr)


def quadratic(x):
    return (x**2).sum()


class Doubled(nn.Module):
    """X = 2 z, with z initialised so that X starts at x0: a stand-in reparametrisation."""

    def __init__(self, x0):
        super().__init__()
        self.z = nn.Parameter(x0.detach() / 2)

    def forward(self):
        return 2 * self.z


class Recorder(Callback):
    def __init__(self):
        self.first_x, self.steps = {}, []

    def on_step(self, state):
        self.first_x.setdefault(state.stage, state.x.clone())
        self.steps.append((state.stage, state.step, state.stage_step))


def test_max_steps_and_descent():
    x0 = torch.ones(4, 3, dtype=torch.float64)
    [result] = minimise(quadratic, x0, [Stage("coords", Coordinates, sgd(0.1), max_steps=7)])
    assert result.steps == 7 and result.stop_reason == "max_steps"
    assert torch.allclose(result.x, x0 * 0.8**7)  # x <- x - 0.1 * 2x each step
    assert result.energy == quadratic(result.x).item()


def test_early_stopping_on_a_flat_energy():
    flat = lambda x: (0 * x).sum()  # noqa: E731
    stage = Stage("coords", Coordinates, sgd(0.1), max_steps=1000, callbacks=[EarlyStopping(4, 3, 0.0)])
    [result] = minimise(flat, torch.ones(2, 3), [stage])
    assert result.stop_reason == "converged" and result.steps == 12


def test_gradient_clamping():
    x0 = torch.full((1, 3), 100.0, dtype=torch.float64)  # gradient 200 per entry
    [result] = minimise(quadratic, x0, [Stage("coords", Coordinates, sgd(1.0), max_steps=1, clamp_grad=0.5)])
    assert torch.allclose(result.x, x0 - 0.5)


def test_handover_keeps_x_and_counts_steps_globally():
    x0 = torch.randn(5, 3, dtype=torch.float64)
    recorder = Recorder()
    stages = [
        Stage("reparam", Doubled, sgd(0.01), max_steps=5),
        Stage("coords", Coordinates, sgd(0.01), max_steps=3),
    ]
    first, second = minimise(quadratic, x0, stages, [recorder])
    assert torch.allclose(recorder.first_x["reparam"], x0)
    assert torch.equal(recorder.first_x["coords"], first.x)  # X unchanged across the handover
    assert [s[1] for s in recorder.steps] == list(range(8))
    assert second.steps == 3 and second.energy < first.energy


def test_divergence_ends_the_run():
    class Explode(Callback):
        def on_step(self, state):
            return "diverged" if state.stage_step == 2 else None

    stages = [Stage("reparam", Doubled, sgd(0.01), 10), Stage("coords", Coordinates, sgd(0.01), 10)]
    results = minimise(quadratic, torch.ones(2, 3), stages, [Explode()])
    assert len(results) == 1 and results[0].stop_reason == "diverged" and results[0].steps == 2
