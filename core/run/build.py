"""Set-up shared by single runs and batches: the system of a config, its start made safe, the run's callbacks.

Systems are built by name (``system=<name>``) through SYSTEM_BUILDERS; a new system type
is a builder registered with :func:`register_system` (its energy:
:mod:`nrep.core.energy.registry`; its files: :mod:`nrep.core.run.outputs`).
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from dataclasses import asdict
from typing import Callable

import torch

from nrep.configs.schema import LoopEnergyConfig, NrepConfig, uses_line_search
from nrep.core.engine.callbacks import (
    BestState,
    NonFiniteGuard,
    ProgressBar,
    Resampler,
    TimeBudget,
    TotalStepCap,
    TraceRecorder,
    TrajectoryRecorder,
)
from nrep.core.engine.stages import Callback
from nrep.core.methods.plans import MethodPlan
from nrep.core.run.record import energy_column, force_columns, force_unit
from nrep.core.runtime import derive_seed
from nrep.core.systems.base import System
from nrep.core.systems.loop import cloud_std, gaussian_cloud, make_loop
from nrep.core.systems.overlaps import DISPLACEMENT, MIN_DISTANCE, separate_overlaps
from nrep.core.systems.protein import ProteinSystem, load_protein, structure_settings

log = logging.getLogger("nrep")

SystemBuilder = Callable[[NrepConfig], System]


def build_loop(cfg: NrepConfig) -> System:
    """A loop from a Gaussian cloud drawn from the run's seed (init=cloud)."""
    n = cfg.system.n
    std = cfg.init.std if cfg.init.std is not None else cloud_std(n)
    return make_loop(n, cfg.system.loop_spacing, gaussian_cloud(n, std, seed=derive_seed(cfg.seed, "start")))


def build_protein(cfg: NrepConfig) -> ProteinSystem:
    """The prepared protein with the start ``init`` names (random and unfolded starts drawn from the seed)."""
    init = cfg.init
    options = {k: v for k, v in asdict(init).items() if k not in ("name", "cache", "cache_dir")}
    if "peptide_bond_A" in options:
        options["peptide_bond"] = options.pop("peptide_bond_A")
    cached = hasattr(init, "cache")
    return load_protein(
        cfg.system.pdb,
        start=init.name,
        start_options=options,
        start_cache_dir=init.cache_dir if cached else None,
        cache_start=cached and init.cache,
        seed=derive_seed(cfg.seed, "start"),
        **structure_settings(cfg.system),
    )


SYSTEM_BUILDERS: dict[str, SystemBuilder] = {"loop": build_loop, "protein": build_protein}


def register_system(name: str, builder: SystemBuilder) -> None:
    """Make ``system=<name>`` build its system with ``builder(cfg)``."""
    SYSTEM_BUILDERS[name] = builder


def build_system(cfg: NrepConfig) -> System:
    """The system with its start X0 (float64, CPU); random starts are drawn from the run's seed."""
    try:
        builder = SYSTEM_BUILDERS[cfg.system.name]
    except KeyError:
        raise NotImplementedError(f"no builder registered for system={cfg.system.name}") from None
    return builder(cfg)


def move_overlapping_atoms(cfg: NrepConfig, system: System) -> tuple[System, int]:
    """The system with atoms that sit on top of each other moved apart (with a warning), and how many moved.

    Coincident atoms give infinite or NaN energies and gradients from the first step.
    """
    x0, moved = separate_overlaps(system.x0, seed=derive_seed(cfg.seed, "overlaps"))
    if not moved:
        return system, 0
    log.warning("%d atoms of the start sat on top of another (closer than %g %s); moved them %g apart",
                moved, MIN_DISTANCE, system.length_unit, DISPLACEMENT)
    return dataclasses.replace(system, x0=x0), moved


def term_columns(energy: object) -> Callable[[torch.Tensor], dict[str, float]] | None:
    """The energy's terms as it is minimised (they add up to it), as trace columns; None without ``terms``."""
    if not hasattr(energy, "terms"):
        return None
    unit = energy_column(energy.unit).removeprefix("energy_")

    def columns(x: torch.Tensor) -> dict[str, float]:
        with torch.no_grad():
            return {f"energy_{name}_{unit}": float(value) for name, value in energy.terms(x).items()}

    return columns


def show_progress(mode: str, multirun: bool) -> bool:
    """Whether a run shows its progress bar: ``output.progress`` on, or auto in a terminal for a single run."""
    if mode == "on":
        return True
    return mode == "auto" and not multirun and sys.stdout.isatty()


def watchers(cfg: NrepConfig, system: System, energy: object, plan: MethodPlan, show_progress: bool) -> dict[str, Callback]:
    """The callbacks of a run by role: guard, best, trace, and the optional ones."""
    # MD reports a snapshot every report_every steps: one trace row per snapshot
    every = plan.trace_every or cfg.output.trace_every
    forces = force_columns(energy.unit, system.length_unit)
    found: dict[str, Callback] = {
        "guard": NonFiniteGuard(),
        "best": BestState(),
        "trace": TraceRecorder(every, energy_column(energy.unit), plan.setup_s, system.trace_metrics, forces,
                               term_columns(energy), cfg.output.trace_terms_every),
    }
    sampled = isinstance(cfg.energy, LoopEnergyConfig) and cfg.energy.repulsion.enabled
    if sampled and not uses_line_search(cfg):
        found["resampler"] = Resampler(energy, cfg.energy.repulsion.resample_every)
    if cfg.stop.max_total_steps is not None:
        found["cap"] = TotalStepCap(cfg.stop.max_total_steps)
    if cfg.time_budget_s is not None:
        found["budget"] = TimeBudget(cfg.time_budget_s - plan.setup_s)
    if cfg.output.trajectory_every:
        found["trajectory"] = TrajectoryRecorder(cfg.output.trajectory_every, energy_column(energy.unit), forces[0],
                                                 plan.setup_s)
    if show_progress:
        found["progress"] = ProgressBar(energy.unit, force_unit(energy.unit, system.length_unit))
    return found
