"""Sweeps through Hydra's launchers: threads per job, plugins, presets, failures, the sweep table."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from omegaconf import OmegaConf

from nrep.cli import launchers
from nrep.cli.main import main
from nrep.configs.compose import compose, compose_jobs
from nrep.core.errors import NrepError

TINY = ["experiment=smoke", "system.n=30", "stop.max_steps=40", "method=gd"]
BASIC = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"
JOBLIB = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
SLURM = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"


def test_threads_per_job_follow_the_launcher():
    basic = OmegaConf.create({"_target_": BASIC})
    joblib = OmegaConf.create({"_target_": JOBLIB, "n_jobs": -1})
    slurm = OmegaConf.create({"_target_": SLURM, "cpus_per_task": 6})
    assert launchers.job_threads(basic, multirun=True) is None  # one job at a time: every core
    assert launchers.job_threads(joblib, multirun=True) == 1
    assert launchers.job_threads(joblib, multirun=False) is None
    assert launchers.job_threads(slurm, multirun=True) == 6
    assert launchers.job_threads(OmegaConf.create({"_target_": SLURM, "cpus_per_task": None}), multirun=True) == 1


def test_joblib_jobs_times_threads_must_fit_the_cores():
    assert launchers.joblib_workers(-1, 8) == 8 and launchers.joblib_workers(-2, 8) == 7 and launchers.joblib_workers(3, 8) == 3
    jobs = compose_jobs(["hydra/launcher=joblib", "seed=0,1,2,3", "threads=2"], True)
    with pytest.raises(NrepError, match=r"4 jobs x 2 threads on 4 cores; set hydra.launcher.n_jobs=2 or threads=1"):
        launchers.check_parallel_threads(jobs, cores=4)
    launchers.check_parallel_threads(jobs, cores=8)
    launchers.check_parallel_threads(compose_jobs(["hydra/launcher=joblib", "seed=0,1,2,3"], True), cores=2)


@pytest.mark.parametrize("preset,cpus,gpus", [("slurm_cpu", 4, None), ("slurm_gpu", 4, 1), ("submitit_slurm", None, None)])
def test_slurm_presets_resolve_without_a_cluster(preset, cpus, gpus, capsys):
    cfg = compose([f"hydra/launcher={preset}", "hydra.launcher.partition=short"])
    launcher = cfg.hydra.launcher
    assert launcher._target_ == SLURM
    assert (launcher.cpus_per_task, launcher.gpus_per_node, launcher.partition) == (cpus, gpus, "short")
    assert launcher.timeout_min > 0 and launcher.array_parallelism > 0
    assert main(["loop", f"hydra/launcher={preset}", "--cfg", "hydra"]) == 0
    assert f"_target_: {SLURM}" in capsys.readouterr().out


def test_joblib_sweep_writes_each_run_and_one_table(tmp_path, nrep_cli):
    done = nrep_cli("loop", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=0,1", *TINY, "--out", "sweep", cwd=tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    summaries = [json.loads(p.read_text()) for p in sorted((tmp_path / "sweep").glob("*/summary.json"))]
    assert [s["seed"] for s in summaries] == [0, 1]
    assert all(s["threads"] == 1 and s["status"] == "ok" for s in summaries)  # side by side: one thread each
    table = pd.read_csv(tmp_path / "sweep" / "sweep_summary.csv")
    assert sorted(table["seed"]) == [0, 1]
    assert table["energy_final_exact"].tolist() == pytest.approx([s["energy_final_exact"] for s in summaries])


def test_a_failing_job_is_recorded_and_the_others_finish(tmp_path, nrep_cli):
    """One job diverges (SGD with a huge step, no retries); the other finishes; the sweep says so in one line."""
    done = nrep_cli("loop", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "optim=sgd", "optim.clamp_grad=null",
                    "faults.retries=0", "optim.lr=1e12,0.02", *TINY, "--out", "sweep", cwd=tmp_path)
    assert done.returncode == 1
    assert "1 runs did not end with status ok" not in done.stderr  # a single failure is the one line itself
    assert "did not end with status ok: diverged" in done.stderr
    table = pd.read_csv(tmp_path / "sweep" / "sweep_summary.csv").set_index("cfg.optim.lr")
    assert table.loc[0.02, "status"] == "ok" and table.loc[0.02, "energy_final_exact"] < table.loc[0.02, "energy_initial_exact"]
    assert table.loc[1e12, "status"] == "diverged"


@pytest.mark.slow
def test_submitit_local_runs_a_sweep(tmp_path, nrep_cli):
    done = nrep_cli("loop", "-m", "hydra/launcher=submitit_local", "seed=0,1", *TINY, "--out", "sweep", cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr + done.stdout
    table = pd.read_csv(tmp_path / "sweep" / "sweep_summary.csv")
    assert sorted(table["seed"]) == [0, 1] and set(table["status"]) == {"ok"}
    assert (tmp_path / "sweep" / ".submitit").is_dir()
