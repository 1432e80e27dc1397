"""nrep's run table: collecting summaries, grouping over seeds, counting failures."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from nrep.core.errors import NrepError
from nrep.core.report import table as report


def write_run(directory: Path, status: str = "ok", trace: list[dict] | None = None, **fields) -> Path:
    """A run directory with a summary.json like nrep writes (a loop run unless told otherwise)."""
    directory.mkdir(parents=True)
    (directory / ".hydra").mkdir()
    cfg = {"cfg.system.name": "loop", "cfg.system.n": 50, "cfg.energy.name": "pure_lj", "cfg.method.name": "gd",
           "cfg.optim.name": "adam", "cfg.optim.lr": 0.01, "cfg.seed": 0, "cfg.output.root": str(directory.parent),
           "cfg.method.hidden_dims": None}
    record = {"status": status, "system": "loop", "n_particles": 50, "energy_model": "pure_lj", "energy_unit": "reduced",
              "method": "gd", "optim": "adam", "seed": 0, "energy_final_exact": 1.0, "time_method_s": 1.0, "steps_total": 10}
    record.update(cfg)
    record.update(fields)
    if status == "failed":
        record = {k: v for k, v in record.items() if k.startswith("cfg.") or k == "status"} | {"error": "NrepError: boom"}
    (directory / "summary.json").write_text(json.dumps(record))
    if trace is not None:
        pd.DataFrame(trace).to_csv(directory / "trace.csv", index=False)
    return directory


@pytest.fixture
def sweep(tmp_path):
    """Two learning rates x three seeds of gd, one seed failed, one job that never finished."""
    root = tmp_path / "sweep"
    energies = {0.01: [1.0, 2.0, 4.0], 0.001: [3.0, 5.0, None]}
    for lr, values in energies.items():
        for seed, energy in enumerate(values):
            name = f"lr{lr}_seed{seed}"
            if energy is None:
                write_run(root / name, status="failed", **{"cfg.optim.lr": lr, "cfg.seed": seed})
            else:
                write_run(root / name, energy_final_exact=energy, time_method_s=10.0 * energy, seed=seed,
                          **{"cfg.optim.lr": lr, "cfg.seed": seed})
    (root / "killed" / ".hydra").mkdir(parents=True)
    return root


def test_runs_are_collected_with_failed_and_unfinished_jobs(sweep):
    table = report.load_runs([sweep])
    assert len(table) == 7
    assert sorted(table["status"]) == ["failed", "missing", "ok", "ok", "ok", "ok", "ok"]
    # the same directory given twice (or nested) counts each run once
    assert len(report.load_runs([sweep, sweep / "lr0.01_seed0"])) == 7


def test_groups_keep_learning_rates_apart_and_average_only_ok_runs(sweep):
    table = report.load_runs([sweep])
    table = table[table["status"] != "missing"]
    keys = report.group_keys(table)
    assert keys == ["cfg.optim.lr"]  # the seed and output.root differ too, but do not group
    groups = report.summarise(table, keys).set_index("cfg.optim.lr")
    fast, slow = groups.loc[0.01], groups.loc[0.001]
    assert (fast["runs"], fast["ok"], fast["not_ok"]) == (3, 3, "")
    assert fast["energy_reduced_mean"] == pytest.approx(7 / 3)
    assert fast["energy_reduced_std"] == pytest.approx(pd.Series([1.0, 2.0, 4.0]).std())
    assert fast["energy_reduced_best"] == 1.0
    assert fast["time_s_mean"] == pytest.approx(70 / 3)
    assert (slow["runs"], slow["ok"], slow["not_ok"]) == (3, 2, "1 failed")
    assert slow["energy_reduced_mean"] == pytest.approx(4.0)  # the failed run is counted, not averaged
    assert slow["energy_reduced_std"] == pytest.approx(math.sqrt(2.0))


def test_one_run_has_no_std(tmp_path):
    write_run(tmp_path / "a", energy_final_exact=-3.0)
    groups = report.summarise(report.load_runs([tmp_path]))
    assert groups["energy_reduced_mean"].item() == -3.0 and math.isnan(groups["energy_reduced_std"].item())


def test_keys_that_follow_from_another_are_not_shown(tmp_path):
    write_run(tmp_path / "gd", **{"cfg.method.name": "gd"})
    write_run(tmp_path / "gnn", method="gnn", **{"cfg.method.name": "gnn", "cfg.method.hidden_dims": [16, 8]})
    write_run(tmp_path / "gnn_lr", method="gnn", **{"cfg.method.name": "gnn", "cfg.method.hidden_dims": [16, 8], "cfg.optim.lr": 0.1})
    table = report.load_runs([tmp_path])
    keys = report.group_keys(table)
    assert set(keys) == {"cfg.method.name", "cfg.method.hidden_dims", "cfg.optim.lr"}
    assert report.independent_keys(table, keys) == ["cfg.method.name", "cfg.optim.lr"]
    assert len(report.summarise(table, keys)) == 3
    labels = sorted(report.label_runs(table)["label"])
    assert labels == ["gd optim.lr=0.01", "gnn optim.lr=0.01", "gnn optim.lr=0.1"]


def test_no_runs_and_no_directory_are_one_line_errors(tmp_path):
    with pytest.raises(NrepError, match="no runs below"):
        report.load_runs([tmp_path])
    with pytest.raises(NrepError, match="no such directory"):
        report.load_runs([tmp_path / "nowhere"])


def test_an_unreadable_summary_is_counted(tmp_path):
    write_run(tmp_path / "ok")
    (tmp_path / "cut").mkdir()
    (tmp_path / "cut" / "summary.json").write_text('{"status": "ok", "energy')
    table = report.load_runs([tmp_path])
    assert sorted(table["status"]) == ["ok", "unreadable"]


def test_a_report_never_writes_over_other_files(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(NrepError, match="not an nrep report"):
        report.check_report_dir(tmp_path)
    report.check_report_dir(tmp_path / "new")  # empty or absent: fine


def test_an_optimiser_the_method_does_not_use_is_left_out(tmp_path):
    write_run(tmp_path / "gd", **{"cfg.optim.name": "adam"})
    write_run(tmp_path / "openmm", method="openmm_min", optim=None, **{"cfg.method.name": "openmm_min", "cfg.optim.name": "adam"})
    table = report.load_runs([tmp_path])
    assert sorted(report.label_runs(table)["label"]) == ["gd", "openmm_min"]
    assert pd.isna(table.set_index("method").loc["openmm_min", "cfg.optim.name"])


def test_loop_closure_is_averaged_like_the_energy(tmp_path):
    write_run(tmp_path / "a", loop_closure=0.5)
    write_run(tmp_path / "b", loop_closure=1.0, **{"cfg.seed": 1})
    groups = report.summarise(report.load_runs([tmp_path]))
    assert groups["closure_mean"].item() == pytest.approx(0.75)


def test_each_group_says_why_its_runs_stopped(tmp_path):
    write_run(tmp_path / "a", stop_reason="converged")
    write_run(tmp_path / "b", stop_reason="max_steps", **{"cfg.seed": 1})
    write_run(tmp_path / "c", stop_reason="converged", **{"cfg.seed": 2})
    groups = report.summarise(report.load_runs([tmp_path]))
    assert groups["stop_reasons"].item() == "converged 2, max_steps 1"
