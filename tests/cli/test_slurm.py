"""Sweeps on a real SLURM scheduler (one node, ../shared/slurm/start-single-node.sh; `make test-slurm`).

Not in the default suite: a requeued job waits about two minutes before SLURM starts it
again. Without a scheduler these tests fail with the reason, they do not skip.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.slurm]

SWEEP = ["hydra/launcher=submitit_slurm", "hydra.launcher.partition=debug", "threads=1", "output.progress=off",
         "output.snapshot=false", "method=gd", "system.n=100"]


@pytest.fixture(scope="module")
def slurm():
    if shutil.which("sinfo") is None:
        pytest.fail("no SLURM here: start one with ../shared/slurm/start-single-node.sh (make test-slurm does)")
    state = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True)
    if state.returncode != 0 or not any(s in state.stdout for s in ("idle", "mix", "alloc")):
        pytest.fail(f"SLURM is not up: {state.stderr.strip() or state.stdout.strip()}")


def nrep(tmp_path, *args, timeout):
    exe = Path(sys.executable).with_name("nrep")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    return subprocess.run([str(exe), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout)


def summaries(sweep):
    return {job.name: json.loads((job / "summary.json").read_text()) for job in sorted(sweep.iterdir())
            if (job / "summary.json").is_file()}


def test_a_two_job_sweep_runs_to_the_end(slurm, tmp_path):
    done = nrep(tmp_path, "loop", "-m", *SWEEP, "stop.max_steps=200", "seed=0,1", "--out", "sweep", timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    found = summaries(tmp_path / "sweep")
    assert [s["status"] for s in found.values()] == ["ok", "ok"], found
    # submitit's accounting warning: one record at most, not one per poll; submitit's own two handlers (stdout,
    # stderr) and nrep's (stderr) each print it
    output = done.stdout + done.stderr
    assert "Bypassing sacct" not in output and output.count("cannot read SLURM's accounting") <= 3, output


def test_a_job_at_its_time_limit_is_requeued_and_ends_as_if_never_stopped(slurm, tmp_path):
    # about 45 s of steps on one thread; SLURM warns (SIGUSR2) 30 s before the 1-minute limit,
    # or up to a minute earlier: the job is cut at least once and requeued
    long = ["system.n=400", "stop.max_steps=60000", "stop.patience=10000000"]
    limits = ["hydra.launcher.timeout_min=1", "hydra.launcher.signal_delay_s=30", "hydra.launcher.max_num_timeout=8"]
    done = nrep(tmp_path, "loop", "-m", *SWEEP, *long, *limits, "seed=0", "--out", "sweep", timeout=1500)
    (job,) = [p for p in (tmp_path / "sweep").iterdir() if p.is_dir() and (p / ".hydra").is_dir()]
    log = (job / "nrep.log").read_text()
    assert done.returncode == 0, done.stdout[-3000:] + log[-3000:]
    assert "resuming" in log and log.count("handing over to submitit to requeue") >= 1, log[-3000:]
    cut = json.loads((job / "summary.json").read_text())
    assert cut["status"] == "ok" and cut["resumed_from_step"] > 0

    whole = nrep(tmp_path, "loop", *[a for a in SWEEP if not a.startswith("hydra")], *long, "seed=0", "--out", "whole",
                 timeout=600)
    assert whole.returncode == 0, whole.stderr
    uninterrupted = json.loads((tmp_path / "whole" / "summary.json").read_text())
    assert cut["energy_final_exact"] == uninterrupted["energy_final_exact"]
    assert cut["steps_total"] == uninterrupted["steps_total"]
