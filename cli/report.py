"""``nrep report DIR...``: the runs below some directories as tables and figures.

Prints a rich table (a row per group of runs that differ only in their seed), and
writes runs.csv, summary.csv, summary.md and the figures (PNG and PDF) into the report
directory (``--out``; by default ``report/`` inside the one directory given, or inside
the directories' common parent).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from nrep.core.errors import NrepError

if TYPE_CHECKING:
    import argparse

    import pandas as pd

USAGE = """usage: nrep report DIR... [--out DIR] [--baseline METHOD] [--no-figures] [--html] [--format table|md]

Collect the summary.json of every run below the directories into one table, average
over seeds (grouping by every config key that differs, except the seed), and draw the
paper's figure types.

options:
  --out DIR          where to write the report (default: DIR/report for one DIR,
                     else report/ in the directories' common parent)
  --baseline METHOD  the method the speedup figure divides by (default: gd)
  --no-figures       tables only
  --html             also report.html: one self-contained page (tables, figures, and a
                     3-D view of final vs reference structures) that works offline
  --format FORMAT    how the table is printed: table (a drawn table, at full width even
                     in a pipe or file) or md (the Markdown of summary.md)
  --debug            show tracebacks

writes: runs.csv (a row per run), summary.csv and summary.md (a row per group),
speedup.csv, and energy_vs_time, speedup_vs_energy, rmsd_vs_time, ca_overlays,
energy_vs_iteration, loop_snapshots (.png and .pdf) for the runs that have the data.
Runs whose status is not ok are counted in their group, not averaged in."""


def parse(argv: Sequence[str]) -> argparse.Namespace:
    from nrep.cli.main import Parser

    parser = Parser(prog="nrep report", add_help=False, allow_abbrev=False)
    parser.add_argument("-h", "--help", action="store_true")
    parser.add_argument("directories", nargs="*", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--baseline", default="gd")
    parser.add_argument("--no-figures", action="store_true")
    parser.add_argument("--html", action="store_true")
    parser.add_argument("--format", choices=["table", "md"], default="table")
    parser.add_argument("--debug", action="store_true")
    return parser.parse_args(list(argv))


def default_out(directories: Sequence[Path]) -> Path:
    if len(directories) == 1:
        return directories[0] / "report"
    return Path(os.path.commonpath([d.resolve() for d in directories])) / "report"


def print_table(groups: pd.DataFrame, shown: list[str], failures: Sequence[tuple[str, str, str]]) -> None:
    """The groups as rich tables, one per energy unit; the runs that did not end ok below them."""
    from rich.console import Console
    from rich.table import Table

    from nrep.core.report.table import display_tables, short_name

    # in a pipe or a file there is no terminal to fit: the tables keep their natural width
    console = Console() if sys.stdout.isatty() else Console(width=100_000)
    left = {"system", "stopped by", "not ok", *map(short_name, shown)}  # words left, numbers right
    for unit, shown_table in display_tables(groups, shown):
        table = Table(title=f"energy in {unit}: runs grouped over seeds (mean ± std over runs that ended ok)",
                      title_justify="left")
        for column in shown_table.columns:
            table.add_column(column, justify="left" if column in left else "right")
        for row in shown_table.itertuples(index=False):
            table.add_row(*row)
        console.print(table)
    for run_dir, status, error in failures:
        console.print(f"[yellow]{status}[/]: {run_dir}" + (f": {error}" if error else ""), highlight=False, markup=True)


def write_html(table: pd.DataFrame, groups: pd.DataFrame, shown: Sequence[str], pngs: Sequence[Path], notes: Sequence[str],
               out: Path) -> Path:
    from nrep.core.io.files import atomic_write_text
    from nrep.core.report import page as html_report
    from nrep.core.report import table as report
    from nrep.core.report import viewer_js

    views = html_report.structures(report.label_runs(table))
    viewer, note = None, ""
    if views:
        try:
            viewer = viewer_js.viewer_script()
        except NrepError as error:
            note = str(error)
            print(f"nrep: warning: {note}", file=sys.stderr)
    page = html_report.render(f"nrep report: {out.parent.name}/{out.name}", table, groups, shown, pngs, views, viewer,
                              note, out, notes)
    path = out / "report.html"
    atomic_write_text(path, page)
    return path


def run_report(argv: Sequence[str]) -> int:
    args = parse(argv)
    if args.help:
        print(USAGE)
        return 0
    if args.debug:
        os.environ["NREP_DEBUG"] = "1"
    if not args.directories:
        raise NrepError("nrep report needs at least one directory of runs (e.g. results/2JOF)")
    from nrep.core.report import table as report

    table = report.load_runs(args.directories)
    out = args.out or default_out(args.directories)
    report.check_report_dir(out)
    keys = report.group_keys(table)
    groups = report.summarise(table, keys)
    shown = report.independent_keys(table, keys)
    written = report.write_tables(table, groups, out, shown)
    notes: list[str] = []
    if not args.no_figures:
        figures, notes = report.write_figures(table, out, args.baseline)
        written += figures
    failures = report.failures(table)
    if args.html:
        written.append(write_html(table, groups, shown, [p for p in written if p.suffix == ".png"], notes, out))
    if args.format == "md":
        print((out / "summary.md").read_text(), end="")
    else:
        print_table(groups, shown, failures)
    for note in notes:
        print(note)
    if not len(failures) < len(table):
        print(f"nothing to plot: none of the {len(table)} runs ended ok ({report.status_counts(table['status'])})")
    print(f"{len(table)} runs in {len(groups)} groups; report in {out} ({len(written)} files)")
    return 0
