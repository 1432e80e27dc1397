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
from pathlib import Path
from typing import Sequence

import pandas as pd

from nrep.core.report.structures import superimposed_pdb
from nrep.core.report.table import short_name

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
    data = base64.b64encode(path.read_bytes()).decode()
    name = html.escape(path.stem)
    return f'<figure><img alt="{name}" src="data:image/png;base64,{data}"><figcaption>{name}</figcaption></figure>'


def _script_json(value: object) -> str:
    """JSON that is safe inside a <script> element."""
    return json.dumps(value).replace("</", "<\\/")


def render(
    title: str,
    groups: pd.DataFrame,
    shown: Sequence[str],
    failures: Sequence[tuple[str, str, str]],
    figure_pngs: Sequence[Path],
    views: Sequence[dict[str, str]],
    viewer: tuple[str, str] | None,
    viewer_note: str = "",
) -> str:
    """The whole page as a string."""
    keys = [k for k in groups.columns if k.startswith("cfg.")]
    table = groups.drop(columns=[k for k in keys if k not in shown]).rename(columns=short_name)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<link rel="icon" href="data:,">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<h2>Runs grouped over seeds</h2>",
        "<p>Mean ± std over the runs that ended ok; runs that did not are counted in <code>not_ok</code>.</p>",
        '<div class="scroll">' + table.to_html(index=False, float_format=lambda v: f"{v:.6g}", na_rep="–", border=0) + "</div>",
    ]
    if failures:
        items = "".join(f"<li>{html.escape(status)}: {html.escape(run_dir)}{': ' + html.escape(error) if error else ''}</li>"
                        for run_dir, status, error in failures)
        parts.append(f"<h2>Runs that did not end ok</h2><ul>{items}</ul>")
    if figure_pngs:
        parts.append("<h2>Figures</h2>")
        parts.extend(_image(path) for path in figure_pngs)
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
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
