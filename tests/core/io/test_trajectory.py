"""Trajectory files read back by the tools users have (MDTraj, ASE), never by nrep's own parsers."""

from __future__ import annotations

import ase.io
import mdtraj
import numpy as np
import pandas as pd
import pytest

from nrep.core.io.trajectory import TRAJECTORY_FILES, bead_topology, write_trajectory


def frames_and_rows(n=7, count=4, seed=0):
    rng = np.random.default_rng(seed)
    frames = [rng.normal(size=(n, 3)) for _ in range(count)]
    steps = [0, 10, 13, 20][:count]  # irregular: a stage ended at 13
    stages = ["reparam", "reparam", "reparam", "coords"][:count]
    rows = [{"frame": k, "step": s, "stage": g, "time_s": 0.5 * k, "energy_reduced": -1.0 - k, "rms_force_reduced": 2.0 / (k + 1)}
            for k, (s, g) in enumerate(zip(steps, stages))]
    return frames, rows


def chain_and_loop(n=7):
    return np.array([[i, i + 1] for i in range(n - 1)] + [[0, 3], [3, 6]])


@pytest.mark.parametrize("fmt", ["xtc", "dcd", "pdb"])
def test_mdtraj_reads_the_frames_and_the_bonds(tmp_path, fmt):
    frames, rows = frames_and_rows()
    written = write_trajectory(tmp_path, fmt, bead_topology(7, chain_and_loop()), frames, rows, (1.0, "bond lengths"))
    path = tmp_path / TRAJECTORY_FILES[fmt]
    traj = mdtraj.load(str(path)) if fmt == "pdb" else mdtraj.load(str(path), top=str(tmp_path / "topology.pdb"))
    assert traj.n_frames == 4 and traj.n_atoms == 7 and traj.topology.n_bonds == 8  # chain and loop bonds
    precision = {"xtc": 1e-3, "dcd": 1e-5, "pdb": 1e-4}[fmt]  # nm: XTC's 0.001, float32, PDB's 0.001 Å
    assert np.allclose(traj.xyz, np.stack(frames), atol=precision)
    if fmt == "xtc":  # each frame carries nrep's step as its time
        assert traj.time.tolist() == [row["step"] for row in rows]
    assert pd.read_csv(tmp_path / "trajectory.csv").to_dict("records") == rows
    assert set(written) == {path.name, "trajectory.csv"} | ({"topology.pdb"} if fmt != "pdb" else set())


def test_ase_reads_extxyz_with_each_frames_step_stage_and_energy(tmp_path):
    frames, rows = frames_and_rows()
    write_trajectory(tmp_path, "extxyz", bead_topology(7, chain_and_loop()), frames, rows, (1.0, "bond lengths"))
    read = ase.io.read(tmp_path / "trajectory.xyz", ":")
    assert len(read) == 4
    for atoms, row, x in zip(read, rows, frames):
        assert np.allclose(atoms.positions, x, atol=1e-8) and set(atoms.get_chemical_symbols()) == {"C"}
        assert atoms.get_potential_energy() == row["energy_reduced"]
        assert (atoms.info["step"], atoms.info["stage"], atoms.info["rms_force"]) == (row["step"], row["stage"],
                                                                                     row["rms_force_reduced"])
        assert (atoms.info["energy_unit"], atoms.info["length_unit"]) == ("reduced", "bond lengths")
    assert mdtraj.load(str(tmp_path / "topology.pdb")).topology.n_bonds == 8  # what VMD and PyMOL draw the loop with


def test_a_frame_beyond_the_format_is_an_error_and_leaves_no_half_file(tmp_path):
    frames, rows = frames_and_rows()
    frames[2] = frames[2] * 1e7  # beyond XTC's integer range
    with pytest.raises(ValueError, match="too large"):
        write_trajectory(tmp_path, "xtc", bead_topology(7, chain_and_loop()), frames, rows, (1.0, "bond lengths"))
    assert not (tmp_path / "trajectory.xtc").exists() and not list(tmp_path.glob(".trajectory*"))
