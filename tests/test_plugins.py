"""A new energy model and a new method, registered from this module without editing nrep, compose through
``nrep.configs.load`` and run through the engine like the built-in ones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest
import torch
from torch import nn

from nrep.configs import load
from nrep.configs.schema import EnergyConfig, MethodConfig, register_option
from nrep.core.energy.registry import register_energy
from nrep.core.engine.stages import Stage
from nrep.core.methods.plans import MethodPlan
from nrep.core.methods.registry import Method, register_method
from nrep.core.reparam.coordinates import Coordinates
from nrep.core.run.single import execute


@dataclass
class SpringsConfig(EnergyConfig):
    """k/2 Σ (r - r0)² over a loop's bonds (reduced units)."""

    systems: ClassVar[tuple[str, ...]] = ("loop",)
    name: str = "springs"
    k: float = 2.0
    r0: float = 1.5


class Springs(nn.Module):
    unit = "reduced"

    def __init__(self, bonds: torch.Tensor, k: float, r0: float) -> None:
        super().__init__()
        self.register_buffer("bonds", bonds)
        self.k, self.r0 = k, r0

    def exact_terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        r = torch.linalg.vector_norm(x[..., self.bonds[:, 0], :] - x[..., self.bonds[:, 1], :], dim=-1)
        return {"springs": 0.5 * self.k * ((r - self.r0) ** 2).sum(-1)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.exact_terms(x)["springs"]


@dataclass
class FixedStepsConfig(MethodConfig):
    """Plain SGD on the coordinates for exactly ``steps`` steps (no early stopping)."""

    name: str = "fixed_steps"
    lr: float = 0.05
    steps: int = 40


def plan_fixed_steps(cfg, system, energy, runtime) -> MethodPlan:
    method = cfg.method
    stage = Stage("coords", Coordinates, lambda params: torch.optim.SGD(params, lr=method.lr), method.steps)
    return MethodPlan([stage], optimiser="sgd")


@pytest.fixture(scope="module", autouse=True)
def plugins():
    register_option("energy", "springs", SpringsConfig)
    register_energy("springs", lambda cfg, system: Springs(system.bonds, cfg.energy.k, cfg.energy.r0))
    register_option("method", "fixed_steps", FixedStepsConfig)
    register_method("fixed_steps", Method(plan_fixed_steps))


def test_a_registered_energy_and_method_run_through_the_engine(tmp_path):
    cfg = load(["energy=springs", "energy.k=3.0", "method=fixed_steps", "method.steps=25", "system.n=30", "threads=1"])
    assert isinstance(cfg.energy, SpringsConfig) and cfg.energy.k == 3.0 and cfg.method.steps == 25
    summary = execute(cfg, tmp_path / "run")
    assert summary["status"] == "ok" and summary["method"] == "fixed_steps" and summary["optim"] == "sgd"
    assert summary["steps_total"] == 25 and summary["energy_final"] < summary["energy_initial"]
    # the recorded energy is the model's, at the recorded coordinates
    x = torch.from_numpy(np.load(tmp_path / "run" / "final.npy"))
    bonds = torch.stack([torch.arange(29), torch.arange(1, 30)], dim=1)
    expected = float(Springs(bonds, 3.0, 1.5)(x.to(torch.float64)))
    assert summary["energy_final_exact"] == pytest.approx(expected, rel=1e-6)


def test_a_plugin_option_is_validated_like_a_built_in_one():
    from nrep.core.errors import NrepError

    with pytest.raises(NrepError, match="energy.kk"):
        load(["energy=springs", "energy.kk=3.0"])
