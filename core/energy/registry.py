"""Energies by name: ``energy=<name>`` -> how the energy of a run's system is built.

What a run asks of an energy (the ``Energy`` protocol below): ``energy(x)`` for
coordinates x (..., n, 3), ``exact_terms(x)`` (its terms by name, without sampling),
``unit`` (kJ/mol, reduced, ...), and ``to(device)``; CG and the GNN's mode graph also ask
``pair_interactions()`` and ``local_interactions()`` for the Hessian blocks, and an energy
with terms that are neither may offer ``autograd_hessian_part()`` (those terms as one
callable, whose blocks the slow modes take from autograd). A new energy
is a module with the model, a builder here (or :func:`register_energy` from outside
nrep), and a config dataclass (``configs/schema/``) with its YAML.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Callable, Protocol

import torch

from nrep.configs.schema import AmberEnergyConfig, LoopEnergyConfig, NrepConfig, SimpleEnergyConfig
from nrep.core.energy.amber import AmberEnergy, AmberParameters
from nrep.core.energy.loop import LoopEnergy, build_loop_energy
from nrep.core.energy.simple import SimpleEnergy, SimpleParameters
from nrep.core.runtime import derive_seed


class Energy(Protocol):
    unit: str

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...

    def exact_terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]: ...

    def to(self, device: torch.device | str) -> Energy: ...


EnergyBuilder = Callable[[NrepConfig, object], Energy]  # (cfg, system) -> energy


def loop_energy(cfg: NrepConfig, system: object) -> LoopEnergy:
    e: LoopEnergyConfig = cfg.energy
    repulsion = None
    if e.repulsion.enabled:
        repulsion = {k: v for k, v in asdict(e.repulsion).items() if k not in ("enabled", "resample_every")}
    return build_loop_energy(
        system,
        e.name,
        normalisation=e.normalisation,
        bond_length=e.bond_length,
        loop_strength=e.loop_strength,
        lj_softening=e.lj_softening,
        lj_core_radius=e.lj_core_radius,
        repulsion=repulsion,
        seed=derive_seed(cfg.seed, "repulsion"),
    )


def amber_energy(cfg: NrepConfig, system: object) -> AmberEnergy:
    e: AmberEnergyConfig = cfg.energy
    energy = AmberEnergy(AmberParameters.from_openmm(system.prepared.system), asdict(e.weights))
    energy.compiled = e.compile
    return energy


def simple_energy(cfg: NrepConfig, system: object) -> SimpleEnergy:
    e: SimpleEnergyConfig = cfg.energy
    amber = AmberParameters.from_openmm(system.prepared.system)
    params = SimpleParameters.from_protein(system.topology, amber, tuple(e.hydrophobic_residues))
    settings = {k: v for k, v in asdict(e).items() if k not in ("name", "hydrophobic_residues")}
    return SimpleEnergy(params, **settings)


ENERGIES: dict[str, EnergyBuilder] = {
    "pure_lj": loop_energy,
    "bond_lj": loop_energy,
    "amber": amber_energy,
    "simple": simple_energy,
}


def register_energy(name: str, builder: EnergyBuilder) -> None:
    """Make ``energy=<name>`` build its energy with ``builder(cfg, system)`` (its config is registered with nrep.configs)."""
    ENERGIES[name] = builder


def build_energy(cfg: NrepConfig, system: object) -> Energy:
    """The energy ``cfg.energy`` names, for this system."""
    try:
        builder = ENERGIES[cfg.energy.name]
    except KeyError:
        raise ValueError(f"no energy registered as {cfg.energy.name!r}; known: {', '.join(ENERGIES)}") from None
    return builder(cfg, system)
