"""Shared fixtures: tiny systems built in code, composed configs, and the nrep command."""

from __future__ import annotations

import http.server
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import openmm
import pytest
import torch

from nrep.core.systems.loop import LoopSystem, offset_pairs

# One torch thread: the suite runs next to other processes on small machines, and the
# determinism promise is per thread count.
torch.set_num_threads(1)


def loop_system(x: list[list[float]] | torch.Tensor, loop_spacing: int) -> LoopSystem:
    """A loop over given coordinates, with no lower bound on its size (for hand-made cases)."""
    x0 = torch.as_tensor(x, dtype=torch.float64)
    n = len(x0)
    loops = offset_pairs(n, loop_spacing) if n > loop_spacing else torch.empty(0, 2, dtype=torch.long)
    return LoopSystem(x0=x0, bonds=offset_pairs(n, 1), loops=loops, loop_spacing=loop_spacing)


@pytest.fixture
def compose_cfg():
    """compose_cfg(*overrides) -> the typed NrepConfig Hydra would build for `nrep loop` (nrep.configs.load)."""
    from nrep.configs import load

    def build(*overrides: str):
        return load(overrides)

    return build


def run_nrep(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the installed `nrep` command in a subprocess (one torch thread)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    exe = Path(sys.executable).with_name("nrep")
    return subprocess.run([str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def hand_loop():
    """hand_loop(coordinates, loop_spacing) -> a LoopSystem over exactly those coordinates."""
    return loop_system


@pytest.fixture(scope="session")
def nrep_cli():
    """nrep_cli(*args, cwd=...) -> the CompletedProcess of the installed `nrep` command."""
    return run_nrep


@pytest.fixture
def server(tmp_path):
    """(folder, base URL) of an HTTP server on 127.0.0.1 over a folder; ids starting with 9 answer HTTP 500.

    Beside a served file NAME, ``NAME.redirect`` (holding a URL) answers a redirect there, and
    ``NAME.cut`` sends half of NAME and closes (a download cut short).
    """
    served = tmp_path / "served"
    served.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(served), **kwargs)

        def do_GET(self):
            name = Path(self.path).name
            if name.startswith("9"):
                self.send_error(500, "server error")
                return
            if (served / f"{name}.redirect").is_file():
                self.send_response(302)
                self.send_header("Location", (served / f"{name}.redirect").read_text().strip())
                self.end_headers()
                return
            if (served / f"{name}.cut").is_file():
                data = (served / name).read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.close_connection = True
                return
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def peptide_pdb_text(sequence: str = "AKWD", helix: bool = True) -> str:
    """PDB text (heavy atoms) of a peptide built in code: a helix (phi -57, psi -47) or extended."""
    from nrep.core.systems.extended import peptide_pdb

    return peptide_pdb(sequence, helix)


@pytest.fixture(scope="session")
def peptide_file(tmp_path_factory) -> Path:
    """A 4-residue helical peptide (AKWD) as a PDB file: the protein of fast end-to-end tests."""
    path = tmp_path_factory.mktemp("structures") / "AKWD.pdb"
    path.write_text(peptide_pdb_text())
    return path


TERM_FORCES = {"bond": "HarmonicBondForce", "angle": "HarmonicAngleForce", "torsion": "PeriodicTorsionForce",
               "lj": "NonbondedForce", "coulomb": "NonbondedForce"}


def system_with_only(system, term: str):
    """A copy of ``system`` that keeps only one of nrep's terms (LJ and Coulomb split apart)."""
    copy = openmm.XmlSerializer.deserialize(openmm.XmlSerializer.serialize(system))
    for index in reversed(range(copy.getNumForces())):
        if type(copy.getForce(index)).__name__ != TERM_FORCES[term]:
            copy.removeForce(index)
    if term in ("lj", "coulomb"):
        _keep_nonbonded(copy.getForce(0), term)
    return copy


def _keep_nonbonded(force, keep: str) -> None:
    """Zero the charges (keep="lj") or the LJ well depths (keep="coulomb") of a NonbondedForce."""
    for i in range(force.getNumParticles()):
        q, sigma, epsilon = force.getParticleParameters(i)
        force.setParticleParameters(i, q if keep == "coulomb" else 0.0, sigma, epsilon if keep == "lj" else 0.0)
    for i in range(force.getNumExceptions()):
        a, b, qq, sigma, epsilon = force.getExceptionParameters(i)
        force.setExceptionParameters(i, a, b, qq if keep == "coulomb" else 0.0, sigma, epsilon if keep == "lj" else 0.0)


@pytest.fixture
def only_term():
    """only_term(system, term) -> a copy of an OpenMM system that keeps one of nrep's AMBER terms."""
    return system_with_only


@pytest.fixture
def peptide_text():
    """peptide_text(sequence, helix=True) -> PDB text of a peptide built in code."""
    return peptide_pdb_text


LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


def problems(stderr: str) -> list[str]:
    """The lines of stderr that are not log records (which go there too, outside a terminal): nrep's own
    one-line messages, and anything else (a traceback) that should not be there."""
    return [line for line in stderr.strip().splitlines() if not LOG_RECORD.match(line)]
