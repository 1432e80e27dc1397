"""The OpenMM baseline of local minimisation: ``LocalEnergyMinimizer`` (L-BFGS) on the same system.

The run's own energy as an OpenMM ``System`` (``energy.forcefield`` in ``energy.solvent``,
no cutoff, no constraints: the energy every other method minimises) starts from the
same X0 as nrep's methods, on ``energy.platform``. A ``MinimizationReporter`` feeds every iteration to nrep's callbacks as
one stage named ``openmm``, so the trace (energy, RMSD), the best state, the progress bar
and the time budget work as for any other method.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

from nrep.configs.schema import NrepConfig, OpenMMMinMethodConfig
from nrep.core.energy.registry import openmm_system_of
from nrep.core.engine.forces import value_and_gradient
from nrep.core.engine.stages import Callback, Stage, StageResult, StepState
from nrep.core.methods.plans import MethodPlan, force_tolerance
from nrep.core.runtime import Runtime
from nrep.core.systems.openmm_contexts import evaluation_context, openmm_platform_for

if TYPE_CHECKING:
    import openmm

    from nrep.core.energy.registry import Energy
    from nrep.core.systems.protein import ProteinSystem

STAGE = "openmm"


def minimise_with_openmm(
    system: openmm.System,
    x0_nm: torch.Tensor,
    energy: Energy,  # nrep's energy of the same system, for the final value
    callbacks: Sequence[Callback],
    tolerance: float,
    max_iterations: int,
    platform: str = "auto",
    threads: int | None = None,
) -> tuple[StageResult, str]:
    """Minimise from x0 with OpenMM; returns the stage's result and the platform used."""
    import openmm
    from openmm import unit

    context, platform_name = evaluation_context(system, platform, threads)
    context.setPositions(x0_nm.detach().cpu().numpy() * unit.nanometer)
    stage = Stage(STAGE, model_from=None, make_optimizer=None, max_steps=max_iterations)
    for cb in callbacks:
        cb.on_stage_start(stage, 0)
    started = time.perf_counter()
    device = next(iter(energy.buffers())).device
    energy_start, gradient_start = value_and_gradient(energy, x0_nm.to(device=device, dtype=torch.float64))
    seen = {"iterations": 0, "stop": None}
    n = x0_nm.shape[0]

    def watch(step: int, value: float, coordinates: torch.Tensor, gradient: torch.Tensor) -> bool:
        """Show the callbacks the state after ``step`` iterations (0: the start, as every method's trace has it)."""
        state = StepState(STAGE, step, step, torch.tensor(value, dtype=torch.float64), coordinates,
                          time.perf_counter() - started, gradient)
        for cb in callbacks:
            reason = cb.on_step(state)
            if reason is not None and seen["stop"] is None:
                seen["stop"] = reason
        return seen["stop"] is not None

    class Reporter(openmm.MinimizationReporter):
        def report(self, iteration: int, x: list[float], grad: list[float], args: dict[str, float]) -> bool:
            coordinates = torch.from_numpy(np.array(x, dtype=np.float64).reshape(n, 3))
            gradient = torch.from_numpy(np.array(grad, dtype=np.float64).reshape(n, 3))  # -F (nothing is constrained)
            seen["iterations"] = iteration + 1  # OpenMM reports after each iteration, counting from 0
            return watch(iteration + 1, float(args["system energy"]), coordinates, gradient)

    if not watch(0, energy_start, x0_nm.detach().to("cpu", torch.float64), gradient_start.cpu()):
        openmm.LocalEnergyMinimizer.minimize(context, tolerance, max_iterations, Reporter())
    elapsed = time.perf_counter() - started
    x = torch.from_numpy(np.asarray(
        context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer), dtype=np.float64
    ))
    x = x.to(device)
    final, gradient = value_and_gradient(energy, x)
    reached_cap = max_iterations > 0 and seen["iterations"] >= max_iterations
    reason = seen["stop"] or ("max_steps" if reached_cap else "converged")
    result = StageResult(STAGE, seen["iterations"], reason, elapsed, x, final, energy_start, seen["iterations"],
                         gradient_start=gradient_start, gradient=gradient)
    for cb in callbacks:
        cb.on_stage_end(result, seen["iterations"], elapsed)
    return result, platform_name


def plan(cfg: NrepConfig, system: ProteinSystem, energy: Energy, runtime: Runtime) -> MethodPlan:
    """OpenMM's minimiser on the run's energy as an OpenMM system, from the same X0."""
    method: OpenMMMinMethodConfig = cfg.method
    found = MethodPlan([])

    def run(callbacks: Sequence[Callback]) -> tuple[list[StageResult], list[dict]]:
        result, platform = minimise_with_openmm(
            openmm_system_of(cfg, system), system.x0, energy, [*callbacks, *force_tolerance(cfg.stop)], method.tolerance_kJ_mol_nm,
            method.max_iterations, openmm_platform_for(cfg.energy.platform, cfg.device.name), runtime.threads,
        )
        found.info["openmm_platform"] = platform
        return [result], []

    found.runner = run
    return found
