"""The protein cost benchmark runs and reports each of its comparisons."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "protein_costs.py"


def test_protein_costs_reports_every_comparison(peptide_file):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--pdb", str(peptide_file), "--md-steps", "20"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    for expected in ("energy + gradient (float32): dense", "Hessian blocks of one sample", "gbn2, CPU", "vacuum, CPU"):
        assert expected in done.stdout, done.stdout
