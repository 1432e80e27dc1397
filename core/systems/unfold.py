"""An unfolded start by high-temperature Langevin dynamics in OpenMM, as the authors' code made it.

The prepared structure is heated: ``amber14-all.xml`` with GBn2 implicit solvent (the
default), explicit TIP3P-FB water in a box with ``padding_nm`` (the authors' setup, with
PME and a 1 nm cutoff) or vacuum; bonds to hydrogen constrained, a Langevin middle
integrator at ``temperature_K`` with ``friction_per_ps`` and ``timestep_fs``, seeded. The
protein's final positions (water dropped) are the start, in the prepared atom order.

``platform``: ``cpu`` runs on one thread, where OpenMM's sums are bit-identical from run
to run (with two threads they are not, and 20,000 steps at 1000 K amplify the last bits
into a different structure); ``reference`` is also bit-reproducible and about half as
fast; ``cuda`` is fast but not bit-reproducible; ``auto`` takes CUDA when present, else
the CPU. nrep caches a start once made, so every method and run shares it.
"""

from __future__ import annotations

import numpy as np

SOLVENTS = ("implicit", "explicit", "vacuum")
PLATFORMS = ("auto", "reference", "cpu", "cuda")


def openmm_platform(name: str):  # noqa: ANN201
    """(platform, properties) for ``name`` (auto: CUDA if OpenMM has it, else CPU)."""
    import openmm

    available = {openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())}
    if name == "auto":
        name = "cuda" if "CUDA" in available else "cpu"
    chosen = {"reference": "Reference", "cpu": "CPU", "cuda": "CUDA"}[name]
    if chosen not in available:
        raise ValueError(f"OpenMM has no {chosen} platform here (it has {', '.join(sorted(available))})")
    properties = {"Threads": "1"} if chosen == "CPU" else {}
    return openmm.Platform.getPlatformByName(chosen), properties


def unfold_md(
    topology,  # noqa: ANN001 - openmm.app.Topology
    positions_nm: np.ndarray,
    seed: int,
    temperature_K: float = 1000.0,
    steps: int = 20000,
    timestep_fs: float = 2.0,
    friction_per_ps: float = 1.0,
    solvent: str = "implicit",
    padding_nm: float = 1.0,
    platform: str = "auto",
) -> np.ndarray:
    """Positions (n, 3) in nm of the protein after ``steps`` of Langevin dynamics at ``temperature_K``."""
    import openmm
    from openmm import app, unit

    if solvent not in SOLVENTS:
        raise ValueError(f"unknown solvent {solvent!r}; use one of {', '.join(SOLVENTS)}")
    n = topology.getNumAtoms()
    files = {"implicit": ["amber14-all.xml", "implicit/gbn2.xml"], "explicit": ["amber14-all.xml", "amber14/tip3pfb.xml"],
             "vacuum": ["amber14-all.xml"]}[solvent]
    forcefield = app.ForceField(*files)
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
    openmm_seed = 1 + seed % 2_147_483_646  # OpenMM reads a seed of 0 as "pick one at random"
    integrator.setRandomNumberSeed(openmm_seed)
    context = openmm.Context(system, integrator, *openmm_platform(platform))
    context.setPositions(modeller.positions)
    context.setVelocitiesToTemperature(temperature_K * unit.kelvin, openmm_seed)
    integrator.step(steps)
    state = context.getState(getPositions=True)
    x = np.asarray(state.getPositions(asNumpy=True).value_in_unit(unit.nanometer), dtype=np.float64)[:n]
    return x - x.mean(axis=0) + positions_nm.mean(axis=0)  # undo the drift of the centre
