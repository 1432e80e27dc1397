"""Every OpenMM platform, System and Context nrep builds: the OpenMM energy engine and
OpenMM's minimiser (evaluation contexts), and Langevin dynamics of a prepared protein (the
MD-unfolded start and the MD baseline).

Systems: a force field of ``FORCEFIELDS`` (default amber14) in vacuum, in one of OpenMM's
implicit solvents (``implicit/<name>.xml``: gbn2, obc2, obc1, hct, gbn) or, for dynamics
only, in a TIP3P-FB water box with ``padding_nm``, PME and a 1 nm cutoff (``explicit``,
the authors' setup); no cutoff otherwise. Dynamics constrain bonds to hydrogen (a
seeded Langevin middle integrator); energies and minimisers constrain nothing.

Platforms: ``CPU`` runs on one thread unless told otherwise; on one thread OpenMM's sums
are bit-identical from run to run (with two they are not, and thousands of hot steps
amplify the last bits into a different structure); ``Reference`` is also
bit-reproducible and about half as fast; ``CUDA`` and ``OpenCL`` are fast but not
bit-reproducible; ``auto`` takes CUDA when present, else the CPU.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import openmm
    import openmm.app

from nrep.configs.schema.choices import FORCEFIELDS, IMPLICIT_SOLVENTS, OPENMM_PLATFORMS, SOLVENTS
from nrep.core.errors import NrepError

# the water model of each force field for solvent=explicit (the authors' TIP3P-FB with amber14)
WATER = {"amber14-all.xml": "amber14/tip3pfb.xml", "amber19-all.xml": "amber19/tip3pfb.xml",
         "charmm36_2024.xml": "charmm36_2024/water.xml"}


def openmm_platform(name: str, threads: int | None = None) -> tuple[openmm.Platform, dict[str, str]]:
    """(platform, properties) for ``name``, one of OPENMM_PLATFORMS in any case: CPU (``threads``,
    default one), CUDA, OpenCL, Reference, or auto (CUDA if OpenMM has it, else the CPU)."""
    import openmm

    chosen = next((p for p in OPENMM_PLATFORMS if p.lower() == name.lower()), None)
    if chosen is None:
        raise ValueError(f"unknown OpenMM platform {name!r}; use one of {', '.join(OPENMM_PLATFORMS)}")
    available = {openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())}
    if chosen == "auto":
        chosen = "CUDA" if "CUDA" in available else "CPU"
    if chosen not in available:
        raise NrepError(f"OpenMM has no {chosen} platform here (it has {', '.join(sorted(available))}); "
                        "choose another platform")
    properties = {"Threads": str(threads or 1)} if chosen == "CPU" else {}
    return openmm.Platform.getPlatformByName(chosen), properties


def openmm_platform_for(platform: str, device: str) -> str:
    """``auto`` follows the run's device: OpenMM's CUDA with device=cuda (when present), else the CPU."""
    if platform != "auto":
        return platform
    return "auto" if device.startswith("cuda") else "CPU"


def forcefield_files(forcefield: str = "amber14-all.xml", solvent: str = "vacuum") -> tuple[str, ...]:
    """The OpenMM XML files of ``forcefield`` in ``solvent``."""
    if forcefield not in FORCEFIELDS:
        raise ValueError(f"unknown force field {forcefield!r}; use one of {', '.join(FORCEFIELDS)}")
    if solvent not in SOLVENTS:
        raise ValueError(f"unknown solvent {solvent!r}; use one of {', '.join(SOLVENTS)}")
    if solvent in IMPLICIT_SOLVENTS:
        return forcefield, f"implicit/{solvent}.xml"
    if solvent == "explicit":
        return forcefield, WATER[forcefield]
    return (forcefield,)


def openmm_system(
    topology: openmm.app.Topology,
    forcefield: str = "amber14-all.xml",
    solvent: str = "vacuum",
    constrain_hbonds: bool = False,
    positions_nm: np.ndarray | None = None,
    padding_nm: float = 1.0,
    cutoff_nm: float | None = None,
) -> tuple[openmm.System, openmm.app.Topology, np.ndarray | None]:
    """(system, topology, positions nm) of the prepared protein in ``forcefield`` and ``solvent``
    (without water: CutoffNonPeriodic at ``cutoff_nm``, NoCutoff when None).

    Without water the topology and atom order are the prepared ones; ``explicit`` needs
    ``positions_nm`` and appends the water after the protein. A residue the force field
    cannot template is one NrepError naming it.
    """
    from openmm import app, unit

    ff = app.ForceField(*forcefield_files(forcefield, solvent))
    constraints = app.HBonds if constrain_hbonds else None
    try:
        if solvent == "explicit":
            if positions_nm is None:
                raise ValueError("explicit water needs the protein's positions")
            modeller = app.Modeller(topology, positions_nm * unit.nanometer)
            modeller.addSolvent(ff, model="tip3p", padding=padding_nm * unit.nanometer)
            system = ff.createSystem(modeller.topology, nonbondedMethod=app.PME,
                                     nonbondedCutoff=1.0 * unit.nanometer, constraints=constraints)
            positions = np.asarray(modeller.positions.value_in_unit(unit.nanometer), dtype=np.float64)
            return system, modeller.topology, positions
        if cutoff_nm is None:
            system = ff.createSystem(topology, nonbondedMethod=app.NoCutoff, constraints=constraints)
        else:
            system = ff.createSystem(topology, nonbondedMethod=app.CutoffNonPeriodic,
                                     nonbondedCutoff=cutoff_nm * unit.nanometer, constraints=constraints)
    except ValueError as error:
        if "template" not in str(error):
            raise
        raise NrepError(f"{forcefield} cannot template this structure ({str(error).splitlines()[0]}); nrep prepares "
                        f"structures for amber14: use energy.forcefield=amber14-all.xml") from error
    return system, topology, positions_nm


def evaluation_context(system: openmm.System, platform: str = "Reference",
                       threads: int | None = None) -> tuple[openmm.Context, str]:
    """A context that only evaluates ``system`` (energies, forces, OpenMM's minimiser), and its platform's name.

    Its integrator is never stepped; ``platform`` is one of OPENMM_PLATFORMS.
    """
    import openmm

    chosen, properties = openmm_platform(platform, threads)
    return openmm.Context(system, openmm.VerletIntegrator(0.001), chosen, properties), chosen.getName()


def openmm_energy(system: openmm.System, x_nm: np.ndarray, platform: str = "Reference") -> tuple[float, np.ndarray]:
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
    solvent: str = "gbn2",
    padding_nm: float = 1.0,
    platform: str = "auto",
    threads: int | None = None,
    forcefield: str = "amber14-all.xml",
) -> openmm.Context:
    """An OpenMM context ready to run, with velocities drawn at ``temperature_K``.

    The protein's atoms come first (water is appended), so positions[:n] are the solute.
    """
    import openmm
    from openmm import unit

    system, _, positions = openmm_system(topology, forcefield, solvent, constrain_hbonds=True,
                                         positions_nm=positions_nm, padding_nm=padding_nm)
    integrator = openmm.LangevinMiddleIntegrator(
        temperature_K * unit.kelvin, friction_per_ps / unit.picosecond, timestep_fs * unit.femtosecond
    )
    integrator.setRandomNumberSeed(openmm_seed(seed))
    context = openmm.Context(system, integrator, *openmm_platform(platform, threads))
    context.setPositions(positions * unit.nanometer)
    context.setVelocitiesToTemperature(temperature_K * unit.kelvin, openmm_seed(seed))
    return context


def degrees_of_freedom(system: openmm.System) -> int:
    """3 per moving particle, minus constraints, minus 3 for a centre-of-mass motion remover."""
    import openmm

    moving = sum(1 for i in range(system.getNumParticles()) if system.getParticleMass(i)._value > 0)
    remover = any(isinstance(f, openmm.CMMotionRemover) for f in system.getForces())
    return 3 * moving - system.getNumConstraints() - (3 if remover else 0)
