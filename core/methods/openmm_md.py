"""The OpenMM baseline of dynamics: Langevin MD of the protein, as the paper's comparison ran it.

298 K, 2 fs, friction 1/ps, bonds to hydrogen constrained, in the run's force field and
solvent (``energy.solvent``: vacuum, an implicit model such as GBn2, or explicit TIP3P-FB
water with PME, the authors' setup). Every ``report_every`` steps the solute snapshot goes
to nrep's callbacks (trace with energy and RMSD, best state, progress, time budget) as one
stage named ``md``; its energy is the run's energy of the solute (in explicit water: the
solute's in vacuum), so MD is scored on the axis of the other methods, and OpenMM's own
potential energy (water included) and the instantaneous temperature are added to those
trace rows. ``minimise_before`` starts from OpenMM's
minimum (the authors did not), ``minimise_after`` ends with OpenMM's minimiser in the
same solvent. The summary's mean temperature is over the second half of the snapshots.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch

from nrep.configs.schema import NrepConfig, OpenMMMDMethodConfig
from nrep.core.engine.forces import value_and_gradient
from nrep.core.engine.stages import Callback, Stage, StageResult, StepState
from nrep.core.methods.plans import MethodPlan
from nrep.core.runtime import Runtime, derive_seed
from nrep.core.systems.openmm_contexts import degrees_of_freedom, langevin_context, openmm_platform_for, openmm_seed

if TYPE_CHECKING:
    import openmm

    from nrep.core.energy.registry import Energy
    from nrep.core.systems.protein import ProteinSystem

STAGE = "md"
BOLTZMANN_KJ_MOL_K = 0.00831446261815324


def run_md(
    topology: openmm.app.Topology,
    x0_nm: torch.Tensor,
    energy: Energy,  # the run's energy of the protein
    callbacks: Sequence[Callback],
    steps: int,
    report_every: int,
    seed: int,
    temperature_K: float = 298.0,
    minimise_before: bool = False,
    minimise_after: bool = False,
    **dynamics: Any,
) -> tuple[StageResult, list[dict[str, Any]], dict[str, Any]]:
    """MD from x0; returns the stage result, per-report OpenMM columns (by step) and summary columns.

    ``dynamics``: :func:`langevin_context`'s timestep_fs, friction_per_ps, solvent,
    padding_nm, platform and threads.
    """
    import openmm
    from openmm import unit

    n = x0_nm.shape[0]
    device = next(iter(energy.buffers())).device
    context = langevin_context(topology, x0_nm.detach().cpu().numpy(), seed, temperature_K, **dynamics)
    integrator = context.getIntegrator()
    if minimise_before:
        openmm.LocalEnergyMinimizer.minimize(context)
        context.setVelocitiesToTemperature(temperature_K * unit.kelvin, openmm_seed(seed))
    dof = degrees_of_freedom(context.getSystem())
    stage = Stage(STAGE, model_from=None, make_optimizer=None, max_steps=steps)
    for cb in callbacks:
        cb.on_stage_start(stage, 0)
    started = time.perf_counter()
    openmm_rows: list[dict[str, Any]] = []
    temperatures: list[float] = []
    observed: list[torch.Tensor] = []  # dE/dX of the first and the latest snapshot

    def observe(step: int) -> tuple[torch.Tensor, float, str | None]:
        state = context.getState(getPositions=True, getEnergy=True)
        x = torch.from_numpy(np.asarray(state.getPositions(asNumpy=True).value_in_unit(unit.nanometer))[:n].copy())
        kinetic = state.getKineticEnergy().value_in_unit(unit.kilojoule_per_mole)
        temperature = 2 * kinetic / (dof * BOLTZMANN_KJ_MOL_K)
        if step > 0:
            temperatures.append(temperature)
        openmm_rows.append({
            "step": step,
            "energy_openmm_kJ_mol": state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole),
            "temperature_K": temperature,
        })
        ours, gradient = value_and_gradient(energy, x.to(device))
        observed[min(len(observed), 1):] = [gradient]  # keep the first and the latest
        reason = None
        for cb in callbacks:
            found = cb.on_step(StepState(STAGE, step, step, torch.tensor(ours), x.to(device),
                                         time.perf_counter() - started, gradient))
            reason = reason or found
        return x, ours, reason

    step, reason = 0, None
    x, value, reason = observe(0)
    energy_start = value
    while step < steps and reason is None:
        chunk = min(report_every, steps - step)
        integrator.step(chunk)
        step += chunk
        x, value, reason = observe(step)
    if minimise_after and reason != "interrupted":  # a stopped run ends now, not after a minimisation
        openmm.LocalEnergyMinimizer.minimize(context)
        x, value, _ = observe(step)
    elapsed = time.perf_counter() - started
    result = StageResult(STAGE, step, reason or "max_steps", elapsed, x.to(device), value, energy_start, step,
                         gradient_start=observed[0], gradient=observed[-1])
    for cb in callbacks:
        cb.on_stage_end(result, step, elapsed)
    settled = temperatures[len(temperatures) // 2:]  # the first half is equilibration
    columns = {
        "openmm_platform": context.getPlatform().getName(),
        "md_temperature_mean_K": float(np.mean(settled)) if settled else float("nan"),
        "energy_final_openmm_md": openmm_rows[-1]["energy_openmm_kJ_mol"],
    }
    return result, openmm_rows, columns


def plan(cfg: NrepConfig, system: ProteinSystem, energy: Energy, runtime: Runtime) -> MethodPlan:
    """Langevin MD of the protein; one trace row per snapshot (every ``report_every`` steps)."""
    method: OpenMMMDMethodConfig = cfg.method
    found = MethodPlan([], trace_every=method.report_every)
    settings = {k: v for k, v in asdict(method).items() if k not in ("name", "steps", "report_every")}

    cap = cfg.stop.max_total_steps
    steps = method.steps if cap is None else min(method.steps, cap)  # MD is one stage: the cap is its length

    def run(callbacks: Sequence[Callback]) -> tuple[list[StageResult], list[dict]]:
        result, rows, columns = run_md(
            system.topology, system.x0, energy, list(callbacks), steps, method.report_every,
            derive_seed(cfg.seed, "md"), platform=openmm_platform_for(cfg.energy.platform, cfg.device.name),
            threads=runtime.threads, solvent=cfg.energy.solvent, forcefield=cfg.energy.forcefield, **settings,
        )
        found.info.update(columns)
        return [result], rows

    found.runner = run
    return found
