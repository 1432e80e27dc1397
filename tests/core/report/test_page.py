"""The self-contained HTML report: offline page, superposition, the viewer script, and a
headless browser that must draw the 3-D view without console errors."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from nrep.core.errors import NrepError
from nrep.core.report import page as html_report
from nrep.core.report import table as report
from nrep.core.report import viewer_js

from .test_table import write_run


def rotated_pdb(text: str, angle: float = 0.9, shift: float = 7.0) -> str:
    """The same PDB with every atom rotated about z and moved (OpenMM reads and writes it)."""
    from openmm import app, unit

    pdb = app.PDBFile(io.StringIO(text))
    x = pdb.getPositions(asNumpy=True).value_in_unit(unit.angstrom)
    c, s = np.cos(angle), np.sin(angle)
    moved = x @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]).T + shift
    out = io.StringIO()
    app.PDBFile.writeFile(pdb.topology, moved * unit.angstrom, out)
    return out.getvalue()


@pytest.fixture
def protein_runs(tmp_path, peptide_text):
    """Two methods on a small peptide: final = reference rotated and moved (RMSD 0 after fitting)."""
    reference = peptide_text("AKWDE")
    root = tmp_path / "runs"
    for method, energy in (("gd", -10.0), ("gnn", -12.0)):
        run = write_run(root / method, system="AKWDE", energy_model="amber", energy_unit="kJ/mol", method=method,
                        energy_final_exact=energy, rmsd_ca_A=0.0, **{"cfg.method.name": method, "cfg.system.name": "protein"})
        (run / "reference.pdb").write_text(reference)
        (run / "final.pdb").write_text(rotated_pdb(reference))
    return root


def ca(text: str) -> np.ndarray:
    return np.array([[float(line[30:38]), float(line[38:46]), float(line[46:54])]
                     for line in text.splitlines() if line.startswith("ATOM") and line[12:16].strip() == "CA"])


def test_final_structures_are_superimposed_on_the_reference(protein_runs):
    views = html_report.structures(report.label_runs(report.load_runs([protein_runs])))
    assert [v["title"] for v in views] == ["AKWDE amber: gd", "AKWDE amber: gnn"]
    for view in views:
        assert ca(view["final"]) == pytest.approx(ca(view["reference"]), abs=2e-3)
        assert not np.allclose(ca((protein_runs / "gd" / "final.pdb").read_text()), ca(view["reference"]), atol=1.0)


def test_the_page_is_self_contained(protein_runs):
    table = report.load_runs([protein_runs])
    groups = report.summarise(table)
    views = html_report.structures(report.label_runs(table))
    png = protein_runs / "figure.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    failed = pd.DataFrame([{"run_dir": "/x", "status": "failed", "error": "NrepError: boom"}])
    page = html_report.render("t", pd.concat([table, failed]), groups, ["cfg.method.name"], [png], views,
                              ("var $3Dmol = {}; // </script> inside", "BSD licence */ text"))
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # nothing loaded from elsewhere
    assert "data:image/png;base64," in page and "NrepError: boom" in page
    assert page.count("</script>") == 2  # the inlined code cannot close its element early
    assert "BSD licence * / text" in page
    assert "viewer-0" in page and "viewer-1" in page


def test_the_viewer_script_is_checked_and_cached(tmp_path, monkeypatch):
    with pytest.raises(NrepError, match="does not match its published checksum"):
        viewer_js.verify(b"not the package")
    with pytest.raises(NrepError, match="non-HTTPS"):
        viewer_js.fetch(tmp_path, url="http://registry.npmjs.org/3dmol/-/3dmol-2.5.5.tgz")
    with pytest.raises(NrepError, match="not in"):
        viewer_js.viewer_script(tmp_path, download=False)
    pins = {key: "sha512-" + base64.b64encode(hashlib.sha512(text.encode()).digest()).decode()
            for key, text in (("script", "script"), ("license", "licence"))}
    monkeypatch.setattr(viewer_js, "MEMBER_INTEGRITY", pins)  # stand-ins for the real files and their checksums
    paths = viewer_js._cached(tmp_path)
    for path, text in zip(paths.values(), ("script", "licence")):
        path.write_text(text)
    assert viewer_js.viewer_script(tmp_path, download=False) == ("script", "licence")
    paths["script"].write_text("scri")  # truncated in the cache: checked on every read, not only on download
    with pytest.raises(NrepError, match="or is damaged there"):
        viewer_js.viewer_script(tmp_path, download=False)
    assert not paths["script"].exists()  # removed, so the next report online fetches it again


def test_the_pinned_member_checksums_belong_to_the_pinned_package():
    cached = viewer_js._cached(viewer_js.cache_dir("js"))
    if not all(p.is_file() for p in cached.values()):
        pytest.skip("3Dmol.js is not cached here (make install caches it)")
    assert viewer_js.viewer_script(download=False)[0].startswith("/*!")  # the real files pass their checks


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--use-gl=angle", "--use-angle=swiftshader",
                 "--enable-unsafe-swiftshader", "--hide-scrollbars", "--virtual-time-budget=15000",
                 "--enable-logging=stderr", "--v=0"]


def browse(page, *flags) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *BROWSER_FLAGS, *flags, page.as_uri()], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium; .ci/run installs it)")
def test_a_headless_browser_draws_the_structures(protein_runs, tmp_path):
    from matplotlib.image import imread

    from nrep.cli.main import main

    assert main(["report", str(protein_runs), "--html", "--out", str(tmp_path / "report")]) == 0
    page = tmp_path / "report" / "report.html"
    done = browse(page, "--dump-dom")
    # the page logs nothing (SwiftShader's performance notes about reading pixels back aside)
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line and "GL Driver Message" not in line]
    assert console == []
    drawn = [int(n) for n in re.findall(r'data-drawn-pixels="(\d+)"', done.stdout)]
    assert len(drawn) == 2 and min(drawn) > 500, drawn  # each WebGL canvas holds a drawing

    # and on screen: the viewers' page differs from the same page without the viewer code
    runs = report.load_runs([protein_runs])
    viewers_only = html_report.render("v", runs, report.summarise(runs), [], [], html_report.structures(
        report.label_runs(runs)), viewer_js.viewer_script())
    shots = {}
    for name, text in (("viewers", viewers_only), ("blank", re.sub(r"<script>.*?</script>", "", viewers_only, flags=re.S))):
        (tmp_path / f"{name}.html").write_text(text)
        browse(tmp_path / f"{name}.html", f"--screenshot={tmp_path / name}.png", "--window-size=900,700")
        shots[name] = imread(tmp_path / f"{name}.png")[..., :3]
    changed = np.abs(shots["viewers"] - shots["blank"]).sum(axis=2) > 0.1
    assert changed.sum() > 2000
