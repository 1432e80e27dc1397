"""`nrep report DIR...`: the table on screen, the files, and its one-line errors."""

from __future__ import annotations

import json
import re

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
    assert summary.loc["gnn", "energy_reduced_mean"] == pytest.approx(0.6)
    markdown = (report / "summary.md").read_text()
    assert "## energy in reduced" in markdown and "| system" in markdown and "| method.name" in markdown
    assert "loop pure_lj n=50" in markdown and "energy (reduced)" in markdown
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


def test_a_report_over_a_loop_sweep_and_a_protein_sweep_keeps_units_apart(tmp_path, monkeypatch, capsys, peptide_file):
    """Real runs of both kinds in one report: one table per unit, systems named, traces from the shared start."""
    import os

    monkeypatch.chdir(tmp_path)
    quiet = ["threads=1", "output.snapshot=false", "output.progress=off"]
    # at n=120 after 300 steps GD's seed 0 ends below zero and CG above: loop energies of both signs
    assert main(["loop", "-m", "method=gd,cg", "seed=0,1", "system.n=120", "stop.max_total_steps=300", *quiet,
                 "--out", "loops"]) == 0
    assert main(["fold", "-m", "method=gd,openmm_min", f"system.pdb={peptide_file}", "init=extended",
                 f"init.cache_dir={tmp_path / 'starts'}", "stop.max_total_steps=30", *quiet, "--out", "proteins"]) == 0
    capsys.readouterr()
    assert main(["report", "loops", "proteins", "--out", "report", "--html"]) == 0
    out = capsys.readouterr().out
    assert "energy in kJ/mol" in out and "energy in reduced" in out and "loop pure_lj n=120" in out
    assert "speedup_vs_energy leaves out loop pure_lj n=120: final energies change sign" in " ".join(out.split())

    summary = pd.read_csv(tmp_path / "report" / "summary.csv")
    assert set(summary["energy_unit"]) == {"kJ/mol", "reduced"}
    for column in [c for c in summary.columns if c.startswith(("energy_", "rms_force_", "max_force_")) and c != "energy_unit"]:
        assert summary.loc[summary[column].notna(), "energy_unit"].nunique() <= 1, column  # no column holds two units
    markdown = (tmp_path / "report" / "summary.md").read_text()
    assert markdown.count("## energy in") == 2
    loop_rows = [line for line in markdown.split("## energy in reduced")[1].splitlines() if line.startswith("| loop")]
    assert len(loop_rows) == 2 and all(line.startswith("| loop pure_lj n=120 ") for line in loop_rows)  # not "–"

    energies = pd.read_csv(tmp_path / "report" / "runs.csv").query("system == 'loop'")["energy_final_exact"]
    assert (energies < 0).any() and (energies > 0).any()
    speedup = pd.read_csv(tmp_path / "report" / "speedup.csv").set_index("panel")
    assert "change sign" in speedup.loc["loop pure_lj n=120", "note"]  # no speedup point for the loops
    assert pd.isna(speedup.loc["loop pure_lj n=120", "energy_factor_mean"])

    runs = {json.loads(p.read_text())["method"]: p.parent for p in (tmp_path / "proteins").glob("*/summary.json")}
    starts = {m: pd.read_csv(d / "trace.csv")["energy_kJ_mol"].iloc[0] for m, d in runs.items()}
    shared = json.loads((runs["openmm_min"] / "summary.json").read_text())["energy_initial"]
    assert starts["openmm_min"] == pytest.approx(shared, rel=1e-5) and starts["gd"] == pytest.approx(shared, rel=1e-5)

    page = (tmp_path / "report" / "report.html").read_text()
    assert "Where these numbers come from" in page and "git_commit" in page and "nrep fold" in page
    assert "Every line starts at the shared start" in page  # the captions say what each figure shows
    links = [href for href in re.findall(r'<a href="([^"]+)/">', page)]
    assert len(links) == 6 and all(os.path.isdir(tmp_path / "report" / href) for href in links)
    assert "energy in reduced" in page and "energy in kJ/mol" in page
