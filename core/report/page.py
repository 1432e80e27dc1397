"""``nrep report --html``: one self-contained page with the tables, the figures and a 3-D view.

Everything is inside the file (figures as data URIs, 3Dmol.js and the structures inline),
so the page opens offline and can be mailed around. The 3-D view shows, for each protein
and series, the lowest-energy final structure (blue) superimposed on the reference (red)
by its CA atoms; it can be rotated and zoomed with the mouse.
"""

from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path
from typing import Sequence

import pandas as pd

from nrep.core.report.structures import superimposed_pdb
from nrep.core.report.table import cell, display_tables, failures, provenance, system_label

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; }
th { background: #f3f3f3; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
.viewers { display: flex; flex-wrap: wrap; gap: 1em; }
.viewer { width: 360px; height: 300px; position: relative; border: 1px solid #ccc; }
.caption { font-size: 0.85em; width: 360px; }
.note { color: #a60; }
.scroll { overflow-x: auto; }
"""

# Draws each viewer, then counts the pixels that differ from the background and records
# them on the element (data-drawn-pixels), so a blank view can be detected.
VIEWER_SCRIPT = """
function nrepDrawn(element, viewer) {
  const image = new Image();
  image.onload = function () {
    const canvas = document.createElement("canvas");
    canvas.width = image.width; canvas.height = image.height;
    const context = canvas.getContext("2d");
    context.drawImage(image, 0, 0);
    const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
    let drawn = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i] < 245 || data[i + 1] < 245 || data[i + 2] < 245) drawn++;
    }
    element.dataset.drawnPixels = String(drawn);
  };
  image.src = viewer.pngURI();
}
window.addEventListener("load", function () {
  for (const item of NREP_STRUCTURES) {
    const element = document.getElementById(item.id);
    const viewer = $3Dmol.createViewer(element, { backgroundColor: "white" });
    if (!viewer) { element.textContent = "This browser has no WebGL: the 3-D view cannot be drawn."; continue; }
    viewer.addModel(item.reference, "pdb");
    viewer.addModel(item.final, "pdb");
    viewer.setStyle({ model: 0 }, { cartoon: { color: "#d62728" } });
    viewer.setStyle({ model: 1 }, { cartoon: { color: "#1f77b4" } });
    viewer.zoomTo();
    viewer.render();
    nrepDrawn(element, viewer);
  }
});
"""


def structures(labelled: pd.DataFrame) -> list[dict[str, str]]:
    """The best final structure of each protein and series, superimposed on its reference."""
    from nrep.core.report.figures import best_protein_structures

    best = best_protein_structures(labelled)
    found = []
    for i, (_, run) in enumerate(best.iterrows()):
        run_dir = Path(run["run_dir"])
        found.append({
            "id": f"viewer-{i}",
            "title": f"{run['panel']}: {run['label']}",
            "caption": f"E = {run['energy_final_exact']:.6g} {run.get('energy_unit', '')}, "
                       f"CA RMSD {run.get('rmsd_ca_A', float('nan')):.2f} Å; {run_dir.name}",
            "reference": (run_dir / "reference.pdb").read_text(),
            "final": superimposed_pdb(run_dir / "final.pdb", run_dir / "reference.pdb"),
        })
    return found


def _image(path: Path) -> str:
    from nrep.core.report.figures import CAPTIONS

    data = base64.b64encode(path.read_bytes()).decode()
    name = html.escape(path.stem)
    caption = html.escape(CAPTIONS.get(path.stem, ""))
    return (f'<figure><img alt="{name}" src="data:image/png;base64,{data}">'
            f"<figcaption><b>{name}</b>{': ' + caption if caption else ''}</figcaption></figure>")


def _script_json(value: object) -> str:
    """JSON that is safe inside a <script> element."""
    return json.dumps(value).replace("</", "<\\/")


def _provenance(table: pd.DataFrame) -> list[str]:
    found = provenance(table)
    if not found:
        return []
    items = []
    for key, values in found.items():
        shown = values[:5] + ([f"and {len(values) - 5} more"] if len(values) > 5 else [])
        cells = "<br>".join(f"<code>{html.escape(v)}</code>" for v in shown)
        items.append(f"<tr><th>{html.escape(key)}</th><td style='text-align:left'>{cells}</td></tr>")
    return ["<h2>Where these numbers come from</h2>",
            "<p>The command, nrep's git commit and the versions each run recorded in its summary.json.</p>",
            f"<table>{''.join(items)}</table>"]


def _run_links(table: pd.DataFrame, out: Path | None) -> list[str]:
    """Every run: a link to its directory (relative to the report), its status and result."""
    rows = []
    for _, run in table.sort_values("run_dir").iterrows():
        run_dir = Path(str(run["run_dir"]))
        href = Path(os.path.relpath(run_dir, out)).as_posix() if out is not None else run_dir.as_posix()
        energy = cell(run.get("energy_final_exact"))
        unit = run.get("energy_unit") if isinstance(run.get("energy_unit"), str) else ""
        stop = run.get("stop_reason") if isinstance(run.get("stop_reason"), str) else ""
        seed = run.get("seed")
        rows.append(f'<tr><td style="text-align:left"><a href="{html.escape(href)}/">{html.escape(run_dir.name)}</a></td>'
                    f'<td>{html.escape(str(run["status"]))}</td><td style="text-align:left">{html.escape(system_label(run))}</td>'
                    f'<td style="text-align:left">{html.escape(str(run.get("method", "")))}</td>'
                    f'<td>{html.escape(cell(seed) if pd.notna(seed) else "–")}</td>'
                    f"<td>{html.escape(energy)} {html.escape(unit)}</td><td>{html.escape(stop)}</td></tr>")
    head = "".join(f"<th>{name}</th>" for name in ("run directory", "status", "system", "method", "seed", "final energy",
                                                     "stopped by"))
    head = f"<tr>{head}</tr>"
    return ["<h2>Every run</h2>", f'<div class="scroll"><table>{head}{"".join(rows)}</table></div>']


def render(
    title: str,
    table: pd.DataFrame,
    groups: pd.DataFrame,
    shown: Sequence[str],
    figure_pngs: Sequence[Path],
    views: Sequence[dict[str, str]],
    viewer: tuple[str, str] | None,
    viewer_note: str = "",
    out: Path | None = None,
    notes: Sequence[str] = (),
) -> str:
    """The whole page as a string; links to the run directories are relative to ``out`` (the report's directory)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<link rel="icon" href="data:,">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<h2>Runs grouped over seeds</h2>",
        "<p>Mean ± std over the runs that ended ok (rounded: energies to 6 significant digits, times, RMSDs and "
        "forces to 3); runs that did not are counted in <i>not ok</i>; <i>stopped by</i> counts why the others "
        "stopped (converged, or a cap such as max_steps). One table per energy unit.</p>",
    ]
    for unit, shown_table in display_tables(groups, shown):
        parts.append(f"<h3>energy in {html.escape(unit)}</h3>")
        parts.append('<div class="scroll">' + shown_table.to_html(index=False, border=0) + "</div>")
    found = failures(table)
    if found:
        items = "".join(f"<li>{html.escape(status)}: {html.escape(run_dir)}{': ' + html.escape(error) if error else ''}</li>"
                        for run_dir, status, error in found)
        parts.append(f"<h2>Runs that did not end ok</h2><ul>{items}</ul>")
    if figure_pngs or notes:
        parts.append("<h2>Figures</h2>")
        parts.extend(_image(path) for path in figure_pngs)
        parts.extend(f'<p class="note">{html.escape(note)}</p>' for note in notes)
    if views:
        parts.append("<h2>Final structures on the reference</h2>")
        parts.append("<p>Blue: the lowest-energy final structure of each series; red: the reference; "
                     "superimposed on their CA atoms. Drag to rotate, scroll to zoom.</p>")
        if viewer is None:
            parts.append(f'<p class="note">3-D view not included: {html.escape(viewer_note)}</p>')
        else:
            script, licence = viewer
            cells = "".join(
                f'<div><div class="viewer" id="{v["id"]}"></div><div class="caption"><b>{html.escape(v["title"])}</b><br>'
                f'{html.escape(v["caption"])}</div></div>' for v in views
            )
            parts.append(f'<div class="viewers">{cells}</div>')
            data = [{k: v[k] for k in ("id", "reference", "final")} for v in views]
            licence_comment = licence.replace("*/", "* /")
            inline = script.replace("</script", "<\\/script")
            parts.append(f"<script>/* 3Dmol.js, BSD-3-Clause:\n{licence_comment}\n*/\n{inline}</script>")
            parts.append(f"<script>const NREP_STRUCTURES = {_script_json(data)};\n{VIEWER_SCRIPT}</script>")
    parts += _provenance(table)
    parts += _run_links(table, out)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
