"""Each figure holds the data it was given (checked on the matplotlib objects, not the files)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nrep.core.report import figures
from nrep.core.report import table as report

from .test_table import write_run

CA_LINE = "ATOM  {serial:5d}  CA  ALA A{res:4d}    {x:8.3f}{y:8.3f}{z:8.3f}  1.00  0.00           C\n"


def write_ca_pdb(path, coordinates) -> None:
    lines = [CA_LINE.format(serial=i + 1, res=i + 1, x=x, y=y, z=z) for i, (x, y, z) in enumerate(coordinates)]
    path.write_text("".join(lines) + "END\n")


def labelled(root):
    return report.label_runs(report.load_runs([root]))


def protein_run(root, name, method, seed, energy, time_s, trace=None, **fields):
    return write_run(root / name, system="2JOF", energy_model="amber", energy_unit="kJ/mol", method=method, seed=seed,
                     energy_final_exact=energy, time_method_s=time_s, trace=trace,
                     **{"cfg.system.name": "protein", "cfg.energy.name": "amber", "cfg.method.name": method,
                        "cfg.seed": seed, **fields})


def test_energy_vs_time_plots_each_ok_run_once(tmp_path):
    write_run(tmp_path / "a", energy_final_exact=1.5, time_method_s=2.0)
    write_run(tmp_path / "b", method="cg", energy_final_exact=0.5, time_method_s=8.0, **{"cfg.method.name": "cg"})
    write_run(tmp_path / "c", status="failed", **{"cfg.method.name": "cg"})
    fig = figures.energy_vs_time(labelled(tmp_path))
    (ax,) = fig.axes
    points = {c.get_label(): c.get_offsets().tolist() for c in ax.collections}
    assert points == {"cg": [[8.0, 0.5]], "gd": [[2.0, 1.5]]}
    assert ax.get_ylabel() == "energy (reduced)" and ax.get_xscale() == "linear"  # 2 s to 8 s: less than a decade


def test_speedup_pairs_runs_by_seed(tmp_path):
    for seed, (t_gd, e_gd, t_gnn, e_gnn) in enumerate([(10.0, -100.0, 5.0, -99.0), (12.0, -110.0, 3.0, -100.0)]):
        protein_run(tmp_path, f"gd{seed}", "gd", seed, e_gd, t_gd)
        protein_run(tmp_path, f"gnn{seed}", "gnn", seed, e_gnn, t_gnn)
    protein_run(tmp_path, "gnn9", "gnn", 9, -1.0, 1.0)  # no gd run with seed 9: not paired
    runs = labelled(tmp_path)
    ratios = figures.speedup_table(runs).set_index("label").loc["gnn"]
    assert ratios["pairs"] == 2
    assert ratios["speedup_mean"] == pytest.approx(3.0)  # (10/5 + 12/3) / 2
    assert ratios["speedup_std"] == pytest.approx(np.std([2.0, 4.0], ddof=1))
    assert ratios["energy_factor_mean"] == pytest.approx((100 / 99 + 1.1) / 2)
    (ax,) = figures.speedup_vs_energy(runs).axes
    (bars,) = ax.containers
    assert bars.get_label() == "gnn"
    (x, y), = bars.lines[0].get_xydata()
    assert (x, y) == pytest.approx((ratios["energy_factor_mean"], 3.0))
    assert [t.get_text() for t in ax.texts] == ["2JOF amber"]


def test_trace_figures_draw_every_trace(tmp_path):
    trace_a = [{"step": s, "stage": "coords", "time_s": 0.1 * s, "energy_kJ_mol": 100.0 - s, "rmsd_ca_A": 9.0 - 0.1 * s} for s in range(5)]
    trace_b = [{"step": s, "stage": "coords", "time_s": 0.2 * s, "energy_kJ_mol": 50.0 - 2 * s, "rmsd_ca_A": 8.0} for s in range(3)]
    protein_run(tmp_path, "a", "gd", 0, 96.0, 0.4, trace=trace_a)
    protein_run(tmp_path, "b", "gnn", 0, 46.0, 0.4, trace=trace_b)
    runs = labelled(tmp_path)
    traces = report.traces(runs)

    (ax,) = figures.rmsd_vs_time(runs, traces).axes
    lines = {line.get_label(): line.get_xydata() for line in ax.lines}
    np.testing.assert_allclose(lines["gd"], pd.DataFrame(trace_a)[["time_s", "rmsd_ca_A"]].to_numpy())
    np.testing.assert_allclose(lines["gnn"], pd.DataFrame(trace_b)[["time_s", "rmsd_ca_A"]].to_numpy())

    by_step, by_time = figures.energy_vs_iteration(runs, traces).axes
    steps = {line.get_label(): line.get_xydata() for line in by_step.lines}
    np.testing.assert_allclose(steps["gd"], pd.DataFrame(trace_a)[["step", "energy_kJ_mol"]].to_numpy())
    times = {line.get_label(): line.get_xydata() for line in by_time.lines}
    np.testing.assert_allclose(times["gnn"], pd.DataFrame(trace_b)[["time_s", "energy_kJ_mol"]].to_numpy())


def test_energy_traces_start_at_the_shared_start_and_mark_the_handover(tmp_path):
    trace = [{"step": 0, "stage": "reparam", "time_s": 0.5, "energy_kJ_mol": 140.0},  # f(Z0) lies above X0
             {"step": 10, "stage": "reparam", "time_s": 1.0, "energy_kJ_mol": 90.0},
             {"step": 10, "stage": "coords", "time_s": 1.1, "energy_kJ_mol": 90.0},
             {"step": 30, "stage": "coords", "time_s": 2.0, "energy_kJ_mol": 60.0}]
    protein_run(tmp_path, "cg", "cg", 0, 60.0, 2.0, trace=trace, energy_initial=120.0)
    runs = labelled(tmp_path)
    by_step, by_time = figures.energy_vs_iteration(runs, report.traces(runs)).axes
    lines = {line.get_label(): line.get_xydata() for line in by_time.lines}
    # E(X0), shared by every method of the comparison, held through the slow modes until the first step
    assert lines["cg"][:2].tolist() == [[0.0, 120.0], [0.5, 120.0]]
    np.testing.assert_allclose(lines["cg"][2:], pd.DataFrame(trace)[["time_s", "energy_kJ_mol"]].to_numpy())
    assert lines["stage start (handover)"].tolist() == [[1.1, 90.0]]
    assert {line.get_label() for line in by_step.lines} == {"cg", "stage start (handover)"}


def test_speedup_leaves_out_systems_whose_energies_change_sign(tmp_path):
    for seed, (e_gd, e_gnn) in enumerate([(-1.2, 0.8), (-0.9, -1.1)]):  # loops: reduced energies of both signs
        write_run(tmp_path / f"loop-gd{seed}", seed=seed, energy_final_exact=e_gd, **{"cfg.seed": seed})
        write_run(tmp_path / f"loop-gnn{seed}", method="gnn", seed=seed, energy_final_exact=e_gnn,
                  **{"cfg.method.name": "gnn", "cfg.seed": seed})
    runs = labelled(tmp_path)
    (loop,) = figures.speedup_table(runs).to_dict("records")
    assert loop["panel"] == "loop pure_lj n=50" and "change sign" in loop["note"] and pd.isna(loop["energy_factor_mean"])
    assert figures.speedup_vs_energy(runs) is None  # nothing one-signed to draw
    for seed, (e_gd, e_gnn) in enumerate([(-100.0, -120.0), (-110.0, -99.0)]):
        protein_run(tmp_path, f"gd{seed}", "gd", seed, e_gd, 10.0)
        protein_run(tmp_path, f"gnn{seed}", "gnn", seed, e_gnn, 5.0)
    runs = labelled(tmp_path)
    ratios = figures.speedup_table(runs).set_index("panel")
    assert ratios.loc["2JOF amber", "lower_energy_when"] == "energy_factor < 1" and pd.isna(ratios.loc["2JOF amber", "note"])
    assert "change sign" in ratios.loc["loop pure_lj n=50", "note"]
    (ax,) = figures.speedup_vs_energy(runs).axes
    assert [t.get_text() for t in ax.texts] == ["2JOF amber"] and ax.get_title().startswith("negative energies")
    (shaded,) = ax.patches  # the lower-energy side: left of 1 for negative energies
    assert shaded.get_label() == "lower energy than gd" and shaded.get_extents().x1 <= ax.transData.transform((1.0, 0))[0] + 1


def test_ca_overlay_superimposes_the_best_final_structure(tmp_path):
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(6, 3)) * 5.0
    angle = 0.7
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    for name, energy, noise in (("best", -10.0, 0.0), ("worse", -5.0, 1.0)):
        run = protein_run(tmp_path, name, "gd", 0 if name == "best" else 1, energy, 1.0)
        write_ca_pdb(run / "reference.pdb", reference)
        write_ca_pdb(run / "final.pdb", (reference + noise * rng.normal(size=reference.shape)) @ rotation.T + 3.0)
    (ax,) = figures.ca_overlays(labelled(tmp_path)).axes
    ref_line, final_line = ax.lines
    np.testing.assert_allclose(np.array(ref_line.get_data_3d()).T, reference, atol=1e-3)
    # the best run is drawn, rotated back onto the reference
    np.testing.assert_allclose(np.array(final_line.get_data_3d()).T, reference, atol=2e-3)
    assert "CA RMSD 0.00 Å" in ax.get_title()


def test_loop_snapshots_draw_the_lowest_energy_run(tmp_path):
    x_best = np.random.default_rng(1).normal(size=(12, 3))
    for name, energy, x in (("a", 0.5, x_best), ("b", 0.9, x_best + 1.0)):
        run = write_run(tmp_path / name, energy_final_exact=energy, **{"cfg.system.loop_spacing": 4})
        np.save(run / "final.npy", x)
    (ax,) = figures.loop_snapshots(labelled(tmp_path)).axes
    (points,) = [c for c in ax.collections if hasattr(c, "_offsets3d")]
    np.testing.assert_allclose(np.array(points._offsets3d).T, x_best)
    assert "E = 0.5" in ax.get_title()


def test_nothing_to_draw_gives_no_figure(tmp_path):
    write_run(tmp_path / "a")
    runs = labelled(tmp_path)
    assert figures.rmsd_vs_time(runs, report.traces(runs)) is None
    assert figures.ca_overlays(runs) is None
    assert figures.speedup_vs_energy(runs) is None


def test_figures_are_written_as_png_and_pdf(tmp_path):
    write_run(tmp_path / "runs" / "a")
    fig = figures.energy_vs_time(labelled(tmp_path / "runs"))
    written = figures.save(fig, tmp_path, "energy_vs_time")
    assert [p.name for p in written] == ["energy_vs_time.png", "energy_vs_time.pdf"]
    assert written[0].read_bytes()[:4] == b"\x89PNG" and written[1].read_bytes()[:4] == b"%PDF"


def test_the_baseline_is_gd_with_the_optimiser_the_others_use(tmp_path):
    for method, optim, t, e in (("gd", "adam", 10.0, -100.0), ("gd", "lbfgs", 5.0, -110.0), ("gnn", "adam", 4.0, -99.0)):
        protein_run(tmp_path, f"{method}-{optim}", method, 0, e, t, optim=optim, **{"cfg.optim.name": optim})
    runs = labelled(tmp_path)
    assert figures.baseline_label(runs) == "gd adam"
    ratios = figures.speedup_table(runs).set_index("label")
    assert sorted(ratios.index) == ["gd lbfgs", "gnn adam"]
    assert ratios.loc["gd lbfgs", "speedup_mean"] == pytest.approx(2.0)
    assert ratios.loc["gnn adam", "speedup_mean"] == pytest.approx(2.5)
    assert ratios.loc["gd lbfgs", "energy_factor_mean"] == pytest.approx(100 / 110)
