"""The `nrep` command end to end, in subprocesses, as a user would type it.

What nrep refuses (bad input, bad structures, unsafe downloads) is tested in test_refusals.py.
"""

import json
import math
import re
import subprocess
import sys

import pytest

SMALL = ["method=gd", "system.n=50", "stop.max_steps=200", "--threads", "1"]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory, nrep_cli):
    """One small `nrep loop` into a chosen directory, shared by the tests below."""
    cwd = tmp_path_factory.mktemp("cli")
    done = nrep_cli("loop", "--out", "run1", *SMALL, cwd=cwd)
    return cwd, done


def test_small_loop_writes_a_summary(small_run):
    cwd, done = small_run
    assert done.returncode == 0, done.stderr + done.stdout
    summary = json.loads((cwd / "run1" / "summary.json").read_text())
    assert summary["status"] == "ok"
    assert math.isfinite(summary["energy_final"]) and summary["energy_final"] < summary["energy_initial"]
    assert summary["cfg.system.n"] == 50 and summary["threads"] == 1
    assert (cwd / "run1" / ".hydra" / "config.yaml").exists()
    assert "final energy" in done.stderr and "final energy" not in done.stdout  # log records go to stderr


def test_multirun_writes_one_directory_per_job(tmp_path, nrep_cli):
    done = nrep_cli("loop", "-m", "seed=0,1", *SMALL, "--out", "sweep", cwd=tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    summaries = sorted((tmp_path / "sweep").glob("*/summary.json"))
    assert len(summaries) == 2
    seeds = sorted(json.loads(p.read_text())["seed"] for p in summaries)
    assert seeds == [0, 1]
    assert (tmp_path / "sweep" / "multirun.yaml").exists()


def test_fold_downloads_into_the_cache_and_runs(tmp_path, nrep_cli, server, peptide_file):
    served, base_url = server
    (served / "1PEP.pdb").write_bytes(peptide_file.read_bytes())
    cache = tmp_path / "cache"
    done = nrep_cli(
        "fold", "--pdb", "1pep", "--out", "run", f"system.base_url={base_url}", f"system.cache_dir={cache}",
        f"init.cache_dir={tmp_path / 'starts'}", "method=gd", "stop.max_steps=20", "threads=1", cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["pdb"] == "1PEP" and summary["structure_origin"] == "cache"
    assert (cache / "1PEP.pdb").read_bytes() == peptide_file.read_bytes()
    assert summary["rmsd_ca_A"] > 0 and (tmp_path / "run" / "final.pdb").is_file()


def test_help_is_quick_and_imports_no_torch(tmp_path):
    code = (
        "import sys; from nrep.cli.main import main; "
        "assert main(['--help']) == 0; assert main(['loop', '--help']) == 0; assert main(['fold', '--help']) == 0; "
        "assert 'torch' not in sys.modules, 'help must not import torch'"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "config groups" in done.stdout and "pure_lj*" in done.stdout


def test_no_generic_top_level_modules_are_installed(tmp_path):
    code = "import importlib.util as u; print(u.find_spec('core'), u.find_spec('cli'), u.find_spec('configs'))"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert done.stdout.split() == ["None", "None", "None"]


def test_piped_output_has_whole_lines_on_stderr(tmp_path):
    """Outside a terminal (CI, SLURM, | tee) no record is wrapped at 80 columns or coloured."""
    import os
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | {"OMP_NUM_THREADS": "1"}
    exe = Path(sys.executable).with_name("nrep")
    done = subprocess.run([str(exe), "loop", "system.n=40", "stop.max_steps=30", "method=gd", "threads=1", "--out", "r"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    final = [line for line in lines if "final energy" in line]
    assert len(final) == 1 and "(exact: " in final[0] and final[0].rstrip().endswith(tuple("0123456789"))
    assert any("time_method_s" in line and "time_total_s" in line for line in lines)  # one name per time
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (INFO|WARNING|ERROR) ", line) for line in lines), lines
    assert "\x1b[" not in done.stderr and done.stdout == ""


def test_one_step_cap_sweeps_across_methods(tmp_path, monkeypatch, capsys):
    """stop.max_total_steps caps every method's whole run (GNN's two stages together)."""
    from nrep.cli.main import main

    monkeypatch.chdir(tmp_path)
    code = main(["loop", "-m", "method=gd,gnn", "stop.max_total_steps=300", "system.n=40", "threads=1",
                 "output.snapshot=false", "output.progress=off", "--out", "sweep"])
    assert code == 0
    found = {json.loads(p.read_text())["method"]: json.loads(p.read_text()) for p in (tmp_path / "sweep").glob("*/summary.json")}
    assert set(found) == {"gd", "gnn"}
    assert all(s["steps_total"] <= 300 and s["status"] == "ok" for s in found.values()), found
    assert found["gnn"]["stop_reason"] == "max_total_steps" and found["gnn"]["steps_total"] == 300
    # the per-stage key of a reparametrisation is refused for GD, with the run-wide one named
    assert main(["loop", "method=gd", "method.stop.max_steps=300"]) == 2
    assert "stop.max_total_steps" in capsys.readouterr().err
