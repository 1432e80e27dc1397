"""Runs on the OpenMM engine: every method in a solvent, forces in the record, force stopping rules, faults."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from nrep.core.run.single import execute
from nrep.core.systems.openmm_contexts import openmm_energy


def fold(compose_cfg, peptide_file, tmp_path, *overrides):
    return compose_cfg("system=protein", f"system.pdb={peptide_file}", f"init.cache_dir={tmp_path / 'starts'}",
                       "threads=1", "output.progress=off", *overrides)


def model_system(cfg, summary):
    """OpenMM's System of the run's model, built again from the config (not the run's own)."""
    from nrep.core.energy.registry import openmm_system_of
    from nrep.core.run.build import build_system

    return openmm_system_of(cfg, build_system(cfg))


@pytest.mark.parametrize("method", ["gnn", "cg"])
def test_a_reparametrised_stage_in_gbn2_lowers_the_energy_and_final_pdb_is_openmms(
        tmp_path, compose_cfg, peptide_file, method):
    # CG's default step (0.02 on Z) overshoots on this 4-residue peptide before it descends
    step = ["method.lr=0.005"] if method == "cg" else []
    cfg = fold(compose_cfg, peptide_file, tmp_path, f"method={method}", "energy.solvent=gbn2", *step,
               "method.stop.max_steps=60", "stop.max_steps=60")
    summary = execute(cfg, tmp_path / "run")
    assert summary["status"] == "ok"
    assert (summary["energy_engine"], summary["energy_solvent"], summary["energy_platform"]) == ("openmm", "gbn2", "CPU")
    trace = pd.read_csv(tmp_path / "run" / "trace.csv")
    reparam = trace[trace.stage == "reparam"]["energy_kJ_mol"]
    assert reparam.iloc[-1] < reparam.iloc[0]
    assert "solvation" in {k.removeprefix("energy_final_") for k in summary}
    # final.pdb as written, in GBn2, by OpenMM's Reference platform on a system built anew
    from openmm import app, unit

    written = app.PDBFile(str(tmp_path / "run" / "final.pdb")).getPositions(asNumpy=True).value_in_unit(unit.nanometer)
    reference, _ = openmm_energy(model_system(cfg, summary), np.asarray(written))
    assert summary["energy_final_pdb"] == pytest.approx(reference, rel=1e-6)
    vacuum, _ = openmm_energy(model_system(fold(compose_cfg, peptide_file, tmp_path), summary), np.asarray(written))
    assert abs(vacuum - reference) > 10  # the solvent is in it


def test_the_force_columns_are_openmms_forces_on_the_final_structure(tmp_path, compose_cfg, peptide_file):
    cfg = fold(compose_cfg, peptide_file, tmp_path, "method=gd", "stop.max_steps=40", "device.dtype=float64")
    summary = execute(cfg, tmp_path / "run")
    x = np.load(tmp_path / "run" / "final.npy")
    _, forces = openmm_energy(model_system(cfg, summary), x)
    assert summary["rms_force_kJ_mol_nm"] == pytest.approx(np.sqrt(np.mean(forces ** 2)), rel=1e-5)
    assert summary["max_force_kJ_mol_nm"] == pytest.approx(np.linalg.norm(forces, axis=1).max(), rel=1e-5)
    assert summary["rms_force_coords_end_kJ_mol_nm"] == summary["rms_force_kJ_mol_nm"]
    assert summary["rms_force_coords_start_kJ_mol_nm"] > summary["rms_force_coords_end_kJ_mol_nm"]
    trace = pd.read_csv(tmp_path / "run" / "trace.csv")
    assert trace["rms_force_kJ_mol_nm"].iloc[-1] == summary["rms_force_kJ_mol_nm"]


def test_stop_fmax_stops_at_the_first_check_below_it_and_not_before(tmp_path, compose_cfg, peptide_file):
    every = ["stop.check_every=5", "output.trace_every=5", "device.dtype=float64", "method=gd", "optim.lr=0.002"]
    free = execute(fold(compose_cfg, peptide_file, tmp_path, *every, "stop.max_steps=200"), tmp_path / "free")
    trace = pd.read_csv(tmp_path / "free" / "trace.csv")
    checks = trace[trace.stage_step % 5 == 0].drop_duplicates("stage_step")
    largest = checks["max_force_kJ_mol_nm"].to_numpy()
    # a check whose max force is below every earlier one, late enough to tell apart
    record = next(i for i in range(3, len(largest)) if largest[i] < largest[:i].min())
    threshold = 0.5 * (largest[record] + largest[:record].min())
    stopped = execute(fold(compose_cfg, peptide_file, tmp_path, *every, "stop.max_steps=200", f"stop.fmax={threshold}"),
                      tmp_path / "fmax")
    assert stopped["stop_reason"] == "fmax"
    assert stopped["steps_coords"] == int(checks["stage_step"].iloc[record])
    assert stopped["max_force_kJ_mol_nm"] < threshold < free["max_force_coords_start_kJ_mol_nm"]
    assert free["stop_reason"] != "fmax"


def test_stop_frms_ends_openmm_min_and_says_so(tmp_path, compose_cfg, peptide_file):
    summary = execute(fold(compose_cfg, peptide_file, tmp_path, "method=openmm_min", "stop.frms=200",
                           "stop.check_every=1"), tmp_path / "run")
    assert summary["stop_reason"] == "frms"
    trace = pd.read_csv(tmp_path / "run" / "trace.csv")
    assert (trace["rms_force_kJ_mol_nm"].iloc[:-2] >= 200).all()


def test_openmm_min_and_md_score_on_the_runs_energy(tmp_path, compose_cfg, peptide_file):
    common = ["energy.solvent=gbn2", "energy.platform=cpu"]
    minimised = execute(fold(compose_cfg, peptide_file, tmp_path, "method=openmm_min", *common), tmp_path / "min")
    assert minimised["energy_solvent"] == "gbn2" and minimised["openmm_platform"] == "CPU"
    x = np.load(tmp_path / "min" / "final.npy")
    cfg = fold(compose_cfg, peptide_file, tmp_path, "method=openmm_min", *common)
    reference, forces = openmm_energy(model_system(cfg, minimised), x)
    assert minimised["energy_final"] == pytest.approx(reference, rel=1e-5)
    assert np.sqrt(np.mean(forces ** 2)) < 10  # OpenMM's own tolerance, on the GBn2 model
    md = execute(fold(compose_cfg, peptide_file, tmp_path, "method=openmm_md", "method.steps=40",
                      "method.report_every=20", *common), tmp_path / "md")
    assert md["energy_solvent"] == "gbn2" and math.isfinite(md["rms_force_kJ_mol_nm"])
    rows = pd.read_csv(tmp_path / "md" / "trace.csv")
    # the trace's energy is the run's model (GBn2, unconstrained) of the solute: OpenMM's MD energy is within
    # what the constrained X-H bonds change
    assert (abs(rows["energy_kJ_mol"] - rows["energy_openmm_kJ_mol"]) < 20).all()


def test_a_nan_from_the_engine_is_rolled_back(tmp_path, compose_cfg, peptide_file, monkeypatch):
    from nrep.core.energy.openmm_engine import OpenMMEnergy

    evaluate = OpenMMEnergy.evaluate
    calls = {"n": 0}

    def failing(self, x_nm):
        calls["n"] += 1
        if calls["n"] == 12:  # one step: OpenMM raises "Particle coordinate is NaN", the engine gives NaN
            x_nm = x_nm.copy()
            x_nm[0, 0] = float("nan")
        return evaluate(self, x_nm)

    monkeypatch.setattr(OpenMMEnergy, "evaluate", failing)
    summary = execute(fold(compose_cfg, peptide_file, tmp_path, "method=gd", "stop.max_steps=30"), tmp_path / "run")
    assert summary["status"] == "ok" and summary["rollbacks"] == 1
    assert math.isfinite(summary["energy_final"])


def test_replicas_and_the_torch_engine_agree_with_the_openmm_engine(tmp_path, compose_cfg, peptide_file):
    base = ["method=gd", "stop.max_steps=20", "device.dtype=float64"]
    ours = execute(fold(compose_cfg, peptide_file, tmp_path, *base, "energy.engine=torch"), tmp_path / "torch")
    theirs = execute(fold(compose_cfg, peptide_file, tmp_path, *base), tmp_path / "openmm")
    assert ours["energy_engine"] == "torch" and theirs["energy_engine"] == "openmm"
    assert ours["energy_initial"] == pytest.approx(theirs["energy_initial"], rel=1e-6)
    assert ours["energy_final"] == pytest.approx(theirs["energy_final"], rel=1e-4)
    summary = json.loads((tmp_path / "openmm" / "summary.json").read_text())
    assert summary["energy_forcefield"] == "amber14-all.xml"


def test_another_force_field_runs_with_its_own_terms_and_finite_difference_modes(tmp_path, compose_cfg, peptide_file):
    cfg = fold(compose_cfg, peptide_file, tmp_path, "energy.forcefield=amber19-all.xml", "method=cg",
               "method.modes.n_samples=1", "method.stop.max_steps=10", "stop.max_steps=10")
    summary = execute(cfg, tmp_path / "run")
    assert summary["status"] == "ok" and summary["energy_forcefield"] == "amber19-all.xml"
    assert "energy_final_cmap" in summary  # ff19SB's CMAP: not amber14's terms
    reference, _ = openmm_energy(model_system(cfg, summary), np.load(tmp_path / "run" / "final.npy"))
    assert summary["energy_final_exact"] == pytest.approx(reference, rel=1e-9)
    assert summary["modes_hessian"] == "differences"


def test_the_run_wide_step_cap_holds_for_the_openmm_methods(tmp_path, compose_cfg, peptide_file):
    minimised = execute(fold(compose_cfg, peptide_file, tmp_path, "method=openmm_min", "stop.max_total_steps=5"),
                        tmp_path / "min")
    assert minimised["stop_reason"] == "max_total_steps" and minimised["steps_total"] == 5
    md = execute(fold(compose_cfg, peptide_file, tmp_path, "method=openmm_md", "method.steps=100",
                      "method.report_every=20", "stop.max_total_steps=40"), tmp_path / "md")
    assert md["steps_md"] == 40 and md["status"] == "ok"


@pytest.mark.parametrize("engine", ["openmm", "torch"])
def test_the_trace_terms_add_up_to_its_energy(tmp_path, compose_cfg, peptide_file, engine):
    solvent = ["energy.solvent=gbn2"] if engine == "openmm" else []
    execute(fold(compose_cfg, peptide_file, tmp_path, "method=gd", "stop.max_steps=60", "output.trace_terms_every=2",
                 f"energy.engine={engine}", *solvent), tmp_path / "run")
    trace = pd.read_csv(tmp_path / "run" / "trace.csv")
    terms = [c for c in trace if c.startswith("energy_") and c != "energy_kJ_mol"]
    expected = {"openmm": {"bond", "angle", "torsion", "nonbonded", "solvation"},
                "torch": {"bond", "angle", "torsion", "lj", "coulomb"}}[engine]
    assert {c.removeprefix("energy_").removesuffix("_kJ_mol") for c in terms} == expected
    with_terms = trace.dropna(subset=terms)
    assert list(with_terms.index[:-1]) == list(range(0, len(trace) - 1, 2))  # every 2nd row, and the stage's end
    assert with_terms.index[-1] == len(trace) - 1
    np.testing.assert_allclose(with_terms[terms].sum(axis=1), with_terms["energy_kJ_mol"], rtol=1e-6)
