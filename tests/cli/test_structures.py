"""Real PDB entries through `nrep fold`: each one folds or is refused in one line, never a traceback.

The corpus is ../shared/pdb-corpus (``NREP_PDB_CORPUS``; CI exports it, and a missing
folder named there fails the test rather than skipping it) and the held-out
``NREP_PDB_DIR``. The whole corpus is ``slow``; a subset that walks different code
paths (gzip + mmCIF + alternate locations, a DNA first chain in an NMR ensemble, an
unknown amino acid, a replaceable one with three disulfides) runs by default.
"""

from __future__ import annotations

import gzip
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from nrep.cli.main import main
from tests.conftest import problems

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("NREP_PDB_CORPUS", ROOT.parent / "shared" / "pdb-corpus"))
PDB_DIR = os.environ.get("NREP_PDB_DIR")
RUN = ["method=gd", "stop.max_steps=20", "--threads", "1"]
REPLACE = ["system.replace_nonstandard=true"]


def ran(note: str = "") -> tuple[str, str]:
    return ("ran", note)


def refused(*parts: str) -> tuple[str, tuple[str, ...]]:
    return ("refused", parts)


# file, extra arguments, what a user should get (the README's protein section states the same decisions)
CORPUS_CASES = [
    ("1A7G.cif", [], ran("removed waters, ions and ligands: HOH, SO4")),
    ("1A8O.pdb", [], ran("replaced MSE->MET (selenomethionine")),
    ("1A8O.pdb.gz", [], ran("replaced MSE->MET (selenomethionine")),
    ("1AS5.cif", [], refused("non-standard residues HYP", "add system.replace_nonstandard=true", "HYP->PRO")),
    ("1AS5.cif", REPLACE, ran("3 disulfide bonds (CYX): CYS4-CYS16, CYS5-CYS21, CYS10-CYS22")),
    ("1BHL.pdb", [], refused("non-standard residues CAS", "add system.replace_nonstandard=true")),
    ("1BHL.pdb", REPLACE, ran("built 16 residues missing between GLN137 and MET154")),
    ("1GBT.cif", [], ran("6 disulfide bonds (CYX)")),
    ("1LCD.pdb", [], ran("kept chain A of B, C, A (B, C: DNA, not protein)")),
    ("2BEG.pdb", [], ran("kept chain A of A, B, C, D, E")),
    ("2OFG.cif", [], ran("used model 1 of 3")),
    ("2n0n_M1.pdb", [], refused("residue PH811 of chain A is an amino acid that neither amber14 nor PDBFixer", "AIB->ALA")),
    ("3JQH.cif", [], ran("resolved 23 atoms with alternate locations")),
    ("3JQH.cif.gz", [], ran("resolved 23 atoms with alternate locations")),
    ("4CUP.cif", [], ran("removed waters, ions and ligands: HOH, MOH, ZYB")),
    ("4ZHL.cif", [], ran("kept chain U of U, P")),
    ("a_structure.pdb", [], refused("non-standard residues PCA", "system.replace_nonstandard=true")),
    ("a_structure.pdb", REPLACE, refused("is a chain of one amino acid", "cap it with ACE and NME")),
    ("alanine-dipeptide.pdb", [], ran()),
    ("disordered.pdb", [], ran("resolved 3 atoms with alternate locations")),
]
DEFAULT_SUITE = {("3JQH.cif.gz", ()), ("1LCD.pdb", ()), ("2n0n_M1.pdb", ()), ("1AS5.cif", tuple(REPLACE))}
HELD_OUT_CASES = [("2F4K.pdb", [], refused("non-standard residues NLE")), ("2F4K.pdb", REPLACE, ran("NLE->LEU"))]


def _case_id(name: str, extra: list[str]) -> str:
    return name + ("+replace" if extra else "")


def _corpus_params():
    params = []
    for name, extra, outcome in CORPUS_CASES:
        marks = [] if (name, tuple(extra)) in DEFAULT_SUITE else [pytest.mark.slow]
        params.append(pytest.param(name, extra, outcome, marks=marks, id=_case_id(name, extra)))
    return params


def check_outcome(nrep_cli, cwd: Path, path: Path, extra: list[str], outcome) -> None:
    done = nrep_cli("fold", "--pdb", str(path), *RUN, *extra, "--out", "run", f"init.cache_dir={cwd / 'starts'}",
                    cwd=cwd, timeout=900)
    text = done.stdout + done.stderr
    assert "Traceback" not in text, text
    kind, expected = outcome
    if kind == "refused":
        lines = problems(done.stderr)
        assert done.returncode == 2, text
        assert len(lines) == 1 and lines[0].startswith("nrep: error: "), text
        for part in expected:
            assert part in lines[0], lines[0]
        assert not (cwd / "run").exists()  # nothing written
        return
    assert done.returncode == 0, text
    summary = json.loads((cwd / "run" / "summary.json").read_text())
    assert summary["status"] == "ok" and math.isfinite(summary["energy_final"]), summary
    assert expected in summary["structure_notes"], summary["structure_notes"]


def corpus_folder() -> Path:
    if not CORPUS.is_dir():
        if "NREP_PDB_CORPUS" in os.environ:
            pytest.fail(f"NREP_PDB_CORPUS={CORPUS} is not a folder: the corpus test cannot run")
        pytest.skip(f"no structure corpus at {CORPUS}; set NREP_PDB_CORPUS (CI does)")
    return CORPUS


@pytest.mark.parametrize("name, extra, outcome", _corpus_params())
def test_every_corpus_entry_folds_or_is_refused_in_one_line(tmp_path, nrep_cli, name, extra, outcome):
    check_outcome(nrep_cli, tmp_path, corpus_folder() / name, extra, outcome)


def test_the_corpus_is_covered():
    """Every file of the corpus has a decided outcome above (a new file needs a decision)."""
    files = {p.name for p in corpus_folder().iterdir() if p.name != "README.md"}
    assert files == {name for name, _, _ in CORPUS_CASES}


def _held_out():
    if not PDB_DIR:
        return [pytest.param("", [], None, marks=pytest.mark.skip(reason="set NREP_PDB_DIR (CI points it at ../shared/pdb)"))]
    decided = {name for name, _, _ in HELD_OUT_CASES}
    cases = [*HELD_OUT_CASES, *((p.name, [], ran()) for p in sorted(Path(PDB_DIR).iterdir())
                                if p.name not in decided and p.suffix in (".pdb", ".cif"))]
    return [pytest.param(n, e, o, marks=[pytest.mark.slow], id=_case_id(n, e)) for n, e, o in cases]


@pytest.mark.parametrize("name, extra, outcome", _held_out())
def test_every_held_out_structure_folds_or_is_refused(tmp_path, nrep_cli, name, extra, outcome):
    check_outcome(nrep_cli, tmp_path, Path(PDB_DIR) / name, extra, outcome)


# --------------------------------------------------------------------------- chains, gzip, one preparation


def _two_chain_file(folder: Path, peptide_text) -> Path:
    a = [line for line in peptide_text("AKWD").splitlines() if line.startswith("ATOM")]
    b = [line[:21] + "B" + line[22:30] + f"{float(line[30:38]) + 12.0:8.3f}" + line[38:]
         for line in peptide_text("GSEF", helix=False).splitlines() if line.startswith("ATOM")]
    path = folder / "pair.pdb"
    path.write_text("\n".join([*a, "TER", *b, "END"]) + "\n")
    return path


def test_a_chain_list_is_one_value_in_a_sweep(tmp_path, nrep_cli, peptide_text):
    path = _two_chain_file(tmp_path, peptide_text)
    starts = f"init.cache_dir={tmp_path / 'starts'}"
    done = nrep_cli("fold", "--pdb", str(path), "--chain", "A,B", "-m", "seed=0,1", "method=gd", "stop.max_steps=5",
                    "--threads", "1", starts, "--out", "sweep", cwd=tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    summaries = [json.loads(p.read_text()) for p in sorted((tmp_path / "sweep").glob("*/summary.json"))]
    assert [s["seed"] for s in summaries] == [0, 1]
    assert all(s["chain"] == "A,B" and s["sequence"] == "AKWDGSEF" for s in summaries)


def test_a_plus_spells_a_chain_list_among_sweep_values():
    from nrep.configs.compose import compose_jobs
    from nrep.core.systems.reading import parse_chain_spec

    jobs = compose_jobs(["system=protein", "system.pdb=2JOF", "system.chain=A+B,C"], True, "fold")
    assert [parse_chain_spec(job.typed.system.chain) for job in jobs] == [["A", "B"], ["C"]]


def _fold_in_process(monkeypatch, tmp_path: Path, path: Path, out: str) -> np.ndarray:
    monkeypatch.chdir(tmp_path)
    code = main(["fold", "--pdb", str(path), "method=gd", "stop.max_steps=10", "--threads", "1", "--out", out,
                 f"init.cache_dir={tmp_path / 'starts'}"])
    assert code == 0
    assert json.loads((tmp_path / out / "summary.json").read_text())["status"] == "ok"
    return np.load(tmp_path / out / "final.npy")


def test_one_preparation_per_process_and_gzip_gives_the_same_run(tmp_path, monkeypatch, peptide_file):
    from nrep.core.systems import protein

    calls = []
    real = protein.prepare_protein
    monkeypatch.setattr(protein, "prepare_protein", lambda *a, **k: calls.append(a) or real(*a, **k))
    protein.clear_prepared()
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("NREP_COMMAND_LINE", "")
    plain = _fold_in_process(monkeypatch, tmp_path, peptide_file, "plain")
    assert len(calls) == 1  # the front-end's check and the run share one preparation
    packed = tmp_path / "AKWD.pdb.gz"
    packed.write_bytes(gzip.compress(peptide_file.read_bytes()))
    assert np.array_equal(_fold_in_process(monkeypatch, tmp_path, packed, "packed"), plain)
    assert len(calls) == 1  # same content and settings: prepared once in this process
    summary = json.loads((tmp_path / "packed" / "summary.json").read_text())
    assert summary["pdb"] == "AKWD" and summary["structure_file"].endswith("AKWD.pdb.gz")
    # a batch of replicas: the front-end and every seed share one preparation
    protein.clear_prepared()
    code = main(["fold", "--pdb", str(peptide_file), "method=gd", "stop.max_steps=5", "replicas=3", "energy.engine=torch", "--threads", "1",
                 "--out", "batch", f"init.cache_dir={tmp_path / 'starts'}"])
    assert code == 0 and len(list((tmp_path / "batch").glob("seed*/summary.json"))) == 3
    assert len(calls) == 2
