"""Hydra launchers for sweeps: which plugin each needs, and how many threads each job gets.

nrep schedules nothing itself. ``hydra/launcher=joblib`` runs the jobs of a sweep side by
side on this machine, ``submitit_slurm`` (or nrep's presets ``slurm_cpu``/``slurm_gpu``)
submits them as a SLURM job array, and ``submitit_local`` runs that same code path
without SLURM. The plugins are an extra (``pip install 'nrep[launchers]'``).
"""

from __future__ import annotations

import importlib.util
import logging
from typing import TYPE_CHECKING, Any, Sequence

from omegaconf import DictConfig, OmegaConf

from nrep.core.errors import NrepError

if TYPE_CHECKING:
    from nrep.configs.compose import ComposedJob

# launcher option -> (the plugin's module, its package on PyPI)
JOBLIB = ("hydra_plugins.hydra_joblib_launcher", "hydra-joblib-launcher")
SUBMITIT = ("hydra_plugins.hydra_submitit_launcher", "hydra-submitit-launcher")
LAUNCHER_PLUGINS = {
    "joblib": JOBLIB,
    "submitit_local": SUBMITIT,
    "submitit_slurm": SUBMITIT,
    "slurm_cpu": SUBMITIT,
    "slurm_gpu": SUBMITIT,
}
LAUNCHER_KEY = "hydra/launcher"


def plugin_installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def chosen_launcher(overrides: Sequence[str]) -> str | None:
    """The ``hydra/launcher=NAME`` of a command line, if any."""
    for override in overrides:
        key, _, value = override.partition("=")
        if key.lstrip("+") == LAUNCHER_KEY:
            return value
    return None


def check_launcher_choice(overrides: Sequence[str], multirun: bool, info_only: bool) -> None:
    """Refuse a launcher whose plugin is missing, or one given to a single run."""
    name = chosen_launcher(overrides)
    if name is None or name == "basic":
        return
    if name in LAUNCHER_PLUGINS:
        module, package = LAUNCHER_PLUGINS[name]
        if not plugin_installed(module):
            raise NrepError(
                f"hydra/launcher={name} needs the {package} plugin: pip install 'nrep[launchers]' "
                f"(or pip install '{package}>=1.2,<1.3')"
            )
    if not multirun and not info_only:
        raise NrepError(f"hydra/launcher={name} launches the jobs of a sweep; add -m (--multirun)")


def job_threads(launcher: DictConfig | None, multirun: bool) -> int | None:
    """Torch threads for a job whose config leaves ``threads`` unset (None = the run's default for its size).

    Jobs side by side get one thread each (oversubscribed cores make every job several
    times slower); a SLURM job gets the CPUs it asked for.
    """
    if not multirun or launcher is None:
        return None
    target = str(launcher.get("_target_", "") or "")
    if target.endswith("BasicLauncher"):
        return None
    cpus = launcher.get("cpus_per_task") if "submitit" in target else None
    return int(cpus) if cpus else 1


def joblib_workers(n_jobs: int, cores: int) -> int:
    """How many processes joblib runs for ``n_jobs`` (-1 = every core, -2 = all but one, ...)."""
    return n_jobs if n_jobs > 0 else max(cores + 1 + n_jobs, 1)


def check_parallel_threads(composed: Sequence[ComposedJob], cores: int) -> None:
    """Refuse a joblib sweep whose jobs x threads would exceed the cores."""
    if not composed:
        return
    launcher: Any = OmegaConf.select(composed[0].raw, "hydra.launcher")
    if launcher is None or not str(launcher.get("_target_", "")).endswith("JoblibLauncher"):
        return
    threads = max((job.typed.threads or 1) for job in composed)
    workers = min(joblib_workers(int(launcher.n_jobs), cores), len(composed))
    if workers * threads > cores:
        raise NrepError(
            f"joblib would run {workers} jobs x {threads} threads on {cores} cores; "
            f"set hydra.launcher.n_jobs={max(cores // threads, 1)} or threads=1"
        )


class OneSacctWarning(logging.Filter):
    """submitit polls ``sacct`` for job states and warns on every poll when a cluster keeps no
    accounting; one such line is kept, the rest would drown the runs' own lines."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = False

    def filter(self, record: logging.LogRecord) -> bool:
        if "sacct" not in record.getMessage():
            return True
        if self.seen:
            return False
        self.seen = True
        record.msg, record.args = "submitit cannot read SLURM's accounting (sacct); job states come from squeue (said once)", ()
        return True


def quiet_submitit() -> None:
    """Put :class:`OneSacctWarning` on submitit's logger (once per process)."""
    logger = logging.getLogger("submitit")
    if not any(isinstance(f, OneSacctWarning) for f in logger.filters):
        logger.addFilter(OneSacctWarning())
