"""The paper's figure types, drawn with matplotlib from a table of runs.

Each function takes the runs (a table from :mod:`nrep.core.report.table`, with a ``label``
column naming the series and a ``panel`` column naming the system) and returns a
matplotlib ``Figure``, or None when the runs hold nothing to draw; :func:`save` writes it
as PNG and PDF. Figures are built without pyplot, so nothing here needs a display.

- :func:`energy_vs_time`: final energy vs wall time per method (paper Fig. 3).
- :func:`speedup_vs_energy`: t_base / t and E_base / E per protein (Fig. 4a).
- :func:`rmsd_vs_time`: CA RMSD along each run (Fig. 5a).
- :func:`ca_overlays`: CA traces of final structures on the reference (Fig. 5b).
- :func:`energy_vs_iteration`: energy along each run, by step and by wall time (Fig. 6).
- :func:`loop_snapshots`: 3-D views of final bead loops (Fig. 2).
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from nrep.core.io.files import atomic_write_bytes
from nrep.core.report.structures import read_ca, superimposed

PANEL_SIZE = (4.2, 3.4)

# what each figure shows, for the HTML report's captions (by file name)
CAPTIONS = {
    "energy_vs_time": "Final energy (the exact energy of the final structure) against the method's wall time "
                      "(slow modes, set-up and steps: time_method_s), one point per run, one panel per system.",
    "speedup_vs_energy": "The paper's Fig. 4a: speedup t_base / t against energy factor E_base / E, mean ± std over "
                         "the seeds both ran; only systems whose final energies have one sign. The shaded side is "
                         "where a series ended lower than the base.",
    "rmsd_vs_time": "CA RMSD to the reference structure along each run, against wall time.",
    "ca_overlays": "CA traces of the lowest-energy final structure of each series (blue) superimposed on the "
                   "reference (red), with their RMSD.",
    "energy_vs_iteration": "Energy along each run against the step (left) and the wall time (right). Every line starts "
                           "at the shared start E(X0) at step 0 and time 0, held through the slow modes and set-up; "
                           "rings mark where a stage began (the handover from the reparametrisation to the "
                           "coordinates).",
    "loop_snapshots": "The lowest-energy final loop of each series, coloured from the first bead to the last, loop "
                      "pairs in grey.",
}


def save(fig: Figure, directory: Path, name: str) -> list[Path]:
    """Write ``name``.png and ``name``.pdf into ``directory`` (atomically)."""
    written = []
    for fmt in ("png", "pdf"):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, bbox_inches="tight", dpi=150)
        path = directory / f"{name}.{fmt}"
        atomic_write_bytes(path, buffer.getvalue())
        written.append(path)
    return written


def _colours(labels: list[str]) -> dict[str, tuple]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(labels) <= 10 else "tab20"]
    return {label: cmap(i % cmap.N) for i, label in enumerate(labels)}


def _grid(n_panels: int, columns: int = 3, projection: str | None = None) -> tuple[Figure, list[Axes]]:
    cols = min(n_panels, columns)
    rows = math.ceil(n_panels / cols)
    fig = Figure(figsize=(PANEL_SIZE[0] * cols, PANEL_SIZE[1] * rows), layout="constrained")
    axes = [fig.add_subplot(rows, cols, i + 1, projection=projection) for i in range(n_panels)]
    return fig, axes


def _panel_grid(runs: pd.DataFrame) -> tuple[Figure, list[tuple[Axes, str, pd.DataFrame]], dict[str, tuple]]:
    """A panel per system and a colour per series: (figure, [(axes, panel, its runs)], colours)."""
    colours = _colours(sorted(runs["label"].unique()))
    panels = sorted(runs["panel"].unique())
    fig, axes = _grid(len(panels))
    return fig, [(ax, panel, runs[runs["panel"] == panel]) for ax, panel in zip(axes, panels)], colours


def _energy_label(runs: pd.DataFrame) -> str:
    units = runs["energy_unit"].dropna().unique() if "energy_unit" in runs else []
    return f"energy ({units[0]})" if len(units) == 1 else "energy"


def _ok(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["status"] == "ok"]


def energy_vs_time(table: pd.DataFrame) -> Figure | None:
    """Final energy against the method's wall time (slow modes included), one colour per series."""
    runs = _ok(table).dropna(subset=["energy_final_exact", "time_method_s"])
    if runs.empty:
        return None
    fig, panels, colours = _panel_grid(runs)
    for ax, panel, here in panels:
        for label, series in here.groupby("label", sort=True):
            ax.scatter(series["time_method_s"], series["energy_final_exact"], label=label, color=colours[label], s=22, alpha=0.8)
        times = here["time_method_s"][here["time_method_s"] > 0]
        if len(times) and times.max() > 10 * times.min():  # log only when the times span a decade
            ax.set_xscale("log")
        ax.set(title=panel, xlabel="wall time (s)", ylabel=_energy_label(here))
        ax.legend(fontsize=7)
    return fig


def _runs_with(table: pd.DataFrame, traces: Mapping[str, pd.DataFrame], column: str) -> pd.DataFrame:
    runs = _ok(table)
    return runs[runs["run_dir"].map(lambda d: d in traces and column in traces[d]).astype(bool)]


def _energy_column(trace: pd.DataFrame) -> str | None:
    return next((c for c in trace.columns if c.startswith("energy_") and c != "energy_openmm_kJ_mol"), None)


def _trace_lines(ax: Axes, runs: pd.DataFrame, traces: Mapping[str, pd.DataFrame], x: str, y: str | None, colours: dict) -> None:
    """One line per run; the series label on its first run only, so the legend lists each once.

    Energy lines (``y`` None) start at the run's shared start (``energy_initial``: E(X0) at
    step 0, time 0), the same point for every method of a comparison, stay there until the
    trace's first row (the slow modes and set-up take time at X0), then follow the trace (a
    reparametrisation's first X may lie above X0); a ring marks each stage's start after
    the first (the handover from the reparametrisation to the coordinates).
    """
    labelled: set[str] = set()
    handover_shown = False
    for _, run in runs.iterrows():
        trace, label = traces[run["run_dir"]], run["label"]
        column = y or _energy_column(trace)
        if column is None:
            continue
        xs, ys = trace[x].to_numpy(dtype=float), trace[column].to_numpy(dtype=float)
        start = run.get("energy_initial")
        if y is None and isinstance(start, (int, float)) and math.isfinite(start) and len(xs) and xs[0] >= 0:
            # X stays X0 until the method's first step (its slow modes and set-up), then the trace goes on
            xs, ys = np.concatenate([[0.0, xs[0]], xs]), np.concatenate([[start, start], ys])
        ax.plot(xs, ys, color=colours[label], lw=1.0, alpha=0.8, label=None if label in labelled else label)
        labelled.add(label)
        if y is None and "stage" in trace:
            stages = trace["stage"].astype(str)
            boundaries = trace[stages.ne(stages.shift()) & (trace.index > 0)]
            if len(boundaries):
                ax.plot(boundaries[x], boundaries[column], "o", mfc="none", mec=colours[label], ms=6,
                        label=None if handover_shown else "stage start (handover)")
                handover_shown = True


def _smallest_positive(runs: pd.DataFrame, traces: Mapping[str, pd.DataFrame], column: str) -> float:
    """Where a symlog axis turns logarithmic: the first time after zero."""
    values = pd.concat([traces[d][column] for d in runs["run_dir"]])
    positive = values[values > 0]
    return float(positive.min()) if len(positive) else 1.0


def rmsd_vs_time(table: pd.DataFrame, traces: Mapping[str, pd.DataFrame], column: str = "rmsd_ca_A") -> Figure | None:
    """RMSD to the reference (Å) along each run against wall time, one panel per protein."""
    runs = _runs_with(table, traces, column)
    if runs.empty:
        return None
    fig, panels, colours = _panel_grid(runs)
    for ax, panel, here in panels:
        _trace_lines(ax, here, traces, "time_s", column, colours)
        ax.set(title=panel, xlabel="wall time (s)", ylabel=f"{column.removeprefix('rmsd_').removesuffix('_A').upper()} RMSD (Å)")
        ax.legend(fontsize=7)
    return fig


def energy_vs_iteration(table: pd.DataFrame, traces: Mapping[str, pd.DataFrame]) -> Figure | None:
    """Energy along each run, against the step (left) and the wall time (right), a row per system."""
    runs = _runs_with(table, traces, "step")
    if runs.empty:
        return None
    colours = _colours(sorted(runs["label"].unique()))
    panels = sorted(runs["panel"].unique())
    fig = Figure(figsize=(2 * PANEL_SIZE[0], PANEL_SIZE[1] * len(panels)), layout="constrained")
    for row, panel in enumerate(panels):
        here = runs[runs["panel"] == panel]
        for col, (x, xlabel) in enumerate((("step", "iteration"), ("time_s", "wall time (s)"))):
            ax = fig.add_subplot(len(panels), 2, 2 * row + col + 1)
            _trace_lines(ax, here, traces, x, None, colours)
            ax.set_xscale("symlog", linthresh=1.0 if x == "step" else _smallest_positive(here, traces, x))
            ax.set(title=panel, xlabel=xlabel, ylabel=_energy_label(here))
            ax.legend(fontsize=7)
    return fig


def baseline_label(runs: pd.DataFrame, baseline: str = "gd") -> str | None:
    """The series the others are divided by: method ``baseline`` with the optimiser the
    other methods use most (GD-Adam against GNN-Adam), when there are several."""
    candidates = runs[runs["method"] == baseline]
    if candidates.empty:
        return None
    others = runs[runs["method"] != baseline]
    if "optim" in runs and others["optim"].notna().any():
        common = others["optim"].mode().iloc[0]
        if (candidates["optim"] == common).any():
            candidates = candidates[candidates["optim"] == common]
    return sorted(candidates["label"].unique())[0]


SPEEDUP_COLUMNS = ["panel", "label", "baseline", "pairs", "speedup_mean", "speedup_std", "energy_factor_mean",
                   "energy_factor_std", "energy_sign", "lower_energy_when", "note"]


def _one_signed(energies: pd.Series) -> str | None:
    """"negative" or "positive" when every energy has that sign, else None."""
    return "negative" if (energies < 0).all() else "positive" if (energies > 0).all() else None


def speedup_table(table: pd.DataFrame, baseline: str = "gd") -> pd.DataFrame:
    """Per system and series: t_base / t and E_base / E (mean and std over seeds run by both).

    The paper's Fig. 4a: speedup δt = t_GD / t_GNN, energy factor δE = E_GD / E_GNN. The
    factor orders energies only where they have one sign: with negative energies δE < 1
    means the series ended lower than the baseline, with positive ones δE > 1 does
    (``lower_energy_when``). A system whose final energies change sign (the loops', say)
    gets one row with a ``note`` saying so and no factor.
    """
    runs = _ok(table).dropna(subset=["energy_final_exact", "time_method_s"])
    base_label = baseline_label(runs, baseline)
    if base_label is None:
        return pd.DataFrame()
    columns = ["time_method_s", "energy_final_exact"]
    base = runs[runs["label"] == base_label].groupby(["panel", "seed"], as_index=False)[columns].mean()
    rows = []
    for panel, here in runs.groupby("panel", sort=True):
        sign = _one_signed(here["energy_final_exact"])
        if sign is None:
            low, high = here["energy_final_exact"].min(), here["energy_final_exact"].max()
            rows.append({"panel": panel, "baseline": base_label,
                         "note": f"final energies change sign ({low:.3g} to {high:.3g}): E_base / E does not say "
                                 "which is lower; compare the energies (energy_vs_time)"})
            continue
        for label, series in here[here["label"] != base_label].groupby("label", sort=True):
            paired = series.merge(base, on=["panel", "seed"], suffixes=("", "_base"))
            if paired.empty:
                continue
            speedup = paired["time_method_s_base"] / paired["time_method_s"]
            factor = paired["energy_final_exact_base"] / paired["energy_final_exact"]
            rows.append({
                "panel": panel, "label": label, "baseline": base_label, "pairs": len(paired),
                "speedup_mean": speedup.mean(), "speedup_std": speedup.std(ddof=1) if len(paired) > 1 else 0.0,
                "energy_factor_mean": factor.mean(), "energy_factor_std": factor.std(ddof=1) if len(paired) > 1 else 0.0,
                "energy_sign": sign, "lower_energy_when": "energy_factor < 1" if sign == "negative" else "energy_factor > 1",
            })
    return pd.DataFrame(rows, columns=SPEEDUP_COLUMNS) if rows else pd.DataFrame()


def speedup_vs_energy(table: pd.DataFrame, baseline: str = "gd") -> Figure | None:
    """Speedup against energy factor per system with one-signed energies, error bars one std over
    seeds; a panel per sign, its lower-energy side shaded (left of 1 for negative energies)."""
    ratios = speedup_table(table, baseline)
    if ratios.empty or ratios["energy_sign"].isna().all():
        return None
    ratios = ratios.dropna(subset=["energy_sign"])
    colours = _colours(sorted(ratios["label"].unique()))
    signs = sorted(ratios["energy_sign"].unique())
    fig, axes = _grid(len(signs))
    base = ratios["baseline"].iloc[0]
    for ax, sign in zip(axes, signs):
        for label, series in ratios[ratios["energy_sign"] == sign].groupby("label", sort=True):
            ax.errorbar(series["energy_factor_mean"], series["speedup_mean"], xerr=series["energy_factor_std"],
                        yerr=series["speedup_std"], fmt="o", color=colours[label], label=label, capsize=3)
            for _, point in series.iterrows():
                ax.annotate(point["panel"], (point["energy_factor_mean"], point["speedup_mean"]), fontsize=7,
                            xytext=(4, 4), textcoords="offset points")
        ax.axhline(1.0, color="0.7", lw=0.8)
        ax.axvline(1.0, color="0.7", lw=0.8)
        left, right = ax.get_xlim()
        lower = (min(left, 1.0), 1.0) if sign == "negative" else (1.0, max(right, 1.0))
        ax.axvspan(*lower, color="tab:green", alpha=0.08, lw=0, label=f"lower energy than {base}")
        ax.set_xlim(min(left, 1.0), max(right, 1.0))
        ax.set(xlabel="energy factor E_base / E", ylabel="speedup t_base / t (above 1: faster)",
               title=f"{sign} energies; base: {base}")
        ax.legend(fontsize=7)
    return fig


def best_protein_structures(table: pd.DataFrame) -> pd.DataFrame:
    """The lowest-energy ok run of each (panel, series) that wrote final.pdb and reference.pdb."""
    runs = _ok(table)
    has_files = runs["run_dir"].map(lambda d: (Path(d) / "final.pdb").exists() and (Path(d) / "reference.pdb").exists())
    runs = runs[has_files.astype(bool)]  # a Series mask: an empty list would select no columns instead of no rows
    return _best_runs(runs)


def _best_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The lowest-energy run of each (panel, series)."""
    runs = runs.dropna(subset=["energy_final_exact"])
    return runs.loc[runs.groupby(["panel", "label"])["energy_final_exact"].idxmin()].sort_values(["panel", "label"])


def ca_overlays(table: pd.DataFrame) -> Figure | None:
    """The best final structure of each series (blue) on the reference (red), CA traces."""
    best = best_protein_structures(table)
    if best.empty:
        return None
    fig, axes = _grid(len(best), columns=4, projection="3d")
    for ax, (_, run) in zip(axes, best.iterrows()):
        reference = read_ca(Path(run["run_dir"]) / "reference.pdb")
        final, rmsd = superimposed(read_ca(Path(run["run_dir"]) / "final.pdb"), reference)
        ax.plot(*reference.T, color="tab:red", lw=1.5, label="reference")
        ax.plot(*final.T, color="tab:blue", lw=1.5, label="final")
        ax.set_title(f"{run['panel']}: {run['label']}\nCA RMSD {rmsd:.2f} Å", fontsize=8)
        _bare_3d(ax)
        ax.legend(fontsize=6)
    return fig


def _bare_3d(ax: Axes) -> None:
    ax.set_box_aspect((1, 1, 1))
    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        axis.set_ticklabels([])


def draw_loop(ax: Axes, x: np.ndarray, loop_spacing: int | None = None) -> None:
    """A bead chain coloured from first to last bead; loop pairs (i, i + loop_spacing) as thin grey lines."""
    from matplotlib import colormaps
    from mpl_toolkits.mplot3d.art3d import Line3DCollection

    if loop_spacing:
        loops = np.stack([x[:-loop_spacing], x[loop_spacing:]], axis=1)
        ax.add_collection3d(Line3DCollection(loops, colors="0.8", linewidths=0.3))
    colours = colormaps["viridis"](np.linspace(0, 1, len(x)))
    ax.add_collection3d(Line3DCollection(np.stack([x[:-1], x[1:]], axis=1), colors=colours[:-1], linewidths=1.2))
    ax.scatter(x[:, 0], x[:, 1], x[:, 2], c=colours, s=4)
    _bare_3d(ax)


def loop_snapshots(table: pd.DataFrame) -> Figure | None:
    """The lowest-energy final loop of each (system, series), like the paper's Fig. 2."""
    runs = _ok(table)
    runs = runs[runs["run_dir"].map(lambda d: (Path(d) / "final.npy").exists()
                                    and not (Path(d) / "final.pdb").exists()).astype(bool)]
    if runs.empty:
        return None
    best = _best_runs(runs)
    fig, axes = _grid(len(best), columns=4, projection="3d")
    for ax, (_, run) in zip(axes, best.iterrows()):
        spacing = run.get("cfg.system.loop_spacing")
        draw_loop(ax, np.load(Path(run["run_dir"]) / "final.npy", allow_pickle=False), int(spacing) if pd.notna(spacing) else None)
        ax.set_title(f"{run['panel']}: {run['label']}\nE = {run['energy_final_exact']:.5g}", fontsize=8)
    return fig


def loop_snapshot(x: np.ndarray, path: Path, title: str = "", loop_spacing: int | None = None) -> None:
    """One run's final loop as a PNG (written next to its results)."""
    fig = Figure(figsize=(5, 5), dpi=120)
    ax = fig.add_subplot(projection="3d")
    draw_loop(ax, x, loop_spacing)
    ax.set_title(title, fontsize=9)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())
