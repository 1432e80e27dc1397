"""A run directory holds one run: two nrep processes into one --out, --overwrite, and what a refusal leaves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from nrep.cli.main import main
from tests.conftest import problems

SMALL = ["method=gd", "system.n=100", "stop.max_steps=300", "threads=1", "output.snapshot=false"]


def test_two_runs_into_one_out_keep_one_run_and_refuse_the_other(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    exe = str(Path(sys.executable).with_name("nrep"))
    started = [subprocess.Popen([exe, "loop", *SMALL, f"seed={seed}", "--out", "d"], cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    done = [(p.wait(timeout=300), *p.communicate()) for p in started]
    codes = sorted(code for code, _, _ in done)
    assert codes == [0, 2], done
    winner = 1 + [code for code, _, _ in done].index(0)
    refused = next(err for code, _, err in done if code == 2).strip().splitlines()
    assert len(refused) == 1 and ("is in use by another nrep run" in refused[0] or "is not empty" in refused[0]), refused
    summary = json.loads((tmp_path / "d" / "summary.json").read_text())
    assert summary["seed"] == winner and summary["status"] == "ok"
    log = (tmp_path / "d" / "nrep.log").read_text()
    assert f"seed={winner}" in log and f"seed={3 - winner}" not in log  # one run's log, not two interleaved
    assert not (tmp_path / "d" / ".nrep.lock").exists()


def test_overwrite_removes_the_earlier_runs_files_and_never_a_users(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["loop", *SMALL, "seed=1", "--out", str(out)]) == 0
    (out / "checkpoint.pt").write_bytes(b"an earlier run's checkpoint")
    (out / "my_notes.txt").write_text("mine")
    assert main(["loop", *SMALL, "seed=2", "--out", str(out)]) == 2
    assert "is not empty" in capsys.readouterr().err and json.loads((out / "summary.json").read_text())["seed"] == 1
    assert main(["loop", *SMALL, "seed=2", "--out", str(out), "--overwrite"]) == 0
    assert json.loads((out / "summary.json").read_text())["seed"] == 2
    assert not (out / "checkpoint.pt").exists() and (out / "my_notes.txt").read_text() == "mine"
    assert "seed=1" not in (out / "nrep.log").read_text()


def test_a_refused_run_leaves_no_directory(tmp_path, capsys):
    assert main(["loop", "system.n=5", "--out", str(tmp_path / "never")]) == 2
    assert "system.n=5 is too small" in capsys.readouterr().err
    assert main(["loop", "method.modes.k=500", "system.n=100", "--out", str(tmp_path / "never")]) == 2
    assert not (tmp_path / "never").exists()


def test_an_out_that_is_a_file_or_under_one_is_one_line(tmp_path, capsys):
    (tmp_path / "a_file").write_text("mine")
    for out in (tmp_path / "a_file", tmp_path / "a_file" / "run"):
        assert main(["loop", *SMALL, "--out", str(out)]) == 2
        err = problems(capsys.readouterr().err)
        assert len(err) == 1 and f"cannot make the run directory {out}" in err[0], err
    assert (tmp_path / "a_file").read_text() == "mine"
