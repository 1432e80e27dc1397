"""The `nrep` command end to end, in subprocesses, as a user would type it."""

import json
import math
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
    assert "final energy" in done.stdout


def test_a_second_run_into_the_same_directory_is_refused(small_run, nrep_cli):
    cwd, _ = small_run
    before = {p.name: p.read_bytes() for p in (cwd / "run1").rglob("*") if p.is_file()}
    done = nrep_cli("loop", "--out", "run1", *SMALL, "seed=5", cwd=cwd)
    assert done.returncode != 0
    assert "not empty" in done.stderr and "--overwrite" in done.stderr
    after = {p.name: p.read_bytes() for p in (cwd / "run1").rglob("*") if p.is_file()}
    assert after == before


def test_multirun_writes_one_directory_per_job(tmp_path, nrep_cli):
    done = nrep_cli("loop", "-m", "seed=0,1", *SMALL, "--out", "sweep", cwd=tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    summaries = sorted((tmp_path / "sweep").glob("*/summary.json"))
    assert len(summaries) == 2
    seeds = sorted(json.loads(p.read_text())["seed"] for p in summaries)
    assert seeds == [0, 1]
    assert (tmp_path / "sweep" / "multirun.yaml").exists()


@pytest.mark.parametrize(
    "args,message",
    [
        (["system.nn=50"], "unknown config key 'system.nn'; did you mean system.n?"),
        (["--seed", "1", "seed=2"], "--seed and seed=2 both set seed"),
        (["--pdb", "2JOF"], "proteins use `nrep fold --pdb ID`"),
        (["system.n=5"], "system.n=5 is too small"),
        (["optim.lr=-1"], "optim.lr must be > 0"),
    ],
)
def test_bad_input_fails_with_one_clear_line(tmp_path, nrep_cli, args, message):
    done = nrep_cli("loop", *args, cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert not (tmp_path / "results").exists()  # nothing was written


def test_fold_says_it_is_not_available_yet(tmp_path, nrep_cli):
    done = nrep_cli("fold", "--pdb", "2JOF", cwd=tmp_path)
    assert done.returncode == 2 and "not available yet" in done.stderr


def test_help_is_quick_and_imports_no_torch(tmp_path):
    code = (
        "import sys; from nrep.cli.main import main; "
        "assert main(['--help']) == 0; assert main(['loop', '--help']) == 0; "
        "assert 'torch' not in sys.modules, 'help must not import torch'"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "config groups" in done.stdout and "pure_lj*" in done.stdout


def test_no_generic_top_level_modules_are_installed(tmp_path):
    code = "import importlib.util as u; print(u.find_spec('core'), u.find_spec('cli'), u.find_spec('configs'))"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert done.stdout.split() == ["None", "None", "None"]
