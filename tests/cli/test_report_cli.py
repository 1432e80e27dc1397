"""`nrep report DIR...`: the table on screen, the files, and its one-line errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from nrep.cli.main import main
from tests.conftest import problems


def write_summary(directory, method, seed, energy, status="ok"):
    directory.mkdir(parents=True)
    record = {"status": status, "system": "loop", "n_particles": 50, "energy_model": "pure_lj", "energy_unit": "reduced",
              "method": method, "seed": seed, "energy_final_exact": energy, "time_method_s": 2.0, "steps_total": 100,
              "cfg.method.name": method, "cfg.seed": seed, "cfg.system.name": "loop"}
    (directory / "summary.json").write_text(json.dumps(record))
    pd.DataFrame({"step": [0, 100], "stage": "coords", "time_s": [0.0, 2.0], "energy_reduced": [5.0, energy]}).to_csv(
        directory / "trace.csv", index=False)


def test_report_prints_the_table_and_writes_tables_and_figures(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    for seed, (gd, gnn) in enumerate([(1.0, 0.5), (3.0, 0.7)]):
        write_summary(tmp_path / "runs" / f"gd{seed}", "gd", seed, gd)
        write_summary(tmp_path / "runs" / f"gnn{seed}", "gnn", seed, gnn)
    write_summary(tmp_path / "runs" / "gnn2", "gnn", 2, 99.0, status="diverged")
    assert main(["report", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert "2 ± 1.4" in out and "0.6 ± 0.14" in out  # means ± std over seeds
    assert "2/3" in out and "1 diverged" in out
    report = tmp_path / "runs" / "report"
    names = {p.name for p in report.iterdir()}
    assert {"runs.csv", "summary.csv", "summary.md", "speedup.csv", "energy_vs_time.png", "energy_vs_time.pdf",
            "energy_vs_iteration.png", "speedup_vs_energy.pdf"} <= names
    summary = pd.read_csv(report / "summary.csv").set_index("cfg.method.name")
    assert summary.loc["gnn", "runs"] == 3 and summary.loc["gnn", "ok"] == 2
    assert summary.loc["gnn", "energy_mean"] == pytest.approx(0.6)
    assert "| method.name" in (report / "summary.md").read_text()
    # a second report over the same runs replaces the first
    assert main(["report", str(tmp_path / "runs"), "--no-figures"]) == 0


def test_report_errors_are_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "no such directory" in capsys.readouterr().err
    assert main(["report"]) == 2
    assert "needs at least one directory" in capsys.readouterr().err
    write_summary(tmp_path / "runs" / "a", "gd", 0, 1.0)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    assert main(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "mine")]) == 2
    assert "not an nrep report" in capsys.readouterr().err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep" and len(list((tmp_path / "mine").iterdir())) == 1


@pytest.mark.parametrize("out", ["afile", "afile/below"])
def test_a_report_out_that_is_a_file_or_under_one_is_one_line(tmp_path, capsys, out):
    write_summary(tmp_path / "runs" / "a", "gd", 0, 1.0)
    (tmp_path / "afile").write_text("keep")
    assert main(["report", str(tmp_path / "runs"), "--out", str(tmp_path / out)]) == 2
    err = problems(capsys.readouterr().err)
    assert len(err) == 1 and "give a directory for the report" in err[0] and "Traceback" not in err[0]
    assert (tmp_path / "afile").read_text() == "keep"


def test_a_report_of_runs_none_of_which_ended_ok_counts_them_and_writes_the_tables(tmp_path, capsys):
    runs = tmp_path / "runs"
    (runs / "killed" / ".hydra").mkdir(parents=True)
    (runs / "failed").mkdir()
    (runs / "failed" / "summary.json").write_text(json.dumps({"status": "failed", "error": "boom"}))
    (runs / "garbled").mkdir()
    (runs / "garbled" / "summary.json").write_text("{not json")
    (runs / "foreign").mkdir()
    (runs / "foreign" / "summary.json").write_text(json.dumps({"loss": 0.1}))
    assert main(["report", str(runs), "--html"]) == 0
    out = capsys.readouterr().out
    assert "nothing to plot: none of the 4 runs ended ok (1 failed, 1 missing, 2 unreadable)" in " ".join(out.split())
    assert "not an nrep summary" in out
    written = sorted(p.name for p in (runs / "report").iterdir())
    assert written == ["report.html", "runs.csv", "summary.csv", "summary.md"]
