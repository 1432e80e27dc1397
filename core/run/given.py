"""``nrep.minimise``: nrep's methods on an energy and a start given from Python.

The settings are the command line's config keys as Python values, composed and
validated by the same schema (so a bad one raises the same one-line ``ConfigError`` that
``nrep loop`` prints); the run then goes through the same engine as a CLI run: slow
modes, stages, stopping, fault rollback, callbacks. The energy's slow modes use its
analytic Hessian blocks when it has them (nrep's own energies), else autograd.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from omegaconf import OmegaConf

from nrep.configs.compose import compose, overrides_from, validate, without_hydra
from nrep.configs.schema import ConfigError, NrepConfig
from nrep.configs.schema.given import GIVEN, register_given_options
from nrep.core.energy.function import FunctionEnergy
from nrep.core.engine.callbacks import StepFunction
from nrep.core.engine.stages import Callback, StepState
from nrep.core.errors import NrepError
from nrep.core.io import files as results
from nrep.core.io.locks import locked
from nrep.core.run.batch import minimise_replicas, replica_dir, replica_seeds
from nrep.core.run.build import show_progress
from nrep.core.run.record import Minimised, record_run, summarise
from nrep.core.run.result import Result
from nrep.core.run.single import minimise_built
from nrep.core.systems.given import GivenSystem, as_start

log = logging.getLogger("nrep")

Watcher = Callback | Callable[[StepState], "str | None"]


def given_config(n: int, name: str, method: str | dict, optim: str | dict, settings: dict[str, Any]) -> tuple[NrepConfig, dict]:
    """The typed config of a run on a given system of ``n`` particles, and its resolved record."""
    for group in ("system", "init", "energy"):
        if group in settings:
            raise ConfigError(f"nrep.minimise takes the energy and x0 as its arguments, so {group}= does not apply "
                              f"(nrep.run(\"loop\" or \"fold\", ...) runs nrep's own systems)")
    register_given_options()
    overrides = [f"system={GIVEN}", f"init={GIVEN}", f"energy={GIVEN}", f"system.n={n}",
                 *overrides_from({"method": method, "optim": optim, **settings})]
    composed = compose(overrides, command="loop", with_hydra=False)
    cfg = validate(composed)
    cfg.method.check_size(n, name)
    modes = getattr(cfg.method, "modes", None)
    if modes is not None and modes.cache:
        raise ConfigError("method.modes.cache keys the modes by the energy's config, which cannot describe a Python "
                          "energy; drop it (the modes are computed for each call)")
    graph_for = getattr(cfg.method, "graph_for", None)
    if graph_for is not None and graph_for(n) == "bonds":
        raise ConfigError("method.graph=bonds needs the system's bonds, which a given energy does not name; "
                          "use method.graph=slow_modes or knn")
    return cfg, OmegaConf.to_container(without_hydra(composed), resolve=True)


def check_differentiable(energy: FunctionEnergy, x0: torch.Tensor) -> None:
    """One line if the energy at x0 is not a finite, differentiable scalar."""
    x = x0.clone().requires_grad_(True)
    value = energy(x)
    if not value.requires_grad:
        raise NrepError("energy(x) does not depend on x through torch operations (its value has no gradient); "
                        "compute it from x with torch, without .item(), numpy or torch.no_grad()")
    if not torch.isfinite(value.detach()).all():
        raise NrepError(f"energy(x0) is {float(value.detach().sum())}: the start must have a finite energy")


def minimise(
    energy: Callable[[torch.Tensor], torch.Tensor],
    x0: Any,
    /,
    method: str | dict = "gnn",
    optim: str | dict = "adam",
    *,
    out: str | Path | None = None,
    overwrite: bool = False,
    callbacks: Sequence[Watcher] = (),
    name: str = GIVEN,
    **settings: Any,
) -> Result | list[Result]:
    """Minimise ``energy`` from ``x0`` with an nrep method: GD, CG on slow modes, or the GNN, then the coordinates.

    energy: a torch callable, ``energy(x)`` -> a scalar for coordinates x of shape (n, 3);
        an ``nn.Module`` is fine. Optional attributes are used: ``unit`` (names the energy
        columns), ``exact_terms(x)``, ``pair_interactions()`` (analytic Hessian blocks).
    x0: the start, (n, 3), a tensor or array in any length unit the energy uses; or B
        starts (B, n, 3), minimised as one batch (``replicas=B``: seeds seed .. seed+B-1,
        each with its own modes and network, the energy evaluated once per step for all)
        when ``energy`` maps (B, n, 3) to (B,); a list of B results then.
    method, optim: an option name (``"cg"``), or a mapping of its keys with ``name``
        (``method={"name": "cg", "modes": {"k": 20}, "lr": 0.1}``).
    settings: any other config key of ``nrep loop`` as Python values, e.g.
        ``stop={"max_steps": 500}``, ``seed=1``, ``threads=1``, ``device="cuda"``,
        ``faults={"retries": 5}``, ``output={"trace_every": 1}``.
    out: also write the run's files (summary.json, trace.csv, final.npy, best.npy) into
        this new directory (a batch: ``out/seed<k>/``), which ``nrep ls``, ``nrep show``
        and ``nrep report`` read.
    callbacks: nrep Callbacks, or functions ``f(state) -> None or a stop reason`` called at
        every step (``state.step``, ``state.stage``, ``state.energy``, ``state.x``).
    name: the system's name in the summary and logs.

    Returns a :class:`Result`; raises ``ConfigError`` (a one-line ``NrepError``) for a bad setting.
    """
    start = as_start(x0)
    if "replicas" in settings:
        raise ConfigError("replicas= comes from x0 here: pass x0 of shape (B, n, 3) to minimise B starts as one batch")
    batch = start.shape[0] if start.ndim == 3 else None
    n = start.shape[-2]
    cfg, record = given_config(n, name, method, optim, {**settings, **({"replicas": batch} if batch else {})})
    run_dir = Path(out) if out is not None else None
    with locked(run_dir) if run_dir is not None else contextlib.nullcontext():  # one nrep process per directory
        return run_given(cfg, record, energy, start, batch, run_dir, overwrite, callbacks, name)


def run_given(cfg: NrepConfig, record: dict, energy: Callable, start: torch.Tensor, batch: int | None,
              run_dir: Path | None, overwrite: bool, callbacks: Sequence[Watcher], name: str) -> Result | list[Result]:
    """:func:`minimise` once its config is built (and its directory's lock held)."""
    if run_dir is not None:
        targets = [run_dir] if batch is None else [replica_dir(run_dir, seed) for seed in replica_seeds(cfg)]
        for target in targets:
            if results.has_results(target) and not (overwrite or cfg.output.overwrite):
                raise NrepError(f"{target} already holds a run's results; choose another out=, "
                                "or pass overwrite=True to replace them")
            if results.has_results(target):
                results.remove_run_files(target)  # the earlier run's files only: never a user's
    wrapped = FunctionEnergy(energy)
    check_differentiable(wrapped, start)
    watching = [cb if isinstance(cb, Callback) else StepFunction(cb) for cb in callbacks]
    progress = show_progress(cfg.output.progress, False)
    common = {"show_progress": progress, "config_record": record, "command": "nrep.minimise", "extra_callbacks": watching}

    if batch is None:
        system = GivenSystem(start, name=name)
        done = minimise_built(cfg, lambda: (system, wrapped, 0), **common)
        return kept(run_dir, done)

    def build(configs: list[NrepConfig]) -> tuple[list[GivenSystem], FunctionEnergy, list[int]]:
        return [GivenSystem(x, name=name) for x in start], wrapped, [0] * batch

    replicas = minimise_replicas(cfg, build, **common)
    return [kept(replica_dir(run_dir, r.config.seed) if run_dir is not None else None, r) for r in replicas]


def kept(run_dir: Path | None, done: Minimised) -> Result:
    """The result of a run, its files written into ``run_dir`` first (None: in memory only)."""
    summary = record_run(run_dir, done) if run_dir is not None else summarise(None, done)
    best = done.callbacks["best"]
    return Result.from_summary(summary, done.stage_results[-1].x, best.x, done.callbacks["trace"].rows, run_dir)
