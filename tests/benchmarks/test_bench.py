"""`make bench` pieces on tiny sizes: every comparison is measured and reported as a ratio."""


import pandas as pd
import pytest


def test_energy_rows_compare_each_implementation_with_openmm(bench, monkeypatch):
    monkeypatch.setattr(bench, "per_call_ms", lambda fn, **kw: (fn(), 1.0)[1])
    rows = bench.energy_rows([64], threads=1, cutoff=2.5)
    assert {r["method"] for r in rows} == {"nrep fused", "nrep fused + torch.compile", "nrep cutoff 2.5", "torch autograd"}
    assert all(r["ratio_to_openmm"] == 1.0 and r["system"] == "LJ n=64" for r in rows)


def test_our_lj_equals_openmm_on_the_benchmark_system(bench):
    """The benchmark compares like with like: the same energy as OpenMM's (float64 here)."""
    import openmm
    import torch

    from nrep.core.energy import fused

    n = 100
    state = bench.openmm_lj(n, None, threads=1)()
    theirs = state.getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole)
    ours = fused.lj_all_pairs(torch.tensor(bench.grid(n)))
    assert ours.item() == pytest.approx(theirs, rel=1e-5)


def test_peak_memory_is_measured_in_a_fresh_process(bench):
    # ~180 MB against ~50 MB at n = 1500: the plain autograd graph holds every pair's temporaries
    assert bench.peak_memory_mb("torch autograd", 1500, 2.5) > 2 * bench.peak_memory_mb("nrep fused", 1500, 2.5)


def test_time_to_target_reads_the_trace(bench, tmp_path):
    pd.DataFrame({"time_s": [0.0, 1.0, 2.0], "energy_reduced": [5.0, 1.0, -1.0]}).to_csv(tmp_path / "trace.csv", index=False)
    assert bench.time_to(tmp_path / "trace.csv", "energy_reduced", 0.5) == 2.0
    assert bench.time_to(tmp_path / "trace.csv", "energy_reduced", -5.0) is None


def test_time_to_target_runs_each_variant_against_gd(bench, tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "TARGET_VARIANTS", {"gd-adam": ["method=gd"], "gd-lbfgs": ["method=gd", "optim=lbfgs"]})
    rows = bench.target_rows(["system.n=30", "stop.max_steps=50"], "loop n=30", 10.0, 1, tmp_path)
    assert [r["variant"] for r in rows] == ["gd-adam", "gd-lbfgs"]
    assert rows[0]["time_to_target_s"] is not None  # GD-Adam reaches its own final energy
    assert all(r["target"] == rows[0]["energy_final"] or abs(r["target"] - rows[0]["energy_final"]) < 1e-3 for r in rows)


def test_replicas_are_timed_batched_and_one_by_one(bench, peptide_file):
    rows = bench.replica_rows(str(peptide_file), replicas=2, steps=6, methods=("gd", "gnn"))
    assert [r["how"] for r in rows] == ["one batch", "one after another", "a process per seed (+ start-up)"] * 2
    assert ["gnn" in r["system"] for r in rows] == [False] * 3 + [True] * 3
    assert all(r["runs_per_hour"] > 0 for r in rows)
    assert rows[2]["seconds"] > rows[1]["seconds"] and rows[5]["seconds"] > rows[4]["seconds"]  # start-up only adds


def test_the_engine_rows_time_raw_openmm_the_bridge_a_gd_step_and_the_torch_terms(bench, peptide_file, tmp_path,
                                                                                  monkeypatch):
    monkeypatch.setattr(bench, "per_call_ms", lambda fn, **kw: (fn(), 1.0)[1])
    rows = bench.engine_rows([str(peptide_file)], 1, tmp_path)
    assert [r["how"].split(",")[0] for r in rows] == [
        "OpenMM Context (raw)", "engine=openmm bridge (E + grad)", "the bridge alone (OpenMM call stubbed)",
        "OpenMM call in GBn2", "engine=openmm", "engine=openmm", "engine=torch (E + grad)"]
    assert all(r["ms"] > 0 and r["ratio_to_raw"] == r["ms"] for r in rows)


def test_the_hessian_rows_compare_terms_with_differences(bench, peptide_file, monkeypatch):
    monkeypatch.setattr(bench, "HESSIAN_CASES", ((str(peptide_file), "vacuum", 1),))
    (row,) = bench.hessian_rows(1)
    assert row["overlap"] > 0.99  # in vacuum both are the same Hessian
    assert row["terms_s"] > 0 and row["differences_s"] > 0 and row["random_overlap"] < 1


def test_the_openmm_target_rows_race_nrep_against_openmms_minimiser(bench, peptide_file, tmp_path):
    rows = bench.openmm_target_rows(str(peptide_file), 1, tmp_path, cap_s=2.0)
    assert [r["variant"].split(" ")[0] for r in rows] == ["openmm_min", "gd-lbfgs", "gd-adam"]
    assert rows[0]["time_to_target_s"] is not None and all(r["rms_force"] > 0 for r in rows)


def test_the_thread_rows_time_each_setting_alone_and_beside_a_busy_neighbour(bench, tmp_path):
    rows = bench.thread_rows(2, tmp_path, {"loop n=40": ["loop", "system.n=40", "method=gd", "stop.max_total_steps=20"]})
    assert [r["threads"] for r in rows] == ["default: 1", "1", "all (2)"]  # 40 beads: one thread by default
    assert all(r["alone_ms"] > 0 and r["beside_busy_ms"] > 0 and r["ratio"] > 0 for r in rows)


def test_the_large_protein_rows_time_set_up_and_both_cutoffs(bench, monkeypatch, tmp_path):
    monkeypatch.setattr(bench, "LARGE_SEQUENCE", "DAYAQWLKDG")  # the rows of the 320-residue chain, at 10 residues
    monkeypatch.setattr(bench, "per_call_ms", lambda fn, **kw: (fn(), 2.0)[1])
    rows = bench.large_protein_rows(1, tmp_path)
    assert rows[0]["system"].startswith("H320 set-up (") and rows[0]["ms"] > 0
    assert [(r["method"], r["openmm"]) for r in rows[1:]] == [("nrep all pairs", "NoCutoff, vacuum"),
                                                              ("nrep cutoff 1.0 nm", "CutoffNonPeriodic 1.0 nm")]
    assert all(r["ratio_to_openmm"] == 1.0 for r in rows[1:])
