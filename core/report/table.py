"""Finished runs as one table, and that table summarised over seeds.

Every run directory holds a flat ``summary.json`` whose ``cfg.*`` columns are the run's
resolved config. Runs are grouped by every config key whose value differs between them,
except the seed (and keys that only say where files go), so different systems, energies
or learning rates are never averaged together. Runs whose status is not ``ok`` are
counted in their group but left out of its means.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from nrep.core.errors import NrepError
from nrep.core.io.files import TRACE
from nrep.core.io.runs import find_runs as runs_on_disk

# Config keys that say where files go or how a run is shown, not what it computes.
NOT_GROUPED = {
    "cfg.seed",
    "cfg.system.local_dir",
    "cfg.system.cache_dir",
    "cfg.system.base_url",
    "cfg.system.download_timeout_s",
    "cfg.init.cache",
    "cfg.init.cache_dir",
    "cfg.method.modes.cache",
    "cfg.method.modes.cache_dir",
    "cfg.energy.compile",
}
NOT_GROUPED_PREFIXES = ("cfg.output.",)
# Keys shown first when a table has to pick among them.
KEY_PRIORITY = ("cfg.system.pdb", "cfg.system.name", "cfg.system.n", "cfg.energy.name", "cfg.init.name",
                "cfg.method.name", "cfg.optim.name")
# summary column -> name of its statistics in the grouped table; the final energy's are
# named after its unit (energy_kJ_mol_mean, energy_reduced_mean: energy_key), so that no
# column of a report over loops and proteins holds two units
METRICS = {
    "rmsd_ca_A": "rmsd_ca_A",
    # the final forces, named after their unit (core/run/record.py): proteins, loops
    "rms_force_kJ_mol_nm": "rms_force_kJ_mol_nm",
    "max_force_kJ_mol_nm": "max_force_kJ_mol_nm",
    "rms_force_reduced": "rms_force_reduced",
    "max_force_reduced": "max_force_reduced",
    "loop_closure": "closure",
    "time_method_s": "time_s",
    "steps_total": "steps",
}


def _plain(value: object) -> object:
    """Lists and mappings as JSON text, so that they can be grouped and written to CSV."""
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def find_runs(directories: Iterable[Path]) -> list[dict]:
    """One record per run below ``directories`` (:func:`nrep.core.io.runs.find_runs`), lists
    and mappings as JSON text."""
    return [{key: _plain(value) for key, value in record.items()} for record in runs_on_disk(directories)]


def load_runs(directories: Sequence[Path]) -> pd.DataFrame:
    """The runs below ``directories`` as a table, one row per run (NrepError if there are none)."""
    rows = find_runs(directories)
    if not rows:
        names = ", ".join(str(d) for d in directories)
        raise NrepError(f"no runs below {names} (no summary.json); point nrep report at run or sweep directories")
    table = pd.DataFrame(rows)
    if "optim" in table:  # the OpenMM methods carry an optim group they do not use (summary: optim=null)
        unused = table["optim"].isna() & (table["status"] == "ok")
        if unused.any():  # pandas refuses None in a bool column (cfg.optim.nesterov) even under an all-False mask
            columns = [c for c in table.columns if c.startswith("cfg.optim.")]
            table[columns] = table[columns].astype(object)
            table.loc[unused, columns] = None
    numeric = [*METRICS, "energy_final_exact", "energy_initial", "seed", "energy_best", "time_total_s", "rmsd_backbone_A",
               "rmsd_heavy_A", "rmsd_all_A", "stuck_pairs"]
    for column in numeric:
        if column in table:
            table[column] = pd.to_numeric(table[column], errors="coerce")
    for column in ("energy_final_exact", "time_method_s", "steps_total"):  # runs that never got far lack them
        if column not in table:
            table[column] = float("nan")
    return table


def group_keys(table: pd.DataFrame) -> list[str]:
    """The config columns whose values differ between runs (the seed and file places excluded)."""
    keys = []
    for column in table.columns:
        if not column.startswith("cfg.") or column in NOT_GROUPED or column.startswith(NOT_GROUPED_PREFIXES):
            continue
        if table[column].astype(str).nunique(dropna=False) > 1:
            keys.append(column)
    return sorted(keys, key=lambda k: (KEY_PRIORITY.index(k) if k in KEY_PRIORITY else len(KEY_PRIORITY), k))


def independent_keys(table: pd.DataFrame, keys: Sequence[str]) -> list[str]:
    """The keys needed to tell the groups apart, in order: a key whose value follows from
    the keys before it (e.g. ``method.hidden_dims`` from ``method.name``) is dropped."""
    kept: list[str] = []
    text = table[list(keys)].astype(str)
    for key in keys:
        if kept and (text.groupby(kept, dropna=False)[key].nunique(dropna=False) <= 1).all():
            continue
        kept.append(key)
    return kept


def _statistics(values: pd.Series, name: str) -> dict[str, float]:
    values = values.dropna()
    if values.empty:
        return {f"{name}_mean": math.nan, f"{name}_std": math.nan}
    return {f"{name}_mean": values.mean(), f"{name}_std": values.std(ddof=1) if len(values) > 1 else math.nan}


def status_counts(statuses: pd.Series) -> str:
    """e.g. "1 failed, 2 diverged" for the runs that did not end ok ("" if all did)."""
    counts = statuses[statuses != "ok"].value_counts()
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))


def stop_reason_counts(reasons: pd.Series) -> str:
    """e.g. "converged 2, max_steps 1": why the runs that ended ok stopped."""
    counts = reasons.dropna().value_counts()
    return ", ".join(f"{reason} {n}" for reason, n in sorted(counts.items()))


def energy_key(unit: object) -> str:
    """The name of a group's energy statistics: ``energy_kJ_mol``, ``energy_reduced`` (``energy``: unit unknown)."""
    return "energy_" + re.sub(r"[^0-9A-Za-z]+", "_", unit).strip("_") if isinstance(unit, str) and unit else "energy"


def summarise(table: pd.DataFrame, keys: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per group of runs: the system it ran on (``system_label``), counts, and mean, std
    and best over the runs that ended ok; the energy's under :func:`energy_key` of its unit."""
    keys = group_keys(table) if keys is None else list(keys)
    grouped = table.groupby([table[k].astype(str) for k in keys], dropna=False, sort=True) if keys else [((), table)]
    rows = []
    for _, runs in grouped:
        ok = runs[runs["status"] == "ok"]
        row = {"system_label": system_label(runs.iloc[0])}
        row.update({key: runs[key].iloc[0] for key in keys})
        row.update({"runs": len(runs), "ok": len(ok), "not_ok": status_counts(runs["status"])})
        if "stop_reason" in runs:  # converged, or capped (max_steps, max_total_steps, time_budget), ...
            row["stop_reasons"] = stop_reason_counts(ok["stop_reason"])
        units = ok["energy_unit"].dropna() if "energy_unit" in ok else pd.Series(dtype=object)
        row["energy_unit"] = units.iloc[0] if len(units) else None
        energy = energy_key(row["energy_unit"])
        row.update(_statistics(ok["energy_final_exact"], energy))
        row[f"{energy}_best"] = ok["energy_final_exact"].min() if len(ok) else math.nan
        for column, name in METRICS.items():
            if column in table:
                row.update(_statistics(ok[column], name))
        rows.append(row)
    return pd.DataFrame(rows)


def failures(table: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(run directory, status, error or "") of each run that did not end ok."""
    not_ok = table[table["status"] != "ok"]
    errors = not_ok["error"] if "error" in not_ok else [None] * len(not_ok)
    return [(d, s, e if isinstance(e, str) else "") for d, s, e in zip(not_ok["run_dir"], not_ok["status"], errors)]


def provenance(table: pd.DataFrame) -> dict[str, list[str]]:
    """Where the numbers come from: each distinct ``command``, ``git_commit`` and ``version_*`` of the runs."""
    columns = ["command", "git_commit", *sorted(c for c in table.columns if c.startswith("version_"))]
    found = {}
    for column in columns:
        if column in table:
            values = sorted({str(v) for v in table[column].dropna() if str(v)})
            if values:
                found[column] = values
    return found


def traces(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """run_dir -> trace.csv of each run that ended ok and has one."""
    found = {}
    for run_dir in table.loc[table["status"] == "ok", "run_dir"]:
        path = Path(run_dir) / TRACE
        if path.exists() and path.stat().st_size:
            found[run_dir] = pd.read_csv(path)
    return found


def short_name(key: str) -> str:
    """``cfg.method.lr`` -> ``method.lr``."""
    return key.removeprefix("cfg.")


# ------------------------------------------------------------------ series and panels

PANEL_KEY_PREFIXES = ("cfg.system.", "cfg.energy.name", "cfg.energy.cutoff",
                     "cfg.energy.cutoff_nm")


def system_label(run: pd.Series) -> str:
    """What a run minimised, in a few words: ``2JOF amber``, ``loop pure_lj n=100``,
    ``loop pure_lj n=100000 cutoff=2.5`` (the repulsion's cutoff, in bond lengths)."""
    parts = [str(run.get("system", "?")), str(run.get("energy_model", "?"))]
    if run.get("system") == "loop" and pd.notna(run.get("n_particles")):
        parts.append(f"n={int(run['n_particles'])}")
    if pd.notna(run.get("energy_cutoff", None)):
        parts.append(f"cutoff={run['energy_cutoff']:g}")
    if pd.notna(run.get("energy_cutoff_nm", None)):
        parts.append(f"cutoff={run['energy_cutoff_nm']:g} nm")
    return " ".join(parts)


def _value(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def label_runs(table: pd.DataFrame, keys: Sequence[str] | None = None) -> pd.DataFrame:
    """A copy with ``panel`` (system, energy, size) and ``label`` (method and whatever else
    tells its runs apart, e.g. ``gnn adam method.lr=0.0001``) for the figures."""
    keys = independent_keys(table, group_keys(table) if keys is None else keys)
    extra = [k for k in keys if k != "cfg.method.name" and not k.startswith(PANEL_KEY_PREFIXES)]
    labelled = table.copy()
    labelled["panel"] = [system_label(run) for _, run in table.iterrows()]

    def label(run: pd.Series) -> str:
        parts = [str(run.get("method", "?"))]
        for key in extra:
            value = run.get(key)
            if pd.isna(value):
                continue
            parts.append(_value(value) if key.endswith(".name") else f"{short_name(key)}={_value(value)}")
        return " ".join(parts)

    labelled["label"] = [label(run) for _, run in table.iterrows()]
    return labelled


# ------------------------------------------------------------------------- showing

# the config keys system_label says (they are not shown beside it)
SYSTEM_LABEL_KEYS = ("cfg.system.pdb", "cfg.system.name", "cfg.system.n", "cfg.energy.name", "cfg.energy.cutoff",
                     "cfg.energy.cutoff_nm")


def cell(mean: object, std: object = None, digits: int = 6) -> str:
    """A mean rounded to ``digits`` significant digits, ± its std to two ("–" when there is none)."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    if not isinstance(mean, (int, float)):
        return str(mean)
    text = f"{mean:.{digits}g}"
    return text if std is None or (isinstance(std, float) and math.isnan(std)) else f"{text} ± {std:.2g}"


def _has(groups: pd.DataFrame, column: str) -> bool:
    return column in groups and groups[column].notna().any()


def display_tables(groups: pd.DataFrame, shown: Sequence[str]) -> list[tuple[str, pd.DataFrame]]:
    """The groups as tables of rounded text to print or show, one per energy unit: (unit, table).

    Each row says its system (``loop pure_lj n=100``, ``2JOF amber``) and the shown keys
    that tell it apart; the energy, force and closure columns are those of its unit only.
    """
    keys = [k for k in shown if k not in SYSTEM_LABEL_KEYS]
    units = groups["energy_unit"].astype(object).where(groups["energy_unit"].notna(), None)
    tables = []
    for unit in sorted(set(units), key=lambda u: (u is None, str(u))):
        here = groups[units.map(lambda u, unit=unit: u == unit)]
        energy, suffix = energy_key(unit), f" ({unit})" if unit else ""
        optional = [(f"{name}_mean", f"{name}_std", title, 3) for name, title in
                    (("rmsd_ca_A", "CA RMSD (Å)"), ("closure", "closure"))] + [
                    (f"{column}_mean", f"{column}_std", f"RMS force ({force_unit})", 3)
                    for column, force_unit in (("rms_force_kJ_mol_nm", "kJ/mol/nm"), ("rms_force_reduced", "reduced"))]
        optional = [spec for spec in optional if _has(here, spec[0])]
        rows = []
        for _, group in here.iterrows():
            row = {"system": group["system_label"]}
            row.update({short_name(k): cell(group[k]) for k in keys})
            row["ok/runs"] = f"{group['ok']}/{group['runs']}"
            row[f"energy{suffix}"] = cell(group.get(f"{energy}_mean"), group.get(f"{energy}_std"))
            row[f"best{suffix}"] = cell(group.get(f"{energy}_best"))
            row.update({title: cell(group.get(mean), group.get(std), digits) for mean, std, title, digits in optional})
            row["time_method_s"] = cell(group.get("time_s_mean"), group.get("time_s_std"), 3)
            row["steps"] = cell(group.get("steps_mean"), None, 5)
            row["stopped by"] = group.get("stop_reasons") or ""
            row["not ok"] = group["not_ok"]
            rows.append(row)
        tables.append((unit or "unknown unit", pd.DataFrame(rows)))
    return tables


# ------------------------------------------------------------------------- writing


REPORT_MARKER = "runs.csv"


def check_report_dir(directory: Path) -> None:
    """A report goes into an empty directory or replaces an earlier report; nothing else is written over.

    The directory is made here, so that a place that cannot hold it (a file, a read-only
    directory) is one line before anything is drawn.
    """
    above = next((p for p in [directory, *directory.parents] if p.exists()), None)
    if above is not None and not above.is_dir():
        where = "is a file" if above == directory else f"is under the file {above}"
        raise NrepError(f"--out {directory} {where}; give a directory for the report (--out DIR)")
    if directory.exists() and any(directory.iterdir()) and not (directory / REPORT_MARKER).exists():
        raise NrepError(f"{directory} holds files that are not an nrep report; choose another directory with --out DIR")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise NrepError(f"cannot make the report directory {directory} ({error.strerror or error}); "
                        "choose another one with --out DIR") from None


def write_tables(table: pd.DataFrame, groups: pd.DataFrame, directory: Path, shown: Sequence[str]) -> list[Path]:
    """runs.csv (every run), summary.csv (a row per group of seeds, every group key) and
    summary.md (the same rows rounded, one table per energy unit, with the system and the
    ``shown`` keys that tell the groups apart)."""
    from nrep.core.io.files import atomic_write_text

    sections = [f"## energy in {unit}\n\n{shown_table.to_markdown(index=False)}\n"
                for unit, shown_table in display_tables(groups, shown)]
    written = {
        directory / REPORT_MARKER: table.to_csv(index=False),
        directory / "summary.csv": groups.to_csv(index=False),
        directory / "summary.md": "\n".join(sections),
    }
    for path, text in written.items():
        atomic_write_text(path, text)
    return list(written)


def write_figures(table: pd.DataFrame, directory: Path, baseline: str = "gd") -> tuple[list[Path], list[str]]:
    """Every figure type the runs hold data for, as PNG and PDF; speedup.csv with Fig. 4's numbers.

    Returns the files written and notes on what a figure leaves out and why (e.g. the
    speedup figure for a system whose energies change sign).
    """
    from nrep.core.io.files import atomic_write_text
    from nrep.core.report import figures

    if not (table["status"] == "ok").any():  # nothing ended ok: nothing to draw
        return [], []
    labelled = label_runs(table)
    run_traces = traces(labelled)
    drawn = {
        "energy_vs_time": figures.energy_vs_time(labelled),
        "speedup_vs_energy": figures.speedup_vs_energy(labelled, baseline),
        "rmsd_vs_time": figures.rmsd_vs_time(labelled, run_traces),
        "ca_overlays": figures.ca_overlays(labelled),
        "energy_vs_iteration": figures.energy_vs_iteration(labelled, run_traces),
        "loop_snapshots": figures.loop_snapshots(labelled),
    }
    written = []
    for name, fig in drawn.items():
        if fig is not None:
            written += figures.save(fig, directory, name)
    ratios = figures.speedup_table(labelled, baseline)
    notes = []
    if not ratios.empty:
        atomic_write_text(directory / "speedup.csv", ratios.to_csv(index=False))
        written.append(directory / "speedup.csv")
        notes = [f"speedup_vs_energy leaves out {row.panel}: {row.note}" for row in ratios.dropna(subset=["note"]).itertuples()]
    return written, notes
