"""`make gpu-check` on the CPU at toy sizes: every path runs, twice per seed, and the table and JSON say so."""

import json
import math

from tests.benchmarks.conftest import load_script


def test_gpu_check_runs_every_path_on_the_cpu(tmp_path, capsys):
    gpu_check = load_script("gpu_check", "nrep_gpu_check")
    out = tmp_path / "gpu_check.json"
    assert gpu_check.main(["--device", "cpu", "--small", "--out", str(out)]) == 0
    found = json.loads(out.read_text())
    rows = {row["name"]: row for row in found["rows"]}
    assert set(rows) == {check.name for check in gpu_check.CHECKS} | {"host syncs, loop gd"}
    ran = [row for row in rows.values() if row["status"] == "ok"]
    assert {row["name"] for row in ran} >= {"loop gd", "loop cg", "loop gnn", "loop gd cutoff", "protein gd torch",
                                            "protein cg torch", "protein gnn torch", "protein gd openmm",
                                            "protein gd replicas"}
    assert all(row["deterministic"] is True and math.isfinite(row["step_ms"]) for row in ran)
    assert rows["loop cg cutoff"]["status"] == "skipped" and rows["host syncs, loop gd"]["status"] == "not available"
    assert found["about"]["device"] == "cpu" and found["about"]["small"] is True
    printed = capsys.readouterr().out
    assert "| loop gd cutoff | cpu | ok |" in printed


def test_a_failing_path_is_a_failed_row_and_a_non_zero_exit(tmp_path, monkeypatch):
    gpu_check = load_script("gpu_check", "nrep_gpu_check")
    monkeypatch.setattr(gpu_check, "CHECKS", [gpu_check.Check("loop broken", "loop", [], ["system.n=-3"])])
    out = tmp_path / "gpu_check.json"
    assert gpu_check.main(["--device", "cpu", "--small", "--out", str(out)]) == 1
    (row, _) = json.loads(out.read_text())["rows"]
    assert row["status"] == "failed" and "system.n" in row["note"]
