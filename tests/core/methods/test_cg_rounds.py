"""Adaptive CG (method.rounds): each later round's modes are those a fresh computation gives at the
structure the round before reached, and a run hands that structure from round to round."""

import dataclasses

import pytest
import torch

from nrep.configs.schema import ConfigError
from nrep.core.energy.registry import build_energy
from nrep.core.methods.mode_setup import compute_slow_modes
from nrep.core.methods.registry import build_plan
from nrep.core.run.build import build_system
from nrep.core.run.single import execute
from nrep.core.runtime import configure

ROUNDS = ["method=cg", "method.start=anchored", "method.modes.sample_kind=perturb", "energy=bond_lj", "system.n=60",
          "threads=1", "output.snapshot=false"]


def test_a_later_round_computes_the_modes_at_the_structure_handed_to_it(compose_cfg):
    cfg = compose_cfg(*ROUNDS, "method.rounds=3", "method.modes.k=12")
    system = build_system(cfg)
    energy = build_energy(cfg, system)
    plan = build_plan(cfg, system, energy, configure("cpu", "float32", 1, True))
    assert [s.name for s in plan.stages] == ["reparam", "reparam_2", "reparam_3", "coords"]
    first_modes_s = plan.times["modes"]

    x1 = (system.x0 + 0.3 * torch.randn(system.x0.shape, generator=torch.Generator().manual_seed(1))).float()
    model = plan.stages[1].model_from(x1)
    fresh = compute_slow_modes(cfg, energy, dataclasses.replace(system, x0=x1.double()))
    assert torch.equal(model.psi, fresh.psi.to(model.psi.dtype))
    assert not torch.allclose(model.psi.abs(), plan.modes.psi.float().abs(), atol=1e-3)  # the modes moved with X
    with torch.no_grad():
        assert torch.equal(model(), x1)  # the round starts where the last one ended
    assert plan.times["modes"] > first_modes_s  # its modes count as slow-mode time

    model_again = plan.stages[1].model_from(x1)  # a resumed round recomputes the same modes
    assert torch.equal(model_again.psi, model.psi)


def test_a_run_in_rounds(tmp_path, compose_cfg):
    cfg = compose_cfg(*ROUNDS, "method.rounds=2", "method.stop.max_steps=60", "stop.max_steps=40")
    summary = execute(cfg, tmp_path / "run")
    assert summary["status"] == "ok" and summary["modes_rounds"] == 2
    assert (summary["steps_reparam"], summary["steps_reparam_2"], summary["steps_coords"]) == (60, 60, 40)
    rows = (tmp_path / "run" / "trace.csv").read_text().splitlines()
    header = rows[0].split(",")
    stage, energy = header.index("stage"), header.index("energy_reduced")
    cells = [r.split(",") for r in rows[1:]]
    end_of_1 = [c for c in cells if c[stage] == "reparam"][-1]
    start_of_2 = [c for c in cells if c[stage] == "reparam_2"][0]
    assert float(start_of_2[energy]) == pytest.approx(float(end_of_1[energy]), rel=1e-5)


@pytest.mark.parametrize("overrides,message", [
    (["method.start=projection"], "needs method.start=anchored"),
    (["method.modes.sample_kind=auto"], "add method.modes.sample_kind=perturb"),
    (["method.rounds=0"], "method.rounds must be >= 1"),
])
def test_rounds_that_cannot_work_are_refused(compose_cfg, overrides, message):
    keys = tuple(o.split("=")[0] + "=" for o in overrides)
    base = [o for o in [*ROUNDS, "method.rounds=2"] if not o.startswith(keys)]
    with pytest.raises(ConfigError, match=message):
        compose_cfg(*base, *overrides)
