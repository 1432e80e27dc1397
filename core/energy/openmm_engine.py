"""An OpenMM System as an nrep energy: OpenMM evaluates it, torch differentiates through it.

Any force field and implicit solvent OpenMM can build is then an energy for every nrep
method. :class:`OpenMMEnergy` holds one evaluation Context; its forward pass sets the
positions (float64 nm) and reads the potential energy (kJ/mol) and forces, and the
backward pass returns −forces × the incoming gradient, so one OpenMM call serves both
(``_Evaluation``). An OpenMM error on a step (e.g. "Particle coordinate is NaN") is a
non-finite energy, which the stage loop rolls back like any failed step.

``energy=amber energy.engine=openmm`` builds it (``core/energy/registry.py``). Each force
is in its own force group, so the summary's terms (bond, angle, torsion, nonbonded,
solvation, ...) are OpenMM's own, read only when asked. The slow modes take the Hessian
either from nrep's torch amber14 terms of the same structure in vacuum (``terms``, which
this engine lends through ``pair_interactions()`` and ``local_interactions()``), or from
finite differences of these forces (any force field and solvent; ``core/modes``).
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


# summary names of OpenMM's forces (a second force of one kind gets a number: bond_2)
TERM_NAMES = {"HarmonicBondForce": "bond", "HarmonicAngleForce": "angle", "PeriodicTorsionForce": "torsion",
              "NonbondedForce": "nonbonded", "CustomGBForce": "solvation", "GBSAOBCForce": "solvation",
              "CMAPTorsionForce": "cmap", "CustomTorsionForce": "improper"}
SILENT_FORCES = ("CMMotionRemover",)  # no energy


def term_groups(system: openmm.System) -> dict[str, int]:
    """Put each force with an energy in its own force group; returns {term name: group}."""
    groups: dict[str, int] = {}
    for index, force in enumerate(system.getForces()):
        kind = type(force).__name__
        if kind in SILENT_FORCES:
            continue
        name = TERM_NAMES.get(kind, kind.removesuffix("Force").lower())
        if name in groups:
            name = f"{name}_{sum(1 for k in groups if k.split('_')[0] == name) + 1}"
        if index >= 31:  # OpenMM has 32 groups: the forces beyond the 31st share the last, as one term
            name = "other"
        group = min(index, 31)
        force.setForceGroup(group)
        groups[name] = group
    return groups


class OpenMMEnergy(nn.Module):
    """E(x) for coordinates x (n, 3) in nm, in kJ/mol, evaluated by OpenMM on ``platform``.

    ``terms``: nrep's torch amber14 of the same structure in vacuum, whose pair and local
    interactions give the slow modes analytic Hessian blocks (None: the modes take finite
    differences of OpenMM's forces). ``describe`` is what the summary records about it.
    """

    unit = "kJ/mol"

    def __init__(self, system: openmm.System, platform: str = "CPU", threads: int | None = None,
                 terms: nn.Module | None = None, describe: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.system = system
        self.groups = term_groups(system)
        self.context, self.platform_name = evaluation_context(system, platform, threads)
        self.reference: openmm.Context | None = None  # float64, for exact_terms (built when first asked)
        self.n = system.getNumParticles()
        self.evaluations = 0
        self.vacuum_terms = [terms]  # a list: the torch terms are a tool of the modes, not a submodule to move
        self.description = {**(describe or {}), "energy_platform": self.platform_name}
        # a buffer, so that code asking an energy for its device finds one (always the CPU: OpenMM holds the rest)
        self.register_buffer("anchor", torch.zeros(0, dtype=torch.float64))

    def evaluate(self, x_nm: np.ndarray) -> tuple[float, np.ndarray]:
        """(energy kJ/mol, forces kJ/mol/nm) at x; an OpenMM error gives NaN for both.

        OpenMM's own units are nm, kJ/mol and kJ/mol/nm, so plain arrays go in and the
        values come out without openmm.unit's conversions, which cost a small protein's call
        a noticeable share.
        """
        self.evaluations += 1
        try:
            self.context.setPositions(x_nm)
            state = self.context.getState(getEnergy=True, getForces=True)
        except Exception:  # noqa: BLE001 - OpenMMException ("Particle coordinate is NaN"): a failed step, not a crash
            return float("nan"), np.full((self.n, 3), np.nan)
        return float(state.getPotentialEnergy()._value), state.getForces(asNumpy=True)._value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape != (self.n, 3):
            raise ValueError(f"the OpenMM engine evaluates one structure of {self.n} atoms, shape ({self.n}, 3); "
                             f"got {tuple(x.shape)} (batches of replicas need energy.engine=torch)")
        return _Evaluation.apply(x, self)

    def terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """OpenMM's energy of each force (kJ/mol) on the run's platform: one evaluation per term,
        adding up to the energy as minimised (to the platform's precision)."""
        return self._group_energies(self.context, x)

    def exact_terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """OpenMM's energy of each force (kJ/mol) in float64 (its Reference platform), by name; they add up
        to the energy. The CPU platform's single-precision sums differ by ~1e-7 of the largest term."""
        if self.reference is None:
            self.reference, _ = evaluation_context(self.system, "Reference")
        return self._group_energies(self.reference, x)

    def _group_energies(self, context: openmm.Context, x: torch.Tensor) -> dict[str, torch.Tensor]:
        try:
            context.setPositions(x.detach().to("cpu", torch.float64).numpy())
            values = {name: context.getState(getEnergy=True, groups={group}).getPotentialEnergy()._value
                      for name, group in self.groups.items()}
        except Exception:  # noqa: BLE001 - OpenMMException: the terms of a broken structure are not numbers
            values = dict.fromkeys(self.groups, float("nan"))
        return {name: torch.tensor(value, dtype=torch.float64) for name, value in values.items()}

    def describe(self) -> dict[str, Any]:
        """Summary columns: engine, force field, solvent, platform."""
        return dict(self.description)

    def _torch_terms(self) -> nn.Module:
        if self.vacuum_terms[0] is None:
            raise ValueError("this OpenMM energy has no torch terms; its slow modes take finite differences")
        return self.vacuum_terms[0]

    def pair_interactions(self) -> list:
        """The torch amber14 terms' pairs (vacuum), for analytic Hessian blocks of the slow modes."""
        return self._torch_terms().pair_interactions()

    def local_interactions(self) -> list:
        return self._torch_terms().local_interactions()

    @property
    def has_terms(self) -> bool:
        return self.vacuum_terms[0] is not None
