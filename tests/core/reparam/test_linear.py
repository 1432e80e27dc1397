"""Linear CG: X = Psi Z."""

import torch

from nrep.core.engine.stages import Stage, minimise
from nrep.core.reparam.coordinates import Coordinates
from nrep.core.reparam.linear import LinearModes, projected_start


def orthonormal(n, k, seed=0):
    a = torch.randn(n, k, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return torch.linalg.qr(a)[0]


def test_all_modes_represent_any_x_exactly():
    x0 = torch.randn(20, 3, dtype=torch.float64)
    model = LinearModes(orthonormal(20, 20), x0)
    assert torch.allclose(model(), x0, atol=1e-12)


def test_fewer_modes_give_the_rescaled_projection():
    x0 = torch.randn(30, 3, dtype=torch.float64)
    psi = orthonormal(30, 5)
    x = LinearModes(psi, x0)()
    projection = psi @ psi.T @ x0
    assert torch.allclose(x, projection * x0.std() / projection.std())
    assert torch.isclose(x.std(), x0.std())
    assert torch.allclose(projected_start(psi, x0), psi.T @ x)


def test_cg_then_coordinates_hands_over_x_unchanged():
    x0 = torch.randn(16, 3, dtype=torch.float64)
    psi = orthonormal(16, 4)
    seen = {}

    class FirstX:
        def on_stage_start(self, stage, step):
            pass

        def before_step(self, stage, step):
            pass

        def on_step(self, state):
            seen.setdefault(state.stage, state.x.clone())

        def on_stage_end(self, result, step, elapsed):
            seen[result.name + "_end"] = result.x.clone()

    sgd = lambda params: torch.optim.SGD(params, lr=0.05)  # noqa: E731
    energy = lambda x: ((x - 1.0) ** 2).sum()  # noqa: E731
    stages = [Stage("reparam", lambda x: LinearModes(psi, x), sgd, 10), Stage("coords", Coordinates, sgd, 5)]
    minimise(energy, x0, stages, [FirstX()])
    assert torch.equal(seen["coords"], seen["reparam_end"])
    # stage 1 moves only within the span of Psi
    moved = seen["reparam_end"] - seen["reparam"]
    assert torch.allclose(psi @ (psi.T @ moved), moved, atol=1e-12)
