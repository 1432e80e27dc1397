"""The protein benchmark: a tiny run end to end (its tables hold the rows asked for), and its scoring."""

import json
import math
from pathlib import Path

from nrep.core.systems.extended import peptide_pdb


def test_tiny_benchmark_writes_every_row(tmp_path, protein_bench):
    peptide = tmp_path / "AKWD.pdb"
    peptide.write_text(peptide_pdb("AKWD"))
    variants = ["gd-lbfgs", "openmm-min", "cg-adam"]
    code = protein_bench.main([
        "--proteins", f"{peptide}:1.5", "--seeds", "1", "--energies", "amber", "--variants", *variants,
        "--out", str(tmp_path / "bench"),
    ])
    assert code == 0
    [result] = list((tmp_path / "bench").glob("*/protein_bench.json"))
    data = json.loads(result.read_text())
    assert [r["variant"] for r in data["runs"]] == variants
    for run in data["runs"]:
        assert set(protein_bench.COLUMNS) <= set(run)
        assert run["status"] == "ok" and run["pdb"] == "AKWD" and run["target"] is not None
        summary = json.loads((Path(run["run_dir"]) / "summary.json").read_text())
        assert summary["cfg.time_budget_s"] == 1.5 and summary["cfg.threads"] == 1  # the equal cap, one thread
    cg = next(r for r in data["runs"] if r["variant"] == "cg-adam")
    assert cg["time_modes_s"] > 0 and cg["steps_stage1"] > 0 and cg["time_stage1_s"] > 0
    openmm = next(r for r in data["runs"] if r["variant"] == "openmm-min")
    assert openmm["time_stage2_s"] > 0 and openmm["steps_stage2"] > 0
    # the baseline that set the target reached it
    best = min((r for r in data["runs"] if r["variant"] != "cg-adam"), key=lambda r: r["energy_final"])
    assert best["time_to_target_s"] is not None
    [verdict] = data["verdicts"]
    assert verdict["rivals"] == ["gd-lbfgs", "openmm-min"]
    text = (result.parent / "protein_bench.md").read_text()
    assert text.startswith("# Protein benchmark") and "## amber, AKWD (cap 1.5 s per run)" in text
    per_seed = text.split("## Per seed")[1]
    for variant in variants:
        assert f"| {variant} |" in text.split("## Per seed")[0]
        assert f"| amber | AKWD | {variant} | 0 |" in per_seed
    # the tables again from the runs alone
    assert protein_bench.main(["--collect", str(result.parent)]) == 0
    assert json.loads(result.read_text())["runs"] == data["runs"]


def row(variant, seed, energy, curve, status="ok"):
    return {"energy_model": "amber", "pdb": "X", "variant": variant, "seed": seed, "status": status,
            "stop_reason": "converged", "energy_final": energy, "rms_force": 1.0, "rmsd_ca_A": 1.0,
            "time_method_s": curve[-1][0], "time_modes_s": 0.0, "time_stage1_s": 0.0, "time_stage2_s": curve[-1][0],
            "steps_stage1": 0, "steps_stage2": 1, "run_dir": f"{variant}{seed}", "curve": curve}


def test_targets_and_verdicts(protein_bench):
    rows = [
        row("gd-lbfgs", 0, -10.0, [(0.0, 0.0), (1.0, -10.0)]),
        row("openmm-min", 0, -12.0, [(0.0, 0.0), (0.5, -12.0)]),
        row("cg-adam", 0, -13.0, [(0.0, 0.0), (2.0, -11.9999999), (3.0, -13.0)]),
        row("gd-lbfgs", 1, -20.0, [(0.0, 0.0), (1.0, -20.0)]),
        row("openmm-min", 1, -15.0, [(0.0, 0.0), (0.5, -15.0)]),
        row("cg-adam", 1, -19.0, [(0.0, 0.0), (3.0, -19.0)]),
        row("gd-fire", 1, -30.0, [(0.0, 0.0), (9.0, -30.0)], status="diverged"),  # a failed baseline sets no target
    ]
    protein_bench.add_targets(rows)
    assert [r["target"] for r in rows[:3]] == [-12.0, -12.0, -12.0]
    assert rows[2]["time_to_target_s"] == 2.0  # within REACH_RTOL of the target
    assert rows[0]["time_to_target_s"] is None and rows[1]["time_to_target_s"] == 0.5
    assert rows[5]["target"] == -20.0 and rows[5]["time_to_target_s"] is None
    summary = protein_bench.aggregate(rows)
    [verdict] = protein_bench.verdicts(summary, rows)
    assert verdict["lowest"] == "cg-adam"  # gd-fire's lower mean comes with a diverged run
    assert verdict["beats_lbfgs_and_openmm_every_seed"] == []  # cg-adam loses seed 1 to gd-lbfgs
    rows[5]["energy_final"] = -21.0
    [verdict] = protein_bench.verdicts(protein_bench.aggregate(rows), rows)
    assert verdict["beats_lbfgs_and_openmm_every_seed"] == ["cg-adam"]


def test_a_failed_run_is_a_row_not_a_traceback(tmp_path, protein_bench):
    job = tmp_path / "runs" / "gbn2" / "2JOF" / "openmm-min" / "0_openmm_min_seed0"
    job.mkdir(parents=True)  # what nrep writes for a run that failed before its first step: its config, no results
    (job / "summary.json").write_text(json.dumps({"status": "failed", "cfg.seed": 0, "cfg.method.name": "openmm_min"}))
    (job.parent / "1_openmm_min_seed1").mkdir()  # a job that never wrote its summary
    rows, missing = protein_bench.collect(tmp_path / "runs")
    [failed] = rows
    assert (failed["pdb"], failed["seed"], failed["status"], failed["curve"]) == ("2JOF", 0, "failed", [])
    assert math.isnan(failed["energy_final"]) and failed["rms_force"] is None
    assert missing == [str(job.parent / "1_openmm_min_seed1")]
    protein_bench.add_targets(rows)
    [verdict] = protein_bench.verdicts(protein_bench.aggregate(rows), rows)
    assert verdict["lowest"] is None  # no variant with every run ok
