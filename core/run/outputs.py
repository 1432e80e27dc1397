"""How a run writes a system's structures, and what it measures of the final one: one writer per system type.

A writer owns its files: ``final.npy`` and ``best.npy`` for any system; loops add
``final.xyz`` and ``final.png``; proteins ``reference.pdb``, ``start.pdb``, ``final.pdb``
and ``best.pdb``. With ``output.trajectory_every`` every system writes its trajectory
(``nrep.core.io.trajectory``: xtc, dcd, pdb or extxyz, with ``trajectory.csv``) on its
topology: a protein's own, or a chain of beads bonded along ``coupled_pairs`` (a loop's
chain and loop bonds). A new system type registers its writer with :func:`register_outputs`;
one without gets :class:`PlainOutputs`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from nrep.configs.schema import LoopEnergyConfig, NrepConfig
from nrep.core.energy.loop import lj_minimum_distance
from nrep.core.engine.callbacks import BestState, TrajectoryRecorder
from nrep.core.io import files as results
from nrep.core.io.trajectory import bead_topology, write_trajectory
from nrep.core.metrics import loop_closure, stuck_pairs
from nrep.core.systems.base import System
from nrep.core.systems.loop import LoopSystem
from nrep.core.systems.openmm_contexts import openmm_energy
from nrep.core.systems.protein import ProteinSystem

if TYPE_CHECKING:
    import openmm.app

log = logging.getLogger("nrep")


def as_numpy(x: torch.Tensor) -> np.ndarray:
    """Coordinates as float64 numpy on the CPU, whatever the run's device and dtype."""
    return x.detach().cpu().to(torch.float64).numpy()


class PlainOutputs:
    """final.npy and best.npy, and the trajectory on a chain of beads; no structure metrics."""

    trajectory_format = "extxyz"  # what output.trajectory_format=auto writes

    def metrics(self, cfg: NrepConfig, system: System, x: torch.Tensor) -> dict[str, Any]:
        """Summary columns on how good the final structure is."""
        return {}

    def write_structures(self, cfg: NrepConfig, system: System, energy: torch.nn.Module, run_dir: Path,
                         x: torch.Tensor, best: BestState, energy_final: float) -> dict[str, Any]:
        """Write the final and best structures; return summary columns (if any)."""
        results.write_npy(run_dir / "final.npy", as_numpy(x))
        if best.x is not None:
            results.write_npy(run_dir / "best.npy", as_numpy(best.x))
        return {}

    def topology(self, system: System) -> openmm.app.Topology:
        """The atoms and bonds trajectory frames are written on: beads bonded along ``coupled_pairs``.

        Coordinates in reduced lengths go into nm-based files (xtc, dcd, pdb) one unit to 1 nm.
        """
        return bead_topology(system.n, system.coupled_pairs.numpy())

    def write_trajectory(self, cfg: NrepConfig, system: System, run_dir: Path, recorder: TrajectoryRecorder) -> None:
        """The recorder's frames in ``output.trajectory_format`` (auto: this writer's own), with trajectory.csv."""
        if not recorder.frames:  # a method that reported no step (none is known to): nothing to write
            return
        fmt = cfg.output.trajectory_format
        fmt = self.trajectory_format if fmt == "auto" else fmt
        xyz_length = (10.0, "A") if system.length_unit == "nm" else (1.0, system.length_unit)
        try:
            write_trajectory(run_dir, fmt, self.topology(system), [x.numpy() for x in recorder.frames], recorder.rows,
                             xyz_length)
        except ValueError as error:  # a frame beyond the format's range (a run that blew up)
            log.warning("trajectory not written as %s: %s", fmt, error)


class LoopOutputs(PlainOutputs):
    """Loops: also final.xyz and final.png; the loop closure and stuck pairs of the final structure."""

    def metrics(self, cfg: NrepConfig, system: LoopSystem, x: torch.Tensor) -> dict[str, Any]:
        if not isinstance(cfg.energy, LoopEnergyConfig):
            return {}  # closure is measured against the LJ minimum of the loop energies; another energy has none
        r_min = lj_minimum_distance(cfg.energy.bond_length, cfg.energy.lj_softening)
        return {
            "loop_closure": loop_closure(x, system.loops.to(x.device), r_min),
            "stuck_pairs": stuck_pairs(x, system.coupled_pairs.to(x.device), cfg.energy.bond_length),
        }

    def write_structures(self, cfg: NrepConfig, system: LoopSystem, energy: torch.nn.Module, run_dir: Path,
                         x: torch.Tensor, best: BestState, energy_final: float) -> dict[str, Any]:
        super().write_structures(cfg, system, energy, run_dir, x, best, energy_final)
        x_out = as_numpy(x)
        results.write_extxyz(run_dir / "final.xyz", ["C"] * system.n, [x_out],
                             [{"run": run_dir.name, "energy": energy_final, "energy_unit": energy.unit,
                               "length_unit": system.length_unit}])
        if cfg.output.snapshot:
            from nrep.core.report.figures import loop_snapshot  # matplotlib: imported by the runs that draw

            title = f"{cfg.energy.name} n={system.n} {cfg.method.name} seed={cfg.seed}: E={energy_final:.5g}"
            loop_snapshot(x_out, run_dir / "final.png", title, loop_spacing=system.loop_spacing)
        return {}


class ProteinOutputs(PlainOutputs):
    """Proteins: PDB files of the reference, start, final and best structures; RMSD to the reference."""

    def metrics(self, cfg: NrepConfig, system: ProteinSystem, x: torch.Tensor) -> dict[str, Any]:
        return system.rmsd(x)

    def write_structures(self, cfg: NrepConfig | None, system: ProteinSystem, energy: torch.nn.Module | None,
                         run_dir: Path, x: torch.Tensor, best: BestState, energy_final: float = 0.0) -> dict[str, Any]:
        """reference.pdb, start.pdb, final.pdb, best.pdb, final.npy and best.npy; the energy of final.pdb as
        written, by nrep and by OpenMM.

        Coordinates beyond the PDB format's range (a run that blew up) leave final.npy only.
        """
        topology = system.topology
        x_final = as_numpy(x)
        results.write_npy(run_dir / "final.npy", x_final)
        results.write_pdb(run_dir / "reference.pdb", topology, system.reference.numpy())
        results.write_pdb(run_dir / "start.pdb", topology, system.x0.numpy())
        if best.x is not None:
            results.write_npy(run_dir / "best.npy", as_numpy(best.x))
            try:
                results.write_pdb(run_dir / "best.pdb", topology, as_numpy(best.x))
            except ValueError as error:
                log.warning("best.pdb not written: %s", error)
        try:
            x_written = results.write_pdb(run_dir / "final.pdb", topology, x_final)
        except ValueError as error:
            log.warning("final.pdb not written (%s): the coordinates left the PDB format's range; final.npy holds them",
                        error)
            return {"energy_final_pdb": None, "energy_final_pdb_openmm": None}
        with torch.no_grad():  # the exact terms: float64 (the OpenMM engine's Reference platform)
            ours = float(sum(energy.to("cpu", torch.float64).exact_terms(torch.from_numpy(x_written)).values()))
        # OpenMM's Reference platform on the run's own model (the OpenMM engine's force field and solvent)
        model = getattr(energy, "system", None) or system.prepared.system
        return {"energy_final_pdb": ours, "energy_final_pdb_openmm": openmm_energy(model, x_written)[0]}

    trajectory_format = "xtc"

    def topology(self, system: ProteinSystem) -> openmm.app.Topology:
        return system.topology


# system type -> its writer; looked up along the type's bases, so a subclass inherits its parent's
OUTPUTS: dict[type, PlainOutputs] = {LoopSystem: LoopOutputs(), ProteinSystem: ProteinOutputs()}


def register_outputs(system_type: type, outputs: PlainOutputs) -> None:
    """Make runs of ``system_type`` write and measure their structures with ``outputs``."""
    OUTPUTS[system_type] = outputs


def outputs_for(system: System) -> PlainOutputs:
    """The writer of ``system``'s type (PlainOutputs when none is registered)."""
    return next((OUTPUTS[t] for t in type(system).__mro__ if t in OUTPUTS), PlainOutputs())
