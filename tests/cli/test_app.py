"""The Hydra application's choices that do not need a run."""

from omegaconf import OmegaConf

from nrep.cli.app import parallel_jobs


def test_parallel_launchers_get_one_thread_per_job():
    basic = OmegaConf.create({"launcher": {"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"}})
    joblib = OmegaConf.create({"launcher": {"_target_": "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"}})
    assert not parallel_jobs(basic, multirun=True)
    assert parallel_jobs(joblib, multirun=True)
    assert not parallel_jobs(joblib, multirun=False)
