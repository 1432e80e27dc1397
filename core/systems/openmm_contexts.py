"""Every OpenMM platform and context nrep builds: evaluation contexts (energies and forces,
OpenMM's minimiser) and Langevin dynamics of a prepared protein (the MD-unfolded start and
the MD baseline).


amber14 with GBn2 implicit solvent (``implicit``), a TIP3P-FB water box with
``padding_nm``, PME and a 1 nm cutoff (``explicit``, the authors' setup) or nothing
(``vacuum``); bonds to hydrogen constrained; a seeded Langevin middle integrator.

Platforms: ``cpu`` runs on one thread unless told otherwise; on one thread OpenMM's sums
are bit-identical from run to run (with two they are not, and thousands of hot steps
amplify the last bits into a different structure); ``reference`` is also
bit-reproducible and about half as fast; ``cuda`` is fast but not bit-reproducible;
``auto`` takes CUDA when present, else the CPU.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import openmm

from nrep.configs.schema.choices import OPENMM_PLATFORMS, SOLVENTS

FORCEFIELDS = {
    "implicit": ("amber14-all.xml", "implicit/gbn2.xml"),
    "explicit": ("amber14-all.xml", "amber14/tip3pfb.xml"),
    "vacuum": ("amber14-all.xml",),
}


def openmm_platform(name: str, threads: int | None = None) -> tuple[openmm.Platform, dict[str, str]]:
    """(platform, properties) for ``name``: reference, cpu (``threads``, default one), cuda,
    or auto (CUDA if OpenMM has it, else the CPU)."""
    import openmm

    if name not in OPENMM_PLATFORMS:
        raise ValueError(f"unknown OpenMM platform {name!r}; use one of {', '.join(OPENMM_PLATFORMS)}")

    available = {openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())}
    if name == "auto":
        name = "cuda" if "CUDA" in available else "cpu"
    chosen = {"reference": "Reference", "cpu": "CPU", "cuda": "CUDA"}[name]
    if chosen not in available:
        from nrep.core.errors import NrepError

        raise NrepError(f"OpenMM has no {chosen} platform here (it has {', '.join(sorted(available))}); choose another platform")
    properties = {"Threads": str(threads or 1)} if chosen == "CPU" else {}
    return openmm.Platform.getPlatformByName(chosen), properties


def evaluation_context(system: openmm.System, platform: str = "reference",
                       threads: int | None = None) -> tuple[openmm.Context, str]:
    """A context that only evaluates ``system`` (energies, forces, OpenMM's minimiser), and its platform's name.

    Its integrator is never stepped; ``platform`` is one of OPENMM_PLATFORMS.
    """
    import openmm

    chosen, properties = openmm_platform(platform, threads)
    return openmm.Context(system, openmm.VerletIntegrator(0.001), chosen, properties), chosen.getName()


def openmm_energy(system: openmm.System, x_nm: np.ndarray, platform: str = "reference") -> tuple[float, np.ndarray]:
    """OpenMM's potential energy (kJ/mol) and forces (kJ/mol/nm) of ``system`` at x (n, 3) nm."""
    from openmm import unit

    context, _ = evaluation_context(system, platform)
    context.setPositions(np.asarray(x_nm, dtype=np.float64) * unit.nanometer)
    state = context.getState(getEnergy=True, getForces=True)
    energy = state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
    forces = np.asarray(state.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer))
    return energy, forces


def openmm_seed(seed: int) -> int:
    """A seed OpenMM honours: it reads 0 as "pick one at random"."""
    return 1 + seed % 2_147_483_646


def langevin_context(
    topology: openmm.app.Topology,
    positions_nm: np.ndarray,
    seed: int,
    temperature_K: float,
    timestep_fs: float = 2.0,
    friction_per_ps: float = 1.0,
    solvent: str = "implicit",
    padding_nm: float = 1.0,
    platform: str = "auto",
    threads: int | None = None,
) -> openmm.Context:
    """An OpenMM context ready to run, with velocities drawn at ``temperature_K``.

    The protein's atoms come first (solvent is appended), so positions[:n] are the solute.
    """
    import openmm
    from openmm import app, unit

    if solvent not in SOLVENTS:
        raise ValueError(f"unknown solvent {solvent!r}; use one of {', '.join(SOLVENTS)}")
    forcefield = app.ForceField(*FORCEFIELDS[solvent])
    modeller = app.Modeller(topology, positions_nm * unit.nanometer)
    if solvent == "explicit":
        modeller.addSolvent(forcefield, model="tip3p", padding=padding_nm * unit.nanometer)
        system = forcefield.createSystem(
            modeller.topology, nonbondedMethod=app.PME, nonbondedCutoff=1.0 * unit.nanometer, constraints=app.HBonds
        )
    else:
        system = forcefield.createSystem(modeller.topology, nonbondedMethod=app.NoCutoff, constraints=app.HBonds)
    integrator = openmm.LangevinMiddleIntegrator(
        temperature_K * unit.kelvin, friction_per_ps / unit.picosecond, timestep_fs * unit.femtosecond
    )
    integrator.setRandomNumberSeed(openmm_seed(seed))
    context = openmm.Context(system, integrator, *openmm_platform(platform, threads))
    context.setPositions(modeller.positions)
    context.setVelocitiesToTemperature(temperature_K * unit.kelvin, openmm_seed(seed))
    return context


def degrees_of_freedom(system: openmm.System) -> int:
    """3 per moving particle, minus constraints, minus 3 for a centre-of-mass motion remover."""
    import openmm

    moving = sum(1 for i in range(system.getNumParticles()) if system.getParticleMass(i)._value > 0)
    remover = any(isinstance(f, openmm.CMMotionRemover) for f in system.getForces())
    return 3 * moving - system.getNumConstraints() - (3 if remover else 0)
