"""A whole run in-process: files written, energies recorded, and reproducibility."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from nrep.core.errors import NrepError
from nrep.core.run.single import execute

SMALL = ("system.n=60", "stop.max_steps=300", "threads=1")
GD = (*SMALL, "method=gd")


def test_run_writes_its_results(tmp_path, compose_cfg):
    summary = execute(compose_cfg(*GD), tmp_path / "run")
    files = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"summary.json", "trace.csv", "final.npy", "final.xyz", "best.npy"} <= files
    on_disk = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert on_disk["status"] == "ok" and on_disk["energy_final"] == summary["energy_final"]
    assert math.isfinite(summary["energy_final"]) and summary["energy_final"] < summary["energy_initial"]
    assert summary["energy_best"] <= summary["energy_final"] + 1e-12
    parts = sum(v for k, v in summary.items() if k.startswith("energy_final_") and k != "energy_final_exact")
    assert parts == pytest.approx(summary["energy_final_exact"], rel=1e-12)
    assert summary["steps_coords"] == summary["steps_total"] <= 300
    assert summary["threads"] == 1 and summary["device"] == "cpu" and summary["dtype"] == "float32"
    assert summary["version_torch"] and summary["seed"] == 0
    assert 0 <= summary["loop_closure"] <= 1 and summary["stuck_pairs"] >= 0
    trace = (tmp_path / "run" / "trace.csv").read_text().splitlines()
    assert trace[0] == ("step,stage,stage_step,time_s,energy_reduced,rms_force_reduced,max_force_reduced,"
                        "energy_lj_bond_reduced,energy_lj_loop_reduced,energy_repulsion_reduced")
    assert np.load(tmp_path / "run" / "final.npy").shape == (60, 3)


def test_same_seed_same_numbers_other_seed_other_numbers(tmp_path, compose_cfg):
    a = execute(compose_cfg(*GD, "seed=3"), tmp_path / "a")
    b = execute(compose_cfg(*GD, "seed=3"), tmp_path / "b")
    c = execute(compose_cfg(*GD, "seed=4"), tmp_path / "c")
    assert a["energy_final"] == b["energy_final"] and a["steps_total"] == b["steps_total"]
    assert np.array_equal(np.load(tmp_path / "a" / "final.npy"), np.load(tmp_path / "b" / "final.npy"))
    assert c["energy_initial"] != a["energy_initial"]


def test_a_run_refuses_a_used_directory(tmp_path, compose_cfg):
    execute(compose_cfg(*GD, "stop.max_steps=5"), tmp_path / "run")
    before = (tmp_path / "run" / "summary.json").read_text()
    with pytest.raises(NrepError, match="already holds"):
        execute(compose_cfg(*GD, "stop.max_steps=5", "seed=1"), tmp_path / "run")
    assert (tmp_path / "run" / "summary.json").read_text() == before


@pytest.mark.parametrize("method", ["gd", "cg", "gnn"])
def test_every_method_lowers_a_small_pure_lj_loop(tmp_path, compose_cfg, method):
    stage1 = [] if method == "gd" else ["method.stop.max_steps=200"]
    summary = execute(compose_cfg(*SMALL, f"method={method}", *stage1), tmp_path / method)
    assert summary["status"] == "ok"
    assert math.isfinite(summary["energy_final_exact"])
    # GD starts at X0; CG at its rescaled projection; the GNN at a random X of X0's size.
    assert summary["energy_final"] < summary["energy_start"]
    assert (tmp_path / method / "final.png").stat().st_size > 1000
    if method == "gd":
        assert summary["time_modes_s"] == 0.0 and "steps_reparam" not in summary
    else:
        assert summary["modes_k"] == 20 and summary["time_modes_s"] > 0  # n // 3
        assert 0 < summary["steps_reparam"] <= 200 and summary["steps_coords"] <= 300
        assert summary["time_method_s"] >= summary["time_modes_s"] + summary["time_reparam_s"]


@pytest.mark.parametrize("graph", ["slow_modes_plain", "bonds", "knn"])
def test_gnn_graph_variants_run(tmp_path, compose_cfg, graph):
    cfg = compose_cfg(*SMALL, "method=gnn", f"method.graph={graph}", "method.stop.max_steps=50",
                      "stop.max_steps=10", "method.hidden_dims=[8,8]", "output.snapshot=false")
    summary = execute(cfg, tmp_path / graph)
    assert summary["status"] == "ok" and math.isfinite(summary["energy_final_exact"])
    assert ("modes_k" in summary) == (graph == "slow_modes_plain")


def test_modes_cache_reports_the_original_compute_time(tmp_path, compose_cfg):
    overrides = (*SMALL, "method=cg", "method.stop.max_steps=20", "stop.max_steps=20",
                 "method.modes.cache=true", f"method.modes.cache_dir={tmp_path / 'cache'}", "output.snapshot=false")
    first = execute(compose_cfg(*overrides), tmp_path / "a")
    second = execute(compose_cfg(*overrides), tmp_path / "b")
    assert not first["modes_cache_hit"] and second["modes_cache_hit"]
    assert second["time_modes_s"] == first["time_modes_s"] > 0
    assert second["energy_final"] == first["energy_final"]
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1


@pytest.mark.parametrize("damage", [b"", b"PK\x03\x04 truncated", "other-size"])
def test_a_damaged_modes_cache_is_reported_ignored_and_rebuilt(tmp_path, compose_cfg, caplog, damage):
    overrides = (*SMALL, "method=cg", "method.stop.max_steps=20", "stop.max_steps=20",
                 "method.modes.cache=true", f"method.modes.cache_dir={tmp_path / 'cache'}", "output.snapshot=false")
    first = execute(compose_cfg(*overrides), tmp_path / "a")
    (cached,) = (tmp_path / "cache").glob("*.npz")
    if damage == "other-size":  # a readable file of another system under this key
        import numpy as np

        with np.load(cached) as data:
            modes = {name: data[name] for name in data.files}
        modes["psi"] = modes["psi"][:-1]
        np.savez(cached, **modes)
    else:
        cached.write_bytes(damage)
    second = execute(compose_cfg(*overrides), tmp_path / "b")
    assert "cached slow modes" in caplog.text and "computing them again" in caplog.text
    assert not second["modes_cache_hit"] and second["energy_final"] == first["energy_final"]
    assert slow_modes_readable(cached)  # rebuilt in place


def slow_modes_readable(path):
    from nrep.core.modes.slow_modes import load_modes

    return load_modes(path).psi.shape[1] > 0


def test_a_loop_trajectory_is_extxyz_that_ase_reads_with_its_energies(tmp_path, compose_cfg):
    import ase.io
    import mdtraj

    run = tmp_path / "run"
    execute(compose_cfg(*GD, "stop.max_steps=50", "output.trajectory_every=10"), run)
    frames = ase.io.read(run / "trajectory.xyz", ":")
    table = pd.read_csv(run / "trajectory.csv")
    assert len(frames) == len(table) == 6 and len(frames[0]) == 60  # steps 0, 10, ..., 50; 60 beads
    assert [f.info["step"] for f in frames] == table["step"].tolist() == [0, 10, 20, 30, 40, 50]
    assert [f.get_potential_energy() for f in frames] == table["energy_reduced"].tolist()
    assert np.allclose(frames[-1].positions, np.load(run / "final.npy"))
    trace = pd.read_csv(run / "trace.csv").set_index("step")
    both = table.merge(trace, on="step", suffixes=("", "_trace"))  # steps 0, 20, 40 and the end
    assert len(both) == 4 and np.allclose(both["energy_reduced"], both["energy_reduced_trace"])
    assert np.allclose(both["rms_force_reduced"], both["rms_force_reduced_trace"])
    bonds = mdtraj.load(str(run / "topology.pdb")).topology.n_bonds  # the chain and the loops, as CONECT records
    assert bonds == 59 + (60 - 10)  # bonds i, i+1 and loops i, i+10 (system.loop_spacing)


def test_every_file_a_run_writes_is_one_overwrite_may_remove(tmp_path, compose_cfg, peptide_file):
    """--overwrite removes RUN_FILES and RUN_FOLDERS only: a run must write nothing else."""
    from nrep.cli.main import main
    from nrep.core.io.files import RUN_FILES, RUN_FOLDERS

    assert main(["loop", "method=gd", "system.n=30", "stop.max_steps=60", "threads=1", "output.trajectory_every=20",
                 "--out", str(tmp_path / "loop")]) == 0
    protein = compose_cfg("system=protein", f"system.pdb={peptide_file}", "init=extended",
                          f"init.cache_dir={tmp_path / 'starts'}", "energy=amber", "method=gd", "stop.max_steps=5",
                          "output.trajectory_every=2", "threads=1")
    execute(protein, tmp_path / "protein")
    written = {p.name for run in ("loop", "protein") for p in (tmp_path / run).iterdir()}
    assert {"final.png", "trajectory.xyz", "trajectory.xtc", "trajectory.csv", "topology.pdb", "best.pdb", ".hydra",
            "nrep.log"} <= written
    assert written <= {*RUN_FILES, *RUN_FOLDERS}, written - {*RUN_FILES, *RUN_FOLDERS}
