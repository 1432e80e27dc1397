"""Bad input, awkward structures and safe downloads: the single place for nrep's refusals.

Every refusal is checked the same way: exit code 2, exactly one stderr line that says
what is wrong and how to fix it, no traceback, and nothing written (or changed) under
results/, which already holds an earlier run. Structures that nrep can handle are run
for a few steps instead, and what was changed must show in the log and in summary.json.
Most cases call ``nrep.cli.main.main`` in this process; a few go through the installed
command in a subprocess, as a user would type them.
"""

from __future__ import annotations

import ast
import gzip
import io
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from nrep.cli.main import main
from nrep.core.errors import NrepError
from nrep.core.systems import sources
from nrep.core.systems.sources import check_pdb_id, download, locate_structure
from tests.conftest import problems

PDB_DIR = os.environ.get("NREP_PDB_DIR")
needs_pdb_dir = pytest.mark.skipif(not PDB_DIR, reason="set NREP_PDB_DIR to the folder of real PDB files")
TINY_RUN = ["method=gd", "stop.max_steps=5", "threads=1"]
PLUGIN_MODULES = ("hydra_plugins.hydra_submitit_launcher", "hydra_plugins.hydra_joblib_launcher")


# --------------------------------------------------------------------------- helpers


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``root`` with its bytes and modification time."""
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def atom_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(("ATOM", "HETATM"))]


def residue_number(line: str) -> int:
    return int(line[22:26])


def hetatm(serial: int, name: str, resname: str, chain: str, number: int, xyz: tuple[float, float, float], element: str) -> str:
    x, y, z = xyz
    return f"HETATM{serial:5d} {name:<4} {resname:>3} {chain}{number:4d}    {x:8.3f}{y:8.3f}{z:8.3f}  1.00  0.00          {element:>2}"


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """The working directory of a command; results/ already holds an earlier run's files."""
    work = tmp_path / "work"
    old = work / "results" / "OLD" / "2026-01-01" / "run"
    old.mkdir(parents=True)
    (old / "summary.json").write_text('{"status": "ok"}\n')
    (old / "trace.csv").write_text("step,energy\n0,1.0\n")
    monkeypatch.chdir(work)
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps log lines at the terminal width
    monkeypatch.setenv("NREP_COMMAND_LINE", "")  # main sets it; restored after the test
    return work


@pytest.fixture
def refused(workdir, capsys):
    """refused(argv, *messages): run nrep in this process and check the refusal."""

    def check(argv: list[str], *messages: str) -> str:
        before = snapshot(workdir / "results")
        code = main(argv)
        out, err = capsys.readouterr()
        lines = problems(err)
        assert code == 2, out + err
        assert len(lines) == 1 and lines[0].startswith("nrep: error: "), err
        for message in messages:
            assert message in lines[0], err
        assert "Traceback" not in out + err
        assert snapshot(workdir / "results") == before  # nothing written, nothing changed
        return lines[0]

    return check


def assert_refused_in_subprocess(done, workdir: Path, before: dict, *messages: str) -> None:
    lines = problems(done.stderr)
    assert done.returncode == 2, done.stderr + done.stdout
    assert len(lines) == 1 and all(m in lines[0] for m in messages), done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert snapshot(workdir / "results") == before


# --------------------------------------------------------------------------- ids and downloads


@pytest.mark.parametrize(
    "pdb,message",
    [
        ("../x", "'../x' is neither a PDB id (4 letters or digits, e.g. 2JOF) nor an existing .pdb/.cif file; pass --pdb ID"),
        ("2JOFX", "'2JOFX' is not a PDB id (4 letters or digits, e.g. 2JOF)"),
        ("", "'' is not a PDB id"),
        ("2J!F", "'2J!F' is not a PDB id"),
        ("missing.pdb", "no such structure file"),
    ],
    ids=["traversal", "five-characters", "empty", "not-alphanumeric", "missing-file"],
)
def test_malformed_ids_are_refused(refused, pdb, message):
    refused(["fold", "--pdb", pdb], message, "--pdb")


@pytest.mark.parametrize(
    "pdb,base_url,message",
    [
        ("5NOP", "served", "unknown PDB id 5NOP: "),
        ("6OFF", "http://127.0.0.1:9", "no local copy; put 6OFF.pdb in"),
        ("7BAD", "served", "that are not a .pdb structure; nothing was cached"),
        ("9ERR", "served", "HTTP 500 "),
        ("3CUT", "served", "failed (IncompleteRead); nothing was cached; try again later"),
        ("4TRU", "served", "returned a truncated file (line 2 is cut short); nothing was cached"),
        ("4RED", "served", "redirected to http://example.invalid/4RED.pdb; structure downloads must stay on https"),
        ("1ABC", "http://files.rcsb.org/download", "must use https (got 'http://files.rcsb.org/download'); set system.base_url"),
    ],
    ids=["404", "no-network", "not-a-structure", "http-500", "connection-cut", "truncated", "redirect-to-http", "plain-http"],
)
def test_download_failures_are_refused_and_nothing_is_cached(refused, workdir, server, pdb, base_url, message):
    served, url = server
    (served / "7BAD.pdb").write_bytes(b"<html>rate limited</html>\n")
    (served / "3CUT.pdb").write_bytes(b"ATOM      1  N   GLY A   1       0.000   0.000   0.000  1.00  0.00           N\n" * 50)
    (served / "3CUT.pdb.cut").touch()
    (served / "4TRU.pdb").write_bytes(
        b"ATOM      1  N   GLY A   1       0.000   0.000   0.000  1.00  0.00           N\nATOM      2  CA  GLY A   1       1.4"
    )
    (served / "4RED.pdb.redirect").write_text("http://example.invalid/4RED.pdb")
    cache = workdir.parent / "cache"
    refused(["fold", "--pdb", pdb, f"system.base_url={url if base_url == 'served' else base_url}",
             f"system.cache_dir={cache}", "system.download_timeout_s=2"], message)
    assert not cache.exists() or not any(cache.iterdir())


# --------------------------------------------------------------------------- files


def _cut_mid_line(real: str, peptide: str) -> str:
    lines = real.splitlines()
    cut = [i for i, line in enumerate(lines) if line.startswith("ATOM")][100]
    return "\n".join(lines[:cut]) + "\n" + lines[cut][:40]


def _cut_after_a_backbone_n(real: str, peptide: str) -> str:
    lines = real.splitlines()
    atoms = [i for i, line in enumerate(lines) if line.startswith("ATOM")]
    half = residue_number(lines[atoms[len(atoms) // 40]])  # in model 1: 2JOF has 38 models
    cut = next(i for i in atoms if residue_number(lines[i]) == half and lines[i][12:16] == " N  ")
    return "\n".join(lines[: cut + 1]) + "\n"


def _only_ca(real: str, peptide: str, residues: tuple[int, ...] = (3,)) -> str:
    keep = [line for line in atom_lines(peptide) if residue_number(line) not in residues or line[12:16] == " CA "]
    return "\n".join(keep) + "\nEND\n"


def _ca_trace(real: str, peptide: str) -> str:
    return _only_ca(real, peptide, residues=(1, 2, 3, 4))


def _non_standard(real: str, peptide: str) -> str:
    lines = [line[:17] + "NLE" + line[20:] if line[17:20] == "LYS" else line for line in atom_lines(peptide)]
    return "\n".join(line for line in lines if line[12:16] != " NZ ") + "\nEND\n"


def _unknown_amino_acid(real: str, peptide: str) -> str:
    return peptide.replace("LYS A   2", "XYZ A   2").replace("ATOM  ", "HETATM")


def _only_water(real: str, peptide: str) -> str:
    return hetatm(1, "O", "HOH", "A", 1, (0.0, 0.0, 0.0), "O") + "\nEND\n"


BAD_FILES = {
    # name: (file name, contents from (real 2JOF text, AKWD peptide text), extra arguments, the message's parts)
    "cut-mid-atom-line": ("cut.pdb", _cut_mid_line, [], ["looks truncated: line", "fetch the file again"]),
    "cut-half-the-residues": ("half.pdb", _cut_after_a_backbone_n, [], ["lacks backbone atoms", "has no CA, C", "rebuild the backbone"]),
    "empty": ("empty.pdb", lambda real, peptide: "", [], ["empty.pdb is empty; pass a PDB or mmCIF file"]),
    "binary": ("x.pdb", None, [], ["x.pdb holds binary data, not PDB or mmCIF text"]),
    "cif-not-mmcif": ("notes.cif", lambda real, peptide: "just some notes\n", [], ["is not an mmCIF file (mmCIF begins with data_)"]),
    "pdb-named-cif": ("pdb.cif", lambda real, peptide: peptide, [], ["is not an mmCIF file", "rename it to .pdb"]),
    "no-atoms": ("header.pdb", lambda real, peptide: "HEADER    NOTHING\nEND\n", [], ["holds no atoms"]),
    "residue-with-only-ca": ("onlyca.pdb", _only_ca, [], ["TRP3 has no N, C", "rebuild the backbone first"]),
    "ca-trace": ("trace.pdb", _ca_trace, [], ["ALA1 has no N, C", "ASP4 has no N, C"]),
    "chain-gap": ("gap.pdb", None, [], ["is broken between LYS2-TRP4", "fill the gap"]),
    "non-standard": ("nle.pdb", _non_standard, [], ["non-standard residues NLE", "add system.replace_nonstandard=true"]),
    "unknown-amino-acid": ("xyz.pdb", _unknown_amino_acid, [], ["residue XYZ2 of chain A is an amino acid"]),
    "only-water": ("water.pdb", _only_water, [], ["holds no amino acids; pass --chain with a protein chain"]),
    "missing-chain": ("akwd.pdb", lambda real, peptide: peptide, ["--chain", "Q"], ["chain 'Q' is not in akwd.pdb (chains: A)"]),
    "above-max-atoms": ("akwd.pdb", lambda real, peptide: peptide, ["system.max_atoms=50"],
                        ["has 71 atoms with hydrogens, more than system.max_atoms=50; raise it (system.max_atoms=71)"]),
    "modes-k-above-atoms": ("akwd.pdb", lambda real, peptide: peptide, ["method=cg", "method.modes.k=500"],
                            ["method.modes.k=500 exceeds the 71 particles of akwd; choose k <= 71"]),
    "knn-k-above-atoms": ("akwd.pdb", lambda real, peptide: peptide, ["method.graph=knn", "method.knn_k=100"],
                          ["method.knn_k=100 needs more than 71 particles"]),
}
REAL = {"cut-mid-atom-line", "cut-half-the-residues"}


def _coordinates_set_to(value: str, every: bool):
    def build(real: str, peptide: str) -> str:
        rows = atom_lines(peptide)
        for i, line in enumerate(rows):
            if every or i == 2:
                rows[i] = line[:30] + f"{value:>8}" * 3 + line[54:]
        return "\n".join(rows) + "\nEND\n"

    return build


def _extra_atom(real: str, peptide: str) -> str:
    rows = atom_lines(peptide)
    nz = next(line for line in rows if line[17:20] == "LYS" and line[12:16] == " NZ ")
    return "\n".join([*rows, nz[:12] + " NQ " + nz[16:30] + f"{float(nz[30:38]) + 1.5:8.3f}" + nz[38:]]) + "\nEND\n"


def _one_residue(real: str, peptide: str) -> str:
    return "\n".join(line for line in atom_lines(peptide) if residue_number(line) == 1) + "\nEND\n"


def _replaceable_and_unknown(real: str, peptide: str) -> str:
    """NLE at 2 (PDBFixer replaces it by LEU) and XYZ at 3 (nobody knows it) in one chain."""
    return _non_standard(real, peptide).replace("TRP A   3", "XYZ A   3").replace("ATOM  ", "HETATM")


BAD_FILES.update({
    "damaged-gzip": ("x.pdb.gz", None, [], ["x.pdb.gz is a damaged or truncated gzip file", "download it again"]),
    "gzipped-binary": ("y.cif.gz", None, [], ["y.cif.gz (gzip) holds binary data"]),
    "directory-named-pdb": ("folder.pdb", None, [], ["folder.pdb is a directory, not a structure file"]),
    "all-zero-coordinates": ("zeros.pdb", _coordinates_set_to("0.000", True), [],
                             ["all 36 atoms of zeros.pdb sit at one point (0.000, 0.000, 0.000)", "pass a structure with coordinates"]),
    "nan-coordinates": ("nan.pdb", _coordinates_set_to("nan", False), [], ["nan.pdb has 1 atoms whose coordinates are not numbers"]),
    "extra-atom": ("extra.pdb", _extra_atom, [], ["residue LYS2 of chain A in extra.pdb matches no amber14 template",
                                                   "nearest LYS: extra atoms NQ", "fix or remove those atoms"]),
    "one-residue": ("one.pdb", _one_residue, [], ["ALA1 of chain A in one.pdb is a chain of one amino acid", "cap it with ACE and NME"]),
    "unknown-beside-replaceable": ("both.pdb", _replaceable_and_unknown, ["system.replace_nonstandard=true"],
                                   ["residue XYZ3 of chain A is an amino acid that neither amber14 nor PDBFixer", "fold both.pdb",
                                    "NLE->LEU could be replaced"]),
    "model-out-of-range": ("akwd.pdb", lambda real, peptide: peptide, ["system.model=2"],
                           ["system.model=2, but akwd.pdb holds 1 model(s); choose 1 to 1"]),
    "bad-chain-list": ("akwd.pdb", lambda real, peptide: peptide, ["--chain", "A,,B"], ["--chain 'A,,B' is not a chain list"]),
})


def write_bad_file(case: str, folder: Path, peptide_text) -> tuple[Path, list[str]]:
    name, build, extra, _ = BAD_FILES[case]
    path = folder / name
    if case == "binary":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif case == "damaged-gzip":
        path.write_bytes(gzip.compress(peptide_text().encode())[:40])
    elif case == "gzipped-binary":
        path.write_bytes(gzip.compress(np.random.default_rng(0).bytes(4096)))
    elif case == "directory-named-pdb":
        path.mkdir()
    elif case == "chain-gap":
        path.write_text("\n".join(line for line in peptide_text("AKGWD").splitlines() if line[17:20] != "GLY") + "\n")
    else:
        real = Path(PDB_DIR, "2JOF.pdb").read_text() if case in REAL else ""
        path.write_text(build(real, peptide_text()))
    return path, extra


@pytest.mark.parametrize(
    "case", [pytest.param(c, marks=needs_pdb_dir) if c in REAL else c for c in BAD_FILES]
)
def test_bad_structure_files_are_refused(refused, workdir, peptide_text, case):
    folder = workdir.parent / "inputs"
    folder.mkdir()
    path, extra = write_bad_file(case, folder, peptide_text)
    refused(["fold", "--pdb", str(path), *extra], *BAD_FILES[case][3])


# --------------------------------------------------------------------------- overrides


@pytest.mark.parametrize(
    "args,message",
    [
        (["system.nn=50"], "unknown config key 'system.nn'; did you mean system.n?"),
        (["--seed", "1", "seed=2"], "--seed and seed=2 both set seed; keep one of them"),
        (["--threads", "2", "threads=3"], "--threads and threads=3 both set threads"),
        (["--pdb", "2JOF"], "proteins use `nrep fold --pdb ID`"),
        (["init=extended"], "init=extended does not go with `nrep loop`"),
        (["-m", "method=gd,openmm_min"], "method=openmm_min does not go with `nrep loop`"),
        (["method=gdd"], "unknown method 'gdd'; did you mean gd?"),
        (["seed=0,1"], "seed=0,1 is a sweep: add -m (--multirun)"),
        (["optim=lbfgs", "optim.lr=0.1"], "config key 'optim.lr' does not apply to the chosen optim option"),
        (["system.n=abc"], "bad value in 'system.n=abc'"),
        (["--foo"], "unknown option --foo for `nrep loop`"),
        (["foo"], "'foo' is neither an option nor an override; write key=value"),
        (["-cp", "mine"], "-cp: nrep uses its own config tree; add yours with --config-dir DIR"),
        (["hydra/launcher=joblib", "seed=0"], "launches the jobs of a sweep; add -m"),
        (["-m", "--cfg", "job", "seed=0,1"], "drop -m"),
        (["system.n=5"], "system.n=5 is too small"),
        (["optim.lr=-1"], "optim.lr must be a finite number > 0"),
        (["method=cg", "method.modes.k=500"], "method.modes.k=500 exceeds the 400 particles of loop; choose k <= 400"),
        (["method=gnn", "method.graph=knn", "method.knn_k=400"], "method.knn_k=400 needs more than 400 particles (loop)"),
        (["method=gnn", "method.hidden_dims=[0]"], "method.hidden_dims must list at least one layer size, all >= 1"),
        (["method=gnn", "method.latent_dim=0"], "method.latent_dim must be >= 1"),
        (["method=cg", "method.modes.k=5", "method.modes.fraction=0.5"], "both set; keep one of them"),
        (["threads=0"], "threads must be >= 1 or null"),
        (["stop.max_steps=-1"], "stop.max_steps must be >= 0"),
        (["time_budget_s=0"], "time_budget_s must be > 0 or null"),
        (["device.name=gpu"], "device.name='gpu' is not cpu, cuda or cuda:N"),
        (["energy.lj_softening=-1"], "energy.lj_softening must be > 0"),
        (["--out", "results/OLD/2026-01-01/run"], "is not empty; choose another one (--out DIR), or pass --overwrite"),
        (["replicas=0"], "replicas must be >= 1"),
        (["replicas=4"], "replicas=4 batches the seeds of a protein"),
        (["faults.step_factor=1.5"], "faults.step_factor must be in (0, 1)"),
        (["faults.retries=-1"], "faults.retries must be >= 0"),
        (["optim.lr=inf"], "optim.lr must be a finite number > 0 (got inf)"),
        (["method=cg", "method.lr=inf"], "method.lr must be a finite number > 0 (got inf)"),
        (["optim=fire", "optim.max_step=inf"], "optim.max_step must be a finite number > 0"),
        (["seed=99999999999999999999"], "seed must lie in 0 .. 9223372036854775807 (2^63 - 1)"),
        (["system.n=200000", "method=gd", "energy.cutoff=0"],
         "system.n=200000 is above this build's limit of 100000 beads for a loop (all-pair repulsion, no cutoff)"),
        (["energy.cutoff=1"], "energy.cutoff must be >= 1.5 bond lengths"),
        (["energy.cutoff=2.5", "energy.repulsion.enabled=false"], "energy.cutoff=2.5 acts on the repulsion"),
        (["-m", "seed=0,,1"], "cannot parse seed's override 'seed=0,,1': an empty value between commas"),
        (["-m", "seed=[0,1"], "cannot parse seed's override 'seed=[0,1': close the bracket: a list is seed=[a,b]"),
        (["seed=0,,1"], "cannot parse seed's override 'seed=0,,1': an empty value between commas: a sweep is -m seed="),
        (["seed=[0,1"], "cannot parse seed's override 'seed=[0,1': close the bracket"),
        (["--out", "results/OLD/2026-01-01/run/summary.json"], "cannot make the run directory results/OLD"),
        (["--out", "results/OLD/2026-01-01/run/trace.csv/sub"], "cannot make the run directory results/OLD"),
    ],
)
def test_bad_loop_overrides_are_refused(refused, args, message):
    refused(["loop", *args], message)


@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_a_gpu_torch_cannot_see_is_refused_before_any_directory(refused, monkeypatch, workdir, device):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    refused(["loop", f"device.name={device}", "--out", str(workdir / "results" / "gpu")],
            f"device={device} was asked for but torch sees no CUDA device; use device=cpu")
    assert not (workdir / "results" / "gpu").exists()


def test_more_threads_than_cores_is_a_warning_on_stderr(workdir, capsys):
    assert main(["loop", "method=gd", "system.n=30", "stop.max_steps=10", "threads=512", "output.snapshot=false",
                 "--out", str(workdir / "many")]) == 0
    assert "nrep: warning: threads=512 is more than the" in capsys.readouterr().err


def test_a_run_that_does_not_end_ok_says_so_on_stderr(workdir, capsys):
    """A diverged run: besides its log records, one line on stderr names the run and its status."""
    assert main(["loop", "method=gd", "system.n=30", "optim=sgd", "optim.lr=1e12", "optim.clamp_grad=null",
                 "faults.retries=0", "output.snapshot=false", "threads=1", "--out", str(workdir / "bad")]) == 1
    lines = problems(capsys.readouterr().err)
    assert lines == [f"nrep: the run in {workdir / 'bad'} did not end with status ok: diverged"]


@pytest.mark.parametrize(
    "args,message",
    [
        ([], "system.pdb is not set: pass --pdb ID"),
        (["--pdb", "2JOF", "system=loop"], "does not go with `nrep fold`"),
        (["--pdb", "2JOF", "energy=pure_lj"], "does not go with `nrep fold`"),
        (["--pdb", "2JOF", "init=cloud"], "does not go with `nrep fold`"),
        (["--pdb", "2JOF", "--chain", "A", "system.chain=B"], "--chain and system.chain=B both set system.chain"),
        (["--pdb", "2JOF", "method=openmm_min", "optim.lr=0.1"], "use OpenMM's own minimiser or integrator; drop optim.lr=0.1"),
        (["--pdb", "2JOF", "system.ph=15"], "system.ph must lie in [0, 14]"),
        (["--pdb", "2JOF", "system.max_atoms=0"], "system.max_atoms must be >= 1 or null"),
        (["--pdb", "2JOF", "system.n=40"], "unknown config key 'system.n'"),
        (["--pdb", "2JOF", "replicas=2", "energy.engine=torch", "optim=lbfgs"], "replicas=2 needs optim=adam or sgd"),
        (["--pdb", "2JOF", "replicas=2", "energy.engine=torch", "method=cg", "method.optim=fire"],
         "replicas=2 needs optim=adam or sgd"),
        (["--pdb", "2JOF", "replicas=2"], "replicas=2 batches the seeds through nrep's torch terms; add energy.engine=torch"),
        (["--pdb", "2JOF", "energy.cutoff_nm=0.3"], "energy.cutoff_nm must be >= 0.5 nm, 0 (every pair) or null"),
        (["--pdb", "2JOF", "energy.engine=torch", "energy.compile=true", "energy.cutoff_nm=1"],
         "energy.compile=true needs every pair"),
        (["--pdb", "2JOF", "replicas=2", "method=openmm_min"], "runs inside OpenMM, one structure at a time; drop replicas"),
    ],
)
def test_bad_fold_overrides_are_refused(refused, args, message):
    refused(["fold", *args], message)


@pytest.mark.parametrize("launcher,module,package", [
    ("slurm_cpu", PLUGIN_MODULES[0], "hydra-submitit-launcher"),
    ("submitit_slurm", PLUGIN_MODULES[0], "hydra-submitit-launcher"),
    ("joblib", PLUGIN_MODULES[1], "hydra-joblib-launcher"),
])
def test_a_missing_launcher_plugin_names_its_install_command(refused, monkeypatch, launcher, module, package):
    monkeypatch.setitem(sys.modules, module, None)  # what the import system reports for a module that is not there
    refused(["loop", "-m", f"hydra/launcher={launcher}", "seed=0,1"], "pip install 'nrep[launchers]'", package)


# --------------------------------------------------------------------------- as a user types them


def test_refusals_through_the_installed_command(workdir, nrep_cli, server, peptide_text):
    """A few representative refusals in a subprocess: stderr is exactly one line, whatever the libraries print."""
    served, url = server
    cut = workdir.parent / "cut.pdb"
    cut.write_text("\n".join(atom_lines(peptide_text())[:9]) + "\nATOM     10  CA  LYS A   2      ")
    before = snapshot(workdir / "results")
    cases = [
        (["fold", "--pdb", "../x"], ["is neither a PDB id"]),
        (["loop", "system.nn=50"], ["did you mean system.n?"]),
        (["fold", "--pdb", str(cut)], ["looks truncated: line 10"]),
        (["fold", "--pdb", "5NOP", f"system.base_url={url}", f"system.cache_dir={workdir.parent / 'cache'}"], ["unknown PDB id 5NOP"]),
    ]
    for args, messages in cases:
        assert_refused_in_subprocess(nrep_cli(*args, cwd=workdir), workdir, before, *messages)


def test_a_missing_slurm_plugin_in_a_subprocess(workdir, nrep_cli, monkeypatch):
    shim = workdir.parent / "shim"
    shim.mkdir()
    # sitecustomize runs at start-up: the plugin then looks uninstalled to the whole process
    (shim / "sitecustomize.py").write_text(f"import sys\nsys.modules[{PLUGIN_MODULES[0]!r}] = None\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(shim), *filter(None, [os.environ.get("PYTHONPATH")])]))
    before = snapshot(workdir / "results")
    done = nrep_cli("loop", "-m", "hydra/launcher=slurm_gpu", "seed=0,1", cwd=workdir)
    assert_refused_in_subprocess(done, workdir, before, "hydra-submitit-launcher", "pip install 'nrep[launchers]'")


# --------------------------------------------------------------------------- handled with a note


def _with_heterogens(peptide: str, residues: list[tuple[str, str, list[tuple[str, str]]]]) -> str:
    """The peptide followed by HETATM residues (name, chain, [(atom, element)]), 6 Å past its last atom."""
    atoms = atom_lines(peptide)
    last = atoms[-1]
    x, y, z = float(last[30:38]), float(last[38:46]), float(last[46:54])
    lines, serial = list(atoms), len(atoms) + 1
    for number, (resname, chain, members) in enumerate(residues, start=100):
        for offset, (name, element) in enumerate(members):
            lines.append(hetatm(serial, name, resname, chain, number, (x + 6.0 + 1.2 * offset, y, z + 2.0 * (number - 100)), element))
            serial += 1
    return "\n".join(lines) + "\nEND\n"


def _altlocs(peptide: str) -> str:
    """Trp 3's CB at two places: A (occupancy 0.6) where it was, B (0.4) 0.4 Å away."""
    out = []
    for line in atom_lines(peptide):
        if line[17:20] == "TRP" and line[12:16] == " CB ":
            x = float(line[30:38])
            out.append(line[:16] + "A" + line[17:54] + "  0.60" + line[60:])
            out.append(line[:16] + "B" + line[17:30] + f"{x + 0.4:8.3f}" + line[38:54] + "  0.40" + line[60:])
        else:
            out.append(line)
    return "\n".join(out) + "\nEND\n"


def _two_models(peptide: str) -> str:
    atoms = atom_lines(peptide)
    moved = [line[:30] + f"{float(line[30:38]) + 1.0:8.3f}" + line[38:] for line in atoms]
    return "MODEL        1\n" + "\n".join(atoms) + "\nENDMDL\nMODEL        2\n" + "\n".join(moved) + "\nENDMDL\nEND\n"


def _two_chains(peptide: str) -> str:
    atoms = atom_lines(peptide)
    chain_b = [line[:21] + "B" + line[22:30] + f"{float(line[30:38]) + 30.0:8.3f}" + line[38:] for line in atoms]
    return "\n".join(atoms) + "\nTER\n" + "\n".join(chain_b) + "\nEND\n"


def _mmcif(peptide: str) -> str:
    from Bio.PDB import MMCIFIO, PDBParser

    writer, buffer = MMCIFIO(), io.StringIO()
    writer.set_structure(PDBParser(QUIET=True).get_structure("p", io.StringIO(peptide)))
    writer.save(buffer)
    return buffer.getvalue()


HANDLED = {
    # name: (file name, contents from the AKWD peptide, extra arguments, the note)
    "mmcif": ("peptide.cif", _mmcif, [], "read mmCIF with the author's chain ids and residue numbers"),
    "altlocs": ("altloc.pdb", _altlocs, [], "resolved 1 atoms with alternate locations (highest occupancy)"),
    "zinc-ion": ("zinc.pdb", lambda p: _with_heterogens(p, [("ZN", "A", [("ZN", "ZN")])]), [],
                 "removed waters, ions and ligands: ZN"),
    "waters-ions-ligand": ("mixed.pdb", lambda p: _with_heterogens(p, [
        ("HOH", "A", [("O", "O")]), ("NA", "A", [("NA", "NA")]), ("ACT", "A", [("C", "C"), ("O", "O"), ("OXT", "O"), ("CH3", "C")]),
    ]), [], "removed waters, ions and ligands: ACT, HOH, NA"),
    "models": ("models.pdb", _two_models, [], "used model 1 of 2"),
    "chain-b": ("chains.pdb", _two_chains, ["--chain", "B"], "kept chain B of A, B"),
}


@pytest.mark.parametrize("case", HANDLED)
def test_awkward_structures_run_with_a_note(workdir, capsys, peptide_text, case):
    name, build, extra, note = HANDLED[case]
    path = workdir.parent / name
    path.write_text(build(peptide_text()))
    summary = _tiny_run(workdir, capsys, path, extra)
    assert summary["sequence"] == "AKWD"
    assert note in summary["structure_notes"]
    assert note in summary["log"]


@needs_pdb_dir
def test_a_disulfide_bond_is_kept_and_noted(workdir, capsys):
    """2MGO (an NMR ensemble) closes a ring with a CYS1-CYS6 disulfide: both become CYX, bonded."""
    from nrep.core.systems.prepare import prepare_protein

    path = Path(PDB_DIR, "2MGO.pdb")
    prepared = prepare_protein(path)
    assert prepared.variants[0] == prepared.variants[5] == "CYX"
    bonded = {(a.residue.index, b.residue.index) for a, b in prepared.topology.bonds() if a.name == b.name == "SG"}
    assert bonded in ({(0, 5)}, {(5, 0)})
    summary = _tiny_run(workdir, capsys, path, [])
    for note in ("1 disulfide bond (CYX): CYS1-CYS6", "used model 1 of 20"):
        assert note in summary["structure_notes"] and note in summary["log"]


def _tiny_run(workdir: Path, capsys, path: Path, extra: list[str]) -> dict:
    """A few steps of nrep fold on ``path``; its summary, with the console output under "log"."""
    code = main(["fold", "--pdb", str(path), *extra, "--out", "run", *TINY_RUN, f"init.cache_dir={workdir.parent / 'starts'}"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    summary = json.loads((workdir / "run" / "summary.json").read_text())
    assert summary["status"] == "ok"
    return {**summary, "log": " ".join((out + err).split())}  # rich may wrap a long line


# --------------------------------------------------------------------------- security


@pytest.mark.parametrize("base_url", [
    "http://files.rcsb.org/download", "ftp://files.rcsb.org/download", "file:///etc", "https://",
    "http://localhost@evil.example/", "http://127.0.0.1.evil.example/", "http://[::1", "files.rcsb.org/download",
])
def test_only_https_base_urls_are_used(tmp_path, monkeypatch, base_url):
    monkeypatch.setattr(sources, "_fetch", lambda *args: pytest.fail("a request was made"))
    with pytest.raises(NrepError, match="must use https"):
        download("1ABC", tmp_path / "cache", base_url)
    assert not (tmp_path / "cache").exists()


def test_redirects_may_not_leave_https(tmp_path, server, peptide_file):
    served, base_url = server
    (served / "1PEP.pdb").write_bytes(peptide_file.read_bytes())
    (served / "2MOV.pdb").write_bytes(b"")
    (served / "2MOV.pdb.redirect").write_text(f"{base_url}/1PEP.pdb")  # same loopback server: followed
    assert download("2MOV", tmp_path, base_url).read_bytes() == peptide_file.read_bytes()
    (served / "3OUT.pdb.redirect").write_text("http://example.invalid/3OUT.pdb")
    with pytest.raises(NrepError, match="redirected to http://example.invalid/3OUT.pdb; structure downloads must stay on https"):
        download("3OUT", tmp_path, base_url)
    assert not (tmp_path / "3OUT.pdb").exists()


@pytest.mark.parametrize("bad", ["../x", "..\\x", "a/b/", "%2e%2e", "1AB\x00", "../../etc/passwd", " 2JOF"])
def test_ids_are_checked_before_any_path_or_url_is_built(tmp_path, monkeypatch, bad):
    """A malformed id never reaches the local directory, the cache or the network."""
    monkeypatch.setattr(sources, "_find", lambda *args: pytest.fail("a path was built from a malformed id"))
    monkeypatch.setattr(sources, "_fetch", lambda *args: pytest.fail("a URL was fetched for a malformed id"))
    with pytest.raises(NrepError, match="is not a PDB id"):
        check_pdb_id(bad)
    with pytest.raises(NrepError, match="is not a PDB id"):
        download(bad, tmp_path / "cache", "https://files.rcsb.org/download")
    local, cache = tmp_path / "local", tmp_path / "cache"
    local.mkdir()
    (tmp_path / "x.pdb").write_bytes(b"ATOM")  # next to the local directory: must not be found through ../x
    monkeypatch.chdir(local)
    with pytest.raises(NrepError, match="is not a PDB id|is neither a PDB id|no such structure file"):
        locate_structure(bad, local, cache, "https://files.rcsb.org/download")
    assert not cache.exists()


def test_a_poisoned_start_cache_is_never_unpickled(tmp_path, peptide_file):
    """An object array (a pickle) in the start cache is ignored and rebuilt; its code never runs."""
    from nrep.core.systems.prepare import prepare_protein
    from nrep.core.systems.protein import cached_start

    prepared, starts = prepare_protein(peptide_file), tmp_path / "starts"
    x0 = cached_start(prepared, "extended", {}, 0, 7.0, str(starts), True)
    (entry,) = starts.glob("extended-*.npy")
    marker = tmp_path / "pwned"
    np.save(entry, np.array([_Exploit(marker)], dtype=object), allow_pickle=True)
    again = cached_start(prepared, "extended", {}, 0, 7.0, str(starts), True)
    assert not marker.exists()
    assert np.array_equal(again, x0)
    assert np.load(entry, allow_pickle=False).shape == x0.shape  # rebuilt in place


class _Exploit:
    """Unpickling this creates a folder: proof that a pickle was loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


PACKAGE_DIRS = ("core", "cli", "configs")


def unsafe_calls(tree: ast.AST) -> list[str]:
    """Calls that run a shell, unpickle data or evaluate code, as 'line: what'."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            found += [f"{node.lineno}: import {n}" for n in names if n.split(".")[0] in ("pickle", "cPickle", "dill", "marshal", "shelve")]
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
        keywords = {k.arg: k.value for k in node.keywords}

        def constant(key: str, keywords: dict = keywords) -> object:
            value = keywords.get(key)
            return value.value if isinstance(value, ast.Constant) else "missing or not a constant"

        if constant("shell") is True:
            found.append(f"{node.lineno}: {owner}.{name}(shell=True)")
        if (owner, name) in (("os", "system"), ("os", "popen")) or (not owner and name in ("eval", "exec")):
            found.append(f"{node.lineno}: {owner + '.' if owner else ''}{name}")
        if owner in ("np", "numpy") and name == "load" and constant("allow_pickle") is not False:
            found.append(f"{node.lineno}: np.load without allow_pickle=False")
        if owner == "torch" and name == "load" and constant("weights_only") is not True:
            found.append(f"{node.lineno}: torch.load without weights_only=True")
        if owner == "yaml" and name in ("load", "unsafe_load", "full_load"):
            found.append(f"{node.lineno}: yaml.{name}")
    return sorted(found, key=lambda text: int(text.split(":")[0]))


def test_the_scanner_finds_unsafe_calls():
    code = (
        "import pickle\nimport subprocess, os\nimport numpy as np\nimport torch\n"
        "subprocess.run('ls', shell=True)\nos.system('ls')\nnp.load('a.npy')\nnp.load('a.npy', allow_pickle=True)\n"
        "torch.load('m.pt')\neval('1')\nnp.load('a.npy', allow_pickle=False)\ntorch.load('m.pt', weights_only=True)\n"
        "subprocess.run(['git', 'status'])\n"
    )
    assert [line.split(":")[0] for line in unsafe_calls(ast.parse(code))] == ["1", "5", "6", "7", "8", "9", "10"]


def test_the_package_runs_no_shell_and_loads_no_pickles():
    import nrep.core

    root = Path(nrep.core.__file__).resolve().parent.parent
    files = [p for d in PACKAGE_DIRS for p in sorted((root / d).rglob("*.py"))]
    assert len(files) > 20
    offences = [f"{p.relative_to(root)}:{o}" for p in files for o in unsafe_calls(ast.parse(p.read_text(), str(p)))]
    assert offences == []


# --------------------------------------------------------------------------- places that cannot be written
# Both this machine and CI run as root, where chmod does not stop a write: the faults are injected.


def test_a_read_only_output_directory_is_one_line(refused, workdir, monkeypatch):
    import errno
    import pathlib

    target = workdir / "readonly"
    target.mkdir()
    real = pathlib.Path.write_text

    def write_text(self, *args, **kwargs):
        if self.parent == target:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "write_text", write_text)
    line = refused(["loop", *TINY_RUN, "--out", str(target)], "cannot write into the run directory", "Permission denied")
    assert "choose another --out" in line and list(target.iterdir()) == []


def test_a_read_only_working_directory_is_one_line(refused, workdir, monkeypatch):
    import errno
    import pathlib

    real = pathlib.Path.mkdir

    def mkdir(self, *args, **kwargs):
        if str(self.absolute()).startswith(str(workdir / "results" / "loop")):
            raise PermissionError(errno.EROFS, "Read-only file system", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "mkdir", mkdir)
    refused(["loop", *TINY_RUN], "cannot make the run directory results/loop", "Read-only file system")


@pytest.mark.parametrize("room_for_a_summary", [True, False])
def test_a_full_disk_is_one_line_naming_the_directory_and_the_space(workdir, capsys, monkeypatch, room_for_a_summary):
    import errno

    from nrep.core.io import files

    real = files._write

    def write(path, handle, data):
        if not (room_for_a_summary and path.name == "summary.json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, handle, data)

    monkeypatch.setattr(files, "_write", write)
    code = main(["loop", *TINY_RUN, "--out", "full"])
    out, err = capsys.readouterr()
    lines = problems(err)
    assert code == 1 and len(lines) == 1 and "Traceback" not in out + err, err
    assert f"no space left in {workdir / 'full'}" in lines[0] and "MB free); free at least that much there" in lines[0]
    summary = workdir / "full" / "summary.json"
    assert summary.is_file() == room_for_a_summary
    if room_for_a_summary:
        assert json.loads(summary.read_text())["status"] == "failed"
    assert not list((workdir / "full").glob(".*.tmp"))  # no half-written file left behind


def test_a_loop_too_large_for_the_free_memory_is_refused_with_the_estimate(refused, monkeypatch):
    from nrep.core.run import sizes

    monkeypatch.setattr(sizes, "available_memory_bytes", lambda: 1e9)
    line = refused(["loop", "method=gnn", "system.n=8000"], "system.n=8000 with method=gnn would need about")
    assert "2666 slow modes by a dense 8000 x 8000 solve" in line and "more than the 1.0 GB this machine has free" in line
