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

import copy
from dataclasses import asdict
from typing import TYPE_CHECKING, Callable, Protocol

import torch

from nrep.configs.schema import AmberEnergyConfig, LoopEnergyConfig, NrepConfig, SimpleEnergyConfig
from nrep.configs.schema.choices import FORCEFIELDS
from nrep.core.energy.amber import AmberEnergy, AmberParameters
from nrep.core.energy.loop import LoopEnergy, build_loop_energy
from nrep.core.energy.openmm_engine import OpenMMEnergy
from nrep.core.energy.simple import SimpleEnergy, SimpleParameters
from nrep.core.runtime import default_threads, derive_seed
from nrep.core.systems.openmm_contexts import openmm_platform_for
from nrep.core.systems.openmm_contexts import openmm_system as build_openmm_system

if TYPE_CHECKING:
    import openmm


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
        cutoff=e.cutoff_for(system.n) if repulsion is not None else None,
        skin=e.skin,
    )


def amber_energy(cfg: NrepConfig, system: object) -> AmberEnergy | OpenMMEnergy:
    """energy=amber: nrep's torch terms (vacuum amber14), or OpenMM's force field and solvent (engine=openmm)."""
    e: AmberEnergyConfig = cfg.energy
    if e.engine == "openmm":
        return openmm_engine(cfg, system)
    energy = amber_terms(cfg, system, asdict(e.weights))
    energy.compiled = e.compile
    return energy


def amber_terms(cfg: NrepConfig, system: object, weights: dict[str, float] | None = None) -> AmberEnergy:
    """nrep's torch amber14 of the protein, with the run's cutoff; a cutoff's neighbour list is
    built at the start, so that the slow modes find its pairs."""
    e: AmberEnergyConfig = cfg.energy
    cutoff = e.cutoff_for(system.n)
    energy = AmberEnergy(AmberParameters.from_openmm(system.prepared.system), weights, cutoff, e.skin_nm)
    if cutoff is not None:
        energy.listed_pairs(system.x0.to(torch.float64))
    return energy


def openmm_engine(cfg: NrepConfig, system: object) -> OpenMMEnergy:
    """The prepared protein in ``energy.forcefield`` and ``energy.solvent``, evaluated by OpenMM.

    Vacuum amber14 is the prepared system itself. The explicit solvent is water for
    dynamics (method=openmm_md): the run's energy is then the solute's in vacuum. OpenMM's
    CPU platform takes ``threads`` when set, else the run's default for the system's size
    (one thread below :data:`nrep.core.runtime.PARALLEL_FROM_PARTICLES`, where it is also
    bit-reproducible).
    """
    e: AmberEnergyConfig = cfg.energy
    terms = amber_terms(cfg, system) if e.forcefield == FORCEFIELDS[0] else None
    describe = {"energy_engine": "openmm", "energy_forcefield": e.forcefield, "energy_solvent": e.solvent,
                "energy_cutoff_nm": e.cutoff_for(system.n)}
    threads = cfg.threads or default_threads(system.n)
    return OpenMMEnergy(openmm_system_of(cfg, system), openmm_platform_for(e.platform, cfg.device.name), threads,
                        terms, describe)


def openmm_system_of(cfg: NrepConfig, system: object) -> openmm.System:
    """A fresh OpenMM System of the protein in the run's force field and solvent, nothing constrained
    (``explicit``: the solute in vacuum, the water is for dynamics)."""
    e: AmberEnergyConfig = cfg.energy
    solvent = "vacuum" if e.solvent == "explicit" else e.solvent
    cutoff = e.cutoff_for(system.n)
    if e.forcefield == FORCEFIELDS[0] and solvent == "vacuum" and cutoff is None:
        return copy.deepcopy(system.prepared.system)  # a copy: force groups are set on it, not on the shared one
    return build_openmm_system(system.topology, e.forcefield, solvent, cutoff_nm=cutoff)[0]


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
