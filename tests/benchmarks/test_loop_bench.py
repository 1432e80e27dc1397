"""The loop benchmark end to end in a tiny configuration."""

import json
from pathlib import Path


def test_tiny_benchmark_writes_the_documented_columns(tmp_path, loop_bench):
    code = loop_bench.main([
        "--seeds", "2", "--sizes", "50", "--budget-s", "3", "--jobs", "1", "--energies", "pure_lj",
        "--variants", "gd-adam", "gd-lbfgs", "--out", str(tmp_path),
    ])
    assert code == 0
    [result] = list(tmp_path.glob("*/loop_bench.json"))
    data = json.loads(result.read_text())
    assert len(data["runs"]) == 4
    for run in data["runs"]:
        assert set(loop_bench.COLUMNS) <= set(run)
        assert Path(run["run_dir"], "summary.json").exists()
    gd = [s for s in data["summary"] if s["variant"] == "gd-adam"][0]
    assert gd["runs"] == 2 and gd["energy_best"] <= gd["energy_mean"]
    assert data["meta"]["targets"]["pure_lj/50"] is not None
    assert (result.parent / "loop_bench.md").read_text().startswith("# Loop benchmark")


def test_time_to_target(loop_bench):
    curve = [(0.0, 1.0), (1.0, 0.5), (2.0, 0.2)]
    assert loop_bench.time_to(curve, 0.5) == 1.0
    assert loop_bench.time_to(curve, 0.1) is None
