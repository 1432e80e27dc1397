"""Trajectory files in the formats other tools read, with a table saying what each frame is.

``output.trajectory_format`` picks one of :data:`TRAJECTORY_FILES`:

- ``xtc`` (compact: 0.001 nm precision) or ``dcd`` (float32): OpenMM's own ``XTCFile`` and
  ``DCDFile``, coordinates in nm. The XTC's step and time fields hold nrep's step (time
  in "ps" is the step count: a minimisation has no time); DCD holds frame numbers (its
  header has one fixed interval).
- ``pdb``: one MODEL per frame (large, but one file that carries its own topology).
- ``extxyz``: ASE's extended XYZ, one frame per snapshot with ``step=``, ``stage=``,
  ``time_s=``, ``energy=`` and ``rms_force=`` on its comment line and the units stated
  (``energy_unit=``, ``length_unit=``); ``ase.io.read(path, ":")`` reads it.

Beside xtc, dcd and extxyz frames lies ``topology.pdb``: the atoms, residues and bonds
(CONECT records for a loop's chain and loop bonds) with the first frame's coordinates,
which MDTraj, VMD and PyMOL load the frames onto.

Every format writes ``trajectory.csv`` beside it: one row per frame (frame, step, stage,
time_s, the energy and RMS force with their units in the column names), the frames' order.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nrep.core.io.files import (
    TOPOLOGY,
    TRAJECTORY_FILES,
    TRAJECTORY_TABLE,
    atomic_write_bytes,
    write_csv,
    write_extxyz,
    write_pdb,
    write_pdb_models,
)

if TYPE_CHECKING:
    import openmm.app

__all__ = ["TOPOLOGY", "TRAJECTORY_FILES", "TRAJECTORY_TABLE", "bead_topology", "write_trajectory"]


def bead_topology(n: int, bonds: np.ndarray) -> openmm.app.Topology:
    """One chain of n one-atom residues ``BEA`` (carbon, so viewers colour them), with ``bonds``
    ((m, 2) indices) as the topology's bonds: PDB files hold them as CONECT records."""
    from openmm import app

    topology = app.Topology()
    chain = topology.addChain("A")
    atoms = [topology.addAtom("C", app.element.carbon, topology.addResidue("BEA", chain)) for _ in range(n)]
    for i, j in np.asarray(bonds, dtype=np.int64):
        topology.addBond(atoms[i], atoms[j])
    return topology


def _write_through_temporary(path: Path, write: Any) -> None:
    """``write(name)`` into a temporary file beside ``path``, then a rename (readers never see half a file)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    os.unlink(tmp)  # XTCFile refuses a file that exists
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_xtc(path: Path, topology: openmm.app.Topology, frames_nm: Sequence[np.ndarray], steps: Sequence[int]) -> None:
    """An XTC file through OpenMM's XTCFile, each frame carrying nrep's step as its step and time."""
    from openmm.app import XTCFile

    def write(name: str) -> None:
        for count, (x, step) in enumerate(zip(frames_nm, steps)):
            # XTCFile numbers frame k as firstStep + k * interval; opening to append per frame with
            # firstStep = step - k gives every frame its own (irregular) step
            XTCFile(name, topology, dt=1.0, firstStep=int(step) - count, append=count > 0).writeModel(x)

    _write_through_temporary(path, write)


def write_dcd(path: Path, topology: openmm.app.Topology, frames_nm: Sequence[np.ndarray]) -> None:
    """A DCD file through OpenMM's DCDFile (frames numbered 1, 2, ...)."""
    from openmm import unit
    from openmm.app import DCDFile

    buffer = io.BytesIO()
    dcd = DCDFile(buffer, topology, dt=1.0 * unit.picosecond)
    for x in frames_nm:
        dcd.writeModel(x * unit.nanometer)
    atomic_write_bytes(path, buffer.getvalue())


def write_trajectory(directory: Path, fmt: str, topology: openmm.app.Topology, frames_nm: Sequence[np.ndarray],
                     rows: Sequence[Mapping[str, Any]], xyz_length: tuple[float, str]) -> list[str]:
    """Write the frames (nm) in ``fmt`` and ``trajectory.csv`` (``rows``, one per frame) into ``directory``.

    ``xyz_length`` is (factor from nm, unit name) for extxyz: proteins write Å (10, "A"),
    loops their own bond lengths (1, "bond lengths"). Returns the names of the files written.
    """
    if fmt not in TRAJECTORY_FILES:
        raise ValueError(f"unknown trajectory format {fmt!r}; choose one of: {', '.join(TRAJECTORY_FILES)}")
    path = directory / TRAJECTORY_FILES[fmt]
    written = [path.name, TRAJECTORY_TABLE]
    if fmt == "pdb":  # its models carry the topology (CONECT records included)
        write_pdb_models(path, topology, list(frames_nm))
    else:
        write_pdb(directory / TOPOLOGY, topology, frames_nm[0])
        written.append(TOPOLOGY)
    if fmt == "xtc":
        write_xtc(path, topology, frames_nm, [row["step"] for row in rows])
    elif fmt == "dcd":
        write_dcd(path, topology, frames_nm)
    elif fmt == "extxyz":
        factor, length_unit = xyz_length
        symbols = [atom.element.symbol if atom.element is not None else "X" for atom in topology.atoms()]
        energy_key = next(key for key in rows[0] if key.startswith("energy_"))
        force_key = next((key for key in rows[0] if key.startswith("rms_force_")), None)
        info = [{"frame": row["frame"], "step": row["step"], "stage": row["stage"], "time_s": row["time_s"],
                 "energy": row[energy_key], **({"rms_force": row[force_key]} if force_key else {}),
                 "energy_unit": energy_key.removeprefix("energy_"), "length_unit": length_unit} for row in rows]
        write_extxyz(path, symbols, [x * factor for x in frames_nm], info)
    write_csv(directory / TRAJECTORY_TABLE, rows)
    return written
