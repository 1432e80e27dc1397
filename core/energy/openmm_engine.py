"""An OpenMM System as an nrep energy: OpenMM evaluates it, torch differentiates through it.

Any force field and implicit solvent OpenMM can build is then an energy for every nrep
method. :class:`OpenMMEnergy` holds one evaluation Context; its forward pass sets the
positions (float64 nm) and reads the potential energy (kJ/mol) and forces, and the
backward pass returns −forces × the incoming gradient, so one OpenMM call serves both
(``_Evaluation``). An OpenMM error on a step (e.g. "Particle coordinate is NaN") is a
non-finite energy, which the stage loop rolls back like any failed step.

Part of issue 22 (``energy.engine=openmm``); not yet selectable from the config.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from nrep.core.systems.openmm_contexts import evaluation_context

if TYPE_CHECKING:
    import openmm


class _Evaluation(torch.autograd.Function):
    """E(x) by OpenMM; its gradient is −F, kept from the same call."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, engine: OpenMMEnergy) -> torch.Tensor:
        energy, forces = engine.evaluate(x.detach().to("cpu", torch.float64).numpy())
        ctx.save_for_backward(torch.from_numpy(forces).to(device=x.device, dtype=x.dtype))
        return torch.tensor(energy, dtype=x.dtype, device=x.device)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (forces,) = ctx.saved_tensors
        return -forces * grad, None


class OpenMMEnergy(nn.Module):
    """E(x) for coordinates x (n, 3) in nm, in kJ/mol, evaluated by OpenMM on ``platform``."""

    unit = "kJ/mol"

    def __init__(self, system: openmm.System, platform: str = "cpu", threads: int | None = None) -> None:
        super().__init__()
        self.context, self.platform_name = evaluation_context(system, platform, threads)
        self.n = system.getNumParticles()
        self.evaluations = 0
        # a buffer, so that code asking an energy for its device finds one (always the CPU: OpenMM holds the rest)
        self.register_buffer("anchor", torch.zeros(0, dtype=torch.float64))

    def evaluate(self, x_nm: np.ndarray) -> tuple[float, np.ndarray]:
        """(energy kJ/mol, forces kJ/mol/nm) at x; an OpenMM error gives NaN for both."""
        from openmm import unit

        self.evaluations += 1
        try:
            self.context.setPositions(x_nm * unit.nanometer)
            state = self.context.getState(getEnergy=True, getForces=True)
        except Exception:  # noqa: BLE001 - OpenMMException ("Particle coordinate is NaN"): a failed step, not a crash
            return float("nan"), np.full((self.n, 3), np.nan)
        energy = state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
        forces = np.asarray(state.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer))
        return float(energy), forces

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape != (self.n, 3):
            raise ValueError(f"the OpenMM engine evaluates one structure of {self.n} atoms, shape ({self.n}, 3); "
                             f"got {tuple(x.shape)} (batches of replicas need energy.engine=torch)")
        return _Evaluation.apply(x, self)

    def exact_terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """OpenMM's total, as one term (nothing is sampled)."""
        return {"openmm": self(x)}
