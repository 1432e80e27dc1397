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
        (["init=extended"], "does not go with `nrep loop`"),
        (["-m", "method=gd,openmm_min"], "method=openmm_min does not go with `nrep loop`"),
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


def _one_line_error(done, message):
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and message in lines[0], done.stderr


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


@pytest.mark.parametrize(
    "pdb,base_url,message",
    [
        ("5NOP", "served", "unknown PDB id 5NOP"),
        ("6OFF", "http://127.0.0.1:9", "no local copy; put 6OFF.pdb in"),
        ("7BAD", "served", "that are not a .pdb structure; nothing was cached"),
        ("9ERR", "served", "HTTP 500"),
    ],
)
def test_fold_download_failures_give_one_line_and_leave_nothing(tmp_path, nrep_cli, server, pdb, base_url, message):
    served, url = server
    (served / "7BAD.pdb").write_bytes(b"<html>rate limited</html>\n")
    cache = tmp_path / "cache"
    done = nrep_cli(
        "fold", "--pdb", pdb, f"system.base_url={url if base_url == 'served' else base_url}",
        f"system.cache_dir={cache}", "system.download_timeout_s=2", cwd=tmp_path,
    )
    _one_line_error(done, message)
    assert not (tmp_path / "results").exists()
    assert not cache.exists() or not any(cache.iterdir())


@pytest.mark.parametrize(
    "args,message",
    [
        ([], "system.pdb is not set: pass --pdb ID"),
        (["--pdb", "2J!F"], "is not a PDB id"),
        (["--pdb", "missing.pdb"], "no such structure file"),
        (["--pdb", "2JOF", "system=loop"], "does not go with `nrep fold`"),
        (["--pdb", "2JOF", "energy=pure_lj"], "does not go with `nrep fold`"),
        (["--pdb", "2JOF", "--chain", "A", "system.chain=B"], "--chain and system.chain=B both set system.chain"),
        (["--pdb", "2JOF", "method=openmm_min", "optim.lr=0.1"], "use OpenMM's own minimiser or integrator; drop optim.lr=0.1"),
    ],
)
def test_fold_refuses_bad_input_before_running(tmp_path, nrep_cli, args, message):
    _one_line_error(nrep_cli("fold", *args, cwd=tmp_path), message)
    assert not (tmp_path / "results").exists()


def test_fold_names_unsupported_residues(tmp_path, nrep_cli, peptide_file):
    text = peptide_file.read_text().replace("LYS", "NLE")
    (tmp_path / "nle.pdb").write_text("\n".join(line for line in text.splitlines() if " NZ " not in line) + "\n")
    _one_line_error(nrep_cli("fold", "--pdb", "nle.pdb", cwd=tmp_path), "non-standard residues NLE")
    assert not (tmp_path / "results").exists()


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
