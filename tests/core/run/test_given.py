"""``nrep.minimise``: nrep's methods on an energy written in Python, checked against the CLI's runs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

import nrep
from nrep.cli.main import main
from nrep.configs import load
from nrep.core.energy.registry import build_energy
from nrep.core.run.build import build_system, move_overlapping_atoms
from nrep.core.run.single import execute


def lj_cluster(x: torch.Tensor) -> torch.Tensor:
    """Exact 12-6 Lennard-Jones over every pair (epsilon = sigma = 1): written as a user would."""
    i, j = torch.triu_indices(x.shape[-2], x.shape[-2], 1)
    r = torch.linalg.vector_norm(x[..., i, :] - x[..., j, :], dim=-1)
    return (4 * (r**-12 - r**-6)).sum(-1)


@pytest.fixture(scope="module")
def cluster_start() -> torch.Tensor:
    """30 particles on a jittered cubic lattice 1.3 apart: no pair closer than ~1."""
    grid = torch.stack(torch.meshgrid(*[torch.arange(4.0)] * 3, indexing="ij"), -1).reshape(-1, 3)[:30]
    jitter = 0.1 * torch.randn(30, 3, generator=torch.Generator().manual_seed(0))
    return (1.3 * grid + jitter).double()


@pytest.mark.parametrize("method", ["gd", "cg", "gnn"])
def test_each_method_lowers_a_hand_written_energy(cluster_start, method):
    result = nrep.minimise(lj_cluster, cluster_start, method=method, stop={"max_steps": 400}, threads=1)
    assert result.status == "ok" and result.x.shape == (30, 3) and result.x.dtype == torch.float64
    assert result.energy < result.energy_initial - 10
    assert result.energy == pytest.approx(float(lj_cluster(result.x)), rel=1e-9)  # the exact energy at the final x
    assert result.energy_best <= result.energy + 1e-3  # as minimised, in float32
    stages = ["coords"] if method == "gd" else ["reparam", "coords"]
    assert list(result.stop_reasons) == stages and result.steps == result.summary["steps_total"] > 0
    assert isinstance(result.trace, pd.DataFrame) and list(result.trace["stage"].unique()) == stages
    assert result.trace["energy_arbitrary"].iloc[-1] < result.trace["energy_arbitrary"].iloc[0]
    assert result.times["total"] >= result.times["method"] > 0 and result.run_dir is None
    if method != "gd":
        assert result.summary["modes_k"] == 10 and result.times["modes"] > 0  # n // 3 modes, from autograd blocks


def nrep_energy(overrides: list[str]):
    cfg = load(overrides)
    system, _ = move_overlapping_atoms(cfg, build_system(cfg))
    return cfg, system, build_energy(cfg, system)


# the same run through `nrep loop` and through nrep.minimise: the loop's own defaults spelled out
# where the given system's differ (Hessian samples: the authors' pure_lj clouds; the loop starts)
LOOP_SAMPLES = {"sample_kind": "cloud", "sample_scales": [0.01, 0.2], "n_samples": 40}
EQUIVALENT = {
    "gd": {},
    "cg": {"modes": LOOP_SAMPLES, "start": "projection", "stop": {"max_steps": 100}},
    "gnn": {"modes": LOOP_SAMPLES, "output_init": "rescale", "stop": {"max_steps": 100}},
}


@pytest.mark.parametrize("method", ["gd", "cg", "gnn"])
def test_a_loop_energy_gives_the_numbers_of_the_nrep_loop_run(tmp_path, method):
    overrides = [f"method={method}", "system.n=60", "stop.max_steps=150", "method.stop.max_steps=100", "threads=1",
                 "output.snapshot=false", "seed=3"]
    if method == "gd":
        overrides.remove("method.stop.max_steps=100")
    cfg, system, energy = nrep_energy(overrides)
    summary = execute(cfg, tmp_path / "cli")
    result = nrep.minimise(energy, system.x0, method={"name": method, **EQUIVALENT[method]}, stop={"max_steps": 150},
                           threads=1, seed=3)
    assert result.energy == summary["energy_final_exact"] and result.steps == summary["steps_total"]
    assert result.unit == "reduced" and result.stop_reasons == {k.removeprefix("stop_reason_"): v for k, v in
                                                                 summary.items() if k.startswith("stop_reason_")}
    trace = pd.read_csv(tmp_path / "cli" / "trace.csv")
    np.testing.assert_array_equal(result.trace["energy_reduced"].to_numpy(), trace["energy_reduced"].to_numpy())
    np.testing.assert_array_equal(result.x.numpy(), np.load(tmp_path / "cli" / "final.npy"))


def cli_error(capsys, *args: str) -> str:
    assert main(["loop", *args]) == 2
    return capsys.readouterr().err.strip().removeprefix("nrep: error: ")


@pytest.mark.parametrize("settings, cli", [
    ({"stop": {"max_stepz": 5}}, ["stop.max_stepz=5"]),
    ({"stop": {"max_steps": -1}}, ["stop.max_steps=-1"]),
    ({"method": "nope"}, ["method=nope"]),
    ({"optim": {"name": "adam", "lr": "fast"}}, ["optim.lr=fast"]),
    ({"method": {"name": "cg", "modes": {"k": 0}}}, ["method=cg", "method.modes.k=0"]),
    ({"faults": {"step_factor": 2.0}}, ["faults.step_factor=2.0"]),
])
def test_a_bad_setting_raises_the_line_the_cli_prints(cluster_start, capsys, settings, cli):
    with pytest.raises(nrep.NrepError) as raised:
        nrep.minimise(lj_cluster, cluster_start, **settings)
    assert str(raised.value) == cli_error(capsys, *cli)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("energy, x0, message", [
    (lj_cluster, torch.zeros(5, 2), "x0 must have shape (n, 3)"),
    (lj_cluster, [[0.0, 0.0, float("nan")], [1.0, 0.0, 0.0]], "x0 holds NaN"),
    (lambda x: 3.0, None, "not a torch tensor"),
    (lambda x: x.sum(-1), None, "must return a scalar (got shape (30,))"),
    (lambda x: torch.tensor(float(x.detach().sum())), None, "does not depend on x through torch operations"),
    ("energy", None, "must be a callable"),
])
def test_a_bad_energy_or_start_is_one_line(cluster_start, energy, x0, message):
    with pytest.raises(nrep.NrepError, match=None) as raised:
        nrep.minimise(energy, cluster_start if x0 is None else x0, method="gd", stop={"max_steps": 5})
    assert message in str(raised.value)


def test_settings_that_a_given_system_cannot_use_are_refused(cluster_start):
    for settings, message in [
        ({"energy": "pure_lj"}, "takes the energy and x0 as its arguments"),
        ({"init": "cloud"}, "so init= does not apply"),
        ({"method": {"name": "gnn", "graph": "bonds"}}, "method.graph=bonds needs the system's bonds"),
        ({"method": {"name": "cg", "modes": {"cache": True}}}, "method.modes.cache"),
        ({"method": {"name": "cg", "modes": {"k": 31}}}, "method.modes.k=31 exceeds the 30 particles of given"),
        ({"seed": object()}, "a setting must be a number"),
    ]:
        with pytest.raises(nrep.NrepError) as raised:
            nrep.minimise(lj_cluster, cluster_start, **settings)
        assert message in str(raised.value)


def test_callbacks_see_every_step_and_can_stop_the_stage(cluster_start):
    seen = []

    def watch(state):
        seen.append((state.step, state.stage, state.energy_value))
        return "enough" if state.step >= 25 else None

    result = nrep.minimise(lj_cluster, cluster_start, method="gd", callbacks=[watch], threads=1)
    assert [s for s, _, _ in seen] == list(range(26)) and result.stop_reasons == {"coords": "enough"}
    assert seen[0][2] == pytest.approx(result.trace["energy_arbitrary"].iloc[0])


def test_a_module_energy_in_float32_and_its_unit(cluster_start):
    class Springs(torch.nn.Module):
        unit = "kJ/mol"

        def __init__(self):
            super().__init__()
            self.k = torch.nn.Parameter(torch.tensor(2.0), requires_grad=False)  # float32, like most models

        def forward(self, x):
            return self.k * ((x[1:] - x[:-1]).norm(dim=-1) - 1.0).pow(2).sum()

    result = nrep.minimise(Springs(), cluster_start, method="cg", stop={"max_steps": 300}, threads=1)
    assert result.unit == "kJ/mol" and "energy_kJ_mol" in result.trace
    assert result.energy < 0.01 * result.energy_initial


def test_out_writes_a_run_directory_that_the_tools_read(tmp_path, cluster_start, capsys):
    result = nrep.minimise(lj_cluster, cluster_start, method="gd", stop={"max_steps": 60}, threads=1,
                           out=tmp_path / "run", name="lj30")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["system"] == "lj30" and summary["energy_final_exact"] == result.energy
    assert summary["cfg.stop.max_steps"] == 60 and summary["command"] == "nrep.minimise"
    again = nrep.Result.from_run_dir(tmp_path / "run")
    assert again.energy == result.energy and torch.equal(again.x, result.x) and torch.equal(again.x_best, result.x_best)
    pd.testing.assert_frame_equal(again.trace, result.trace, check_dtype=False)
    assert main(["show", str(tmp_path / "run")]) == 0 and "lj30" in capsys.readouterr().out
    with pytest.raises(nrep.NrepError, match="already holds"):  # nothing already written is overwritten
        nrep.minimise(lj_cluster, cluster_start, method="gd", stop={"max_steps": 5}, out=tmp_path / "run")


def test_an_energy_without_second_derivatives_runs_gd_but_its_modes_are_refused_in_one_line(cluster_start):
    def pdist_lj(x):  # torch.pdist has no double backward
        r = torch.pdist(x)
        return (4 * (r**-12 - r**-6)).sum()

    assert nrep.minimise(pdist_lj, cluster_start, method="gd", stop={"max_steps": 30}, threads=1).status == "ok"
    with pytest.raises(nrep.NrepError, match="the slow modes need the energy's second derivatives") as raised:
        nrep.minimise(pdist_lj, cluster_start, method="cg", stop={"max_steps": 30}, threads=1)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("method, rel", [("cg", 1e-8), ("gnn", 1e-3)])
def test_a_batch_of_starts_runs_as_replicas_each_as_its_own_run_would(cluster_start, method, rel):
    starts = torch.stack([cluster_start + 0.05 * torch.randn(30, 3, generator=torch.Generator().manual_seed(b),
                                                             dtype=torch.float64) for b in range(3)])
    # the batch's vmapped forward rounds differently; Adam's steps on tiny gradients amplify that (to 1e-5 for the GNN)
    settings = {"method": {"name": method, "stop": {"max_steps": 60}}, "stop": {"max_steps": 20}, "threads": 1, "seed": 4,
                "device": {"dtype": "float64"}}
    batch = nrep.minimise(lj_cluster, starts, **settings)
    assert [r.summary["seed"] for r in batch] == [4, 5, 6] and {r.summary["replicas"] for r in batch} == {3}
    for b, result in enumerate(batch):
        alone = nrep.minimise(lj_cluster, starts[b], **{**settings, "seed": 4 + b})
        assert result.steps == alone.steps == 80 and result.energy == pytest.approx(alone.energy, rel=rel)
        assert result.energy_initial == alone.energy_initial and result.energy < result.energy_initial - 40
    with pytest.raises(nrep.NrepError, match="replicas=3 needs optim="):
        nrep.minimise(lj_cluster, starts, method="gd", optim="fire")
    with pytest.raises(nrep.NrepError, match="must return shape \\(3,\\)"):
        nrep.minimise(lambda x: lj_cluster(x).sum(), starts, method="gd")
