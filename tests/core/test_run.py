"""A whole run in-process: files written, energies recorded, and reproducibility."""

import json
import math

import numpy as np
import pytest

from nrep.core.errors import NrepError
from nrep.core.run import execute

SMALL = ("system.n=60", "stop.max_steps=300", "threads=1")


def test_run_writes_its_results(tmp_path, compose_cfg):
    summary = execute(compose_cfg(*SMALL), tmp_path / "run")
    files = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"summary.json", "trace.csv", "final.npy", "final.xyz", "best.npy"} <= files
    on_disk = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert on_disk["status"] == "ok" and on_disk["energy_final"] == summary["energy_final"]
    assert math.isfinite(summary["energy_final"]) and summary["energy_final"] < summary["energy_initial"]
    assert summary["energy_best"] <= summary["energy_final"] + 1e-12
    parts = sum(v for k, v in summary.items() if k.startswith("energy_final_") and k != "energy_final_exact")
    assert parts == pytest.approx(summary["energy_final_exact"], rel=1e-12)
    assert summary["steps_coords"] == summary["steps_total"] <= 300
    assert summary["threads"] == 1 and summary["device"] == "cpu" and summary["dtype"] == "float32"
    assert summary["version_torch"] and summary["seed"] == 0
    assert 0 <= summary["loop_closure"] <= 1 and summary["stuck_pairs"] >= 0
    trace = (tmp_path / "run" / "trace.csv").read_text().splitlines()
    assert trace[0] == "step,stage,stage_step,time_s,energy_reduced"
    assert np.load(tmp_path / "run" / "final.npy").shape == (60, 3)


def test_same_seed_same_numbers_other_seed_other_numbers(tmp_path, compose_cfg):
    a = execute(compose_cfg(*SMALL, "seed=3"), tmp_path / "a")
    b = execute(compose_cfg(*SMALL, "seed=3"), tmp_path / "b")
    c = execute(compose_cfg(*SMALL, "seed=4"), tmp_path / "c")
    assert a["energy_final"] == b["energy_final"] and a["steps_total"] == b["steps_total"]
    assert np.array_equal(np.load(tmp_path / "a" / "final.npy"), np.load(tmp_path / "b" / "final.npy"))
    assert c["energy_initial"] != a["energy_initial"]


def test_a_run_refuses_a_used_directory(tmp_path, compose_cfg):
    execute(compose_cfg(*SMALL, "stop.max_steps=5"), tmp_path / "run")
    before = (tmp_path / "run" / "summary.json").read_text()
    with pytest.raises(NrepError, match="already holds"):
        execute(compose_cfg(*SMALL, "stop.max_steps=5", "seed=1"), tmp_path / "run")
    assert (tmp_path / "run" / "summary.json").read_text() == before
