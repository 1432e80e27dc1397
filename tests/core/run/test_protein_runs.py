"""Whole protein runs in-process on a 4-residue peptide built in the test: files, energies, RMSD."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from openmm import app, unit

from nrep.core.run.single import execute
from nrep.core.systems.openmm_contexts import openmm_energy


def protein_cfg(compose_cfg, peptide_file, tmp_path, *overrides):
    """A short run on the peptide; the extended start is cached under tmp_path."""
    settings = ["system=protein", f"system.pdb={peptide_file}", "stop.max_steps=60", "threads=1"]
    if "init=native" not in overrides:
        settings.append(f"init.cache_dir={tmp_path / 'starts'}")
    if "method=gd" not in overrides:
        settings.append("method.stop.max_steps=60")
    return compose_cfg(*settings, *overrides)


@pytest.mark.parametrize("method", ["gd", "cg", "gnn"])
def test_every_method_folds_a_peptide_and_reports_rmsd(tmp_path, compose_cfg, peptide_file, method):
    run = tmp_path / method
    summary = execute(protein_cfg(compose_cfg, peptide_file, tmp_path, f"method={method}"), run)
    assert summary["status"] == "ok" and summary["pdb"] == "AKWD" and summary["sequence"] == "AKWD"
    assert summary["energy_final"] < summary["energy_start"]
    assert summary["energy_start"] == pytest.approx(summary["energy_initial"], rel=1e-5)  # every method starts at X0
    for atoms in ("ca", "backbone", "heavy", "all"):
        assert 0 < summary[f"rmsd_{atoms}_A"] < 30 and summary[f"start_rmsd_{atoms}_A"] > 0
    trace = (run / "trace.csv").read_text().splitlines()
    assert trace[0] == ("step,stage,stage_step,time_s,energy_kJ_mol,rms_force_kJ_mol_nm,max_force_kJ_mol_nm,"
                        "energy_bond_kJ_mol,energy_torsion_kJ_mol,energy_nonbonded_kJ_mol,energy_angle_kJ_mol,"
                        "rmsd_ca_A,rmsd_backbone_A,rmsd_heavy_A,rmsd_all_A")
    assert {"final.pdb", "final.npy", "reference.pdb", "start.pdb", "best.pdb", "summary.json"} <= {p.name for p in run.iterdir()}


def test_final_pdb_reads_back_into_openmm_with_the_reported_energy(tmp_path, compose_cfg, peptide_file):
    run = tmp_path / "run"
    summary = execute(protein_cfg(compose_cfg, peptide_file, tmp_path, "method=gd", "device.dtype=float64"), run)
    pdb = app.PDBFile(str(run / "final.pdb"))
    assert [r.name for r in pdb.topology.residues()] == ["ALA", "LYS", "TRP", "ASP"]
    system = app.ForceField("amber14-all.xml").createSystem(pdb.topology, nonbondedMethod=app.NoCutoff, constraints=None)
    x = np.asarray(pdb.getPositions(asNumpy=True).value_in_unit(unit.nanometer))
    reference, _ = openmm_energy(system, x)
    assert summary["energy_final_pdb"] == pytest.approx(reference, rel=1e-6)
    assert summary["energy_final_pdb_openmm"] == pytest.approx(reference, rel=1e-9)
    assert summary["energy_final_exact"] == pytest.approx(reference, abs=1.0)  # the file rounds to 0.001 Å
    on_disk = json.loads((run / "summary.json").read_text())
    assert on_disk["structure_origin"] == "file" and on_disk["n_particles"] == pdb.topology.getNumAtoms()


@pytest.mark.parametrize("method", ["gd", "cg"])
def test_the_simplified_model_runs(tmp_path, compose_cfg, peptide_file, method):
    summary = execute(protein_cfg(compose_cfg, peptide_file, tmp_path, f"method={method}", "energy=simple"), tmp_path / "run")
    assert summary["status"] == "ok" and summary["energy_unit"] == "reduced"
    assert summary["energy_final"] < summary["energy_start"]
    assert {"energy_final_vdw", "energy_final_hbond", "energy_final_hydrophobic"} <= set(summary)
    assert "energy_reduced" in (tmp_path / "run" / "trace.csv").read_text().splitlines()[0]


def test_native_start_refines_in_place(tmp_path, compose_cfg, peptide_file):
    summary = execute(protein_cfg(compose_cfg, peptide_file, tmp_path, "method=gd", "init=native"), tmp_path / "run")
    assert summary["start_rmsd_all_A"] == pytest.approx(0.0, abs=1e-6)
    assert summary["rmsd_ca_A"] < 1.0 and math.isfinite(summary["energy_final"])


def test_protein_runs_are_reproducible(tmp_path, compose_cfg, peptide_file):
    a = execute(protein_cfg(compose_cfg, peptide_file, tmp_path, "method=gnn"), tmp_path / "a")
    b = execute(protein_cfg(compose_cfg, peptide_file, tmp_path, "method=gnn"), tmp_path / "b")
    assert a["energy_final"] == b["energy_final"] and a["rmsd_all_A"] == b["rmsd_all_A"]


def test_a_blown_up_structure_still_leaves_its_coordinates(tmp_path, peptide_file):
    from nrep.core.engine.callbacks import BestState
    from nrep.core.run.outputs import ProteinOutputs
    from nrep.core.systems.protein import load_protein

    system = load_protein(str(peptide_file), start="native")
    far = system.x0 * 1e9  # far beyond the PDB format's 8-character fields
    columns = ProteinOutputs().write_structures(None, system, None, tmp_path, far, BestState())
    assert columns == {"energy_final_pdb": None, "energy_final_pdb_openmm": None}
    assert np.array_equal(np.load(tmp_path / "final.npy"), far.numpy())
    assert not (tmp_path / "final.pdb").exists() and (tmp_path / "start.pdb").exists()


def test_a_trajectory_is_xtc_that_mdtraj_reads_onto_its_topology(tmp_path, compose_cfg, peptide_file):
    import mdtraj

    run = tmp_path / "run"
    summary = execute(protein_cfg(compose_cfg, peptide_file, tmp_path, "method=cg", "output.trajectory_every=25"), run)
    traj = mdtraj.load(str(run / "trajectory.xtc"), top=str(run / "topology.pdb"))
    table = pd.read_csv(run / "trajectory.csv")
    steps = [summary["steps_reparam"], summary["steps_coords"]]
    # every 25 steps of each stage plus each stage's end
    expected = sum(len(range(0, s, 25)) + (s % 25 != 0 or s == 0) for s in steps)
    assert traj.n_frames == len(table) == expected and traj.n_atoms == summary["n_particles"]
    assert traj.time.tolist() == table["step"].tolist() and table["stage"].iloc[-1] == "coords"
    assert np.allclose(traj.xyz[0], np.asarray(app.PDBFile(str(run / "start.pdb")).getPositions(asNumpy=True)
                                               .value_in_unit(unit.nanometer)), atol=1e-3)  # XTC's 0.001 nm
    assert np.allclose(traj.xyz[-1], np.load(run / "final.npy"), atol=1e-3)
    assert table["energy_kJ_mol"].iloc[-1] == pytest.approx(summary["energy_final"], rel=1e-6)
    assert table["time_s"].is_monotonic_increasing and (table["rms_force_kJ_mol_nm"] > 0).all()


def test_a_trajectory_in_pdb_holds_one_model_per_snapshot(tmp_path, compose_cfg, peptide_file):
    cfg = protein_cfg(compose_cfg, peptide_file, tmp_path, "method=gd", "stop.max_steps=30", "output.trajectory_every=10",
                      "output.trajectory_format=pdb")
    execute(cfg, tmp_path / "run")
    pdb = app.PDBFile(str(tmp_path / "run" / "trajectory.pdb"))
    assert pdb.getNumFrames() == len(pd.read_csv(tmp_path / "run" / "trajectory.csv")) == 4  # 0, 10, 20 and the end
    assert not (tmp_path / "run" / "trajectory.xtc").exists()


@pytest.mark.parametrize("method", ["gd", "cg"])
def test_both_engines_run_the_same_cutoff_energy(tmp_path, compose_cfg, peptide_file, method):
    """energy.cutoff_nm is OpenMM's CutoffNonPeriodic on the OpenMM engine and nrep's on the torch engine."""
    runs = {}
    for engine in ("torch", "openmm"):
        cfg = protein_cfg(compose_cfg, peptide_file, tmp_path, f"method={method}", f"energy.engine={engine}",
                          "energy.cutoff_nm=0.6", "device.dtype=float64")
        runs[engine] = execute(cfg, tmp_path / engine)
    plain = execute(protein_cfg(compose_cfg, peptide_file, tmp_path, f"method={method}", "energy.engine=torch",
                                "device.dtype=float64"), tmp_path / "plain")
    assert all(run["status"] == "ok" and run["energy_cutoff_nm"] == 0.6 for run in runs.values())
    assert runs["torch"]["energy_initial_exact"] == pytest.approx(runs["openmm"]["energy_initial_exact"], rel=1e-9)
    assert runs["torch"]["energy_initial_exact"] != pytest.approx(plain["energy_initial_exact"], rel=1e-6)
    assert plain["energy_cutoff_nm"] is None
