"""nrep from Python: ``nrep.run`` is the CLI's run, ``nrep.load_runs`` its table, ``import nrep`` works from a
wheel, and the README's example runs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nrep
from nrep.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
SMALL = {"system": {"n": 40}, "stop": {"max_steps": 60}, "threads": 1, "output": {"snapshot": False}}


def test_run_is_the_cli_run_with_its_directory_and_files(tmp_path):
    result = nrep.run("loop", method="gd", out=tmp_path / "api", seed=2, **SMALL)
    assert main(["loop", "method=gd", "seed=2", "system.n=40", "stop.max_steps=60", "threads=1",
                 "output.snapshot=false", "--out", str(tmp_path / "cli")]) == 0
    cli = json.loads((tmp_path / "cli" / "summary.json").read_text())
    assert result.run_dir == tmp_path / "api" and result.status == "ok"
    assert result.energy == cli["energy_final_exact"] and result.steps == cli["steps_total"]
    for name in ("summary.json", "trace.csv", "final.npy", "best.npy", "final.xyz", "nrep.log", ".hydra/overrides.yaml"):
        assert (tmp_path / "api" / name).exists(), name
    assert np.array_equal(result.x.numpy(), np.load(tmp_path / "cli" / "final.npy"))
    pd.testing.assert_series_equal(result.trace["energy_reduced"], pd.read_csv(tmp_path / "cli" / "trace.csv")["energy_reduced"])


def test_run_refuses_bad_input_in_one_line(tmp_path):
    for call, message in [
        (lambda: nrep.run("loops"), "nrep.run runs loop or fold"),
        (lambda: nrep.run("loop", pdb="2JOF"), 'use nrep.run("fold", pdb=...)'),
        (lambda: nrep.run("loop", system={"n": 5}, out=tmp_path / "x"), "system.n=5 is too small"),
        (lambda: nrep.run("loop", method="openmm_md", out=tmp_path / "y"), "does not go with `nrep loop`"),
    ]:
        with pytest.raises(nrep.NrepError, match=re.escape(message)):
            call()
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_run_without_out_uses_the_cli_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = nrep.run("loop", method="gd", **SMALL)
    assert result.run_dir.parent.parent == Path("results/loop") and result.run_dir.name.endswith("_gd_seed0")
    assert (tmp_path / result.run_dir / "summary.json").is_file()


def test_load_runs_has_a_row_per_job_of_a_sweep(tmp_path, capsys):
    assert main(["loop", "-m", "seed=0,1,2", "method=gd", "system.n=40", "stop.max_steps=40", "threads=1",
                 "output.snapshot=false", "--out", str(tmp_path / "sweep")]) == 0
    table = nrep.load_runs(tmp_path / "sweep")
    summaries = {s["seed"]: s for s in (json.loads(p.read_text()) for p in (tmp_path / "sweep").glob("*/summary.json"))}
    assert len(table) == 3 and sorted(table["seed"]) == [0, 1, 2]
    for _, row in table.iterrows():
        own = summaries[row["seed"]]
        assert row["energy_final_exact"] == own["energy_final_exact"] and row["run_dir"] == own["run_dir"]
        assert row["energy_unit"] == "reduced" and row["system"] == "loop" and row["cfg.system.n"] == 40
    capsys.readouterr()
    assert main(["ls", str(tmp_path / "sweep")]) == 0
    listed = capsys.readouterr().out
    for seed, own in summaries.items():
        assert f"seed={seed} " in listed and f"E={own['energy_final_exact']:.6g} reduced" in listed
    with pytest.raises(nrep.NrepError, match="no such directory"):
        nrep.load_runs(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(nrep.NrepError, match="no runs below"):
        nrep.load_runs(tmp_path / "empty")


def test_import_nrep_is_lazy_and_lists_the_api():
    code = "import sys, nrep; print(sorted(m for m in ('torch', 'pandas', 'hydra') if m in sys.modules)); print(dir(nrep))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    imported, names = done.stdout.splitlines()
    assert imported == "[]"
    for name in ("minimise", "run", "load_runs", "Result", "NrepError", "ConfigError", "__version__"):
        assert name in names
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        nrep.nope  # noqa: B018


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(readme_example(), "README.md", "exec"), namespace)
    result = namespace["result"]
    assert result.status == "ok" and result.energy < result.energy_initial
    assert isinstance(namespace["table"], pd.DataFrame) and len(namespace["table"]) >= 1


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    [built] = out.glob("nrep-*.whl")
    return built


def test_the_wheel_holds_the_package_and_its_configs(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "nrep/__init__.py" in names and "nrep/core/run/given.py" in names and "nrep/configs/config.yaml" in names
    assert not [n for n in names if n.startswith(("nrep/tests/", "nrep/benchmarks/", "nrep/results/"))]


def test_import_nrep_works_from_a_wheel_install(wheel, tmp_path):
    """A fresh venv that sees this environment's dependencies but not its editable nrep, with nrep installed from the wheel."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # the dependencies as a plain path: .pth files there (the editable nrep's finder) are not run
    deps = [p for p in sys.path if p.endswith("site-packages")]
    (site / "deps.pth").write_text("\n".join(deps) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    code = ("import nrep, torch\n"
            "x0 = torch.tensor([[0.0, 0, 0], [1.5, 0, 0], [0, 1.4, 0], [0, 0, 1.3]])\n"
            "i, j = torch.triu_indices(4, 4, 1)\n"
            "r = nrep.minimise(lambda x: (((x[i] - x[j]).norm(dim=-1) - 1.0) ** 2).sum(), x0, method='cg', "
            "stop={'max_steps': 50}, threads=1)\n"
            "print(nrep.__file__, r.status, r.energy < r.energy_initial)")
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    where, status, lower = done.stdout.split()
    assert where == str(site / "nrep" / "__init__.py") and status == "ok" and lower == "True"


def test_a_result_reads_back_from_any_run(tmp_path):
    with pytest.raises(nrep.NrepError, match="holds no finished run"):
        nrep.Result.from_run_dir(tmp_path)
    (tmp_path / "summary.json").write_text(json.dumps({"status": "failed", "error": "ValueError: boom"}))
    with pytest.raises(nrep.NrepError, match="failed: ValueError: boom"):
        nrep.Result.from_run_dir(tmp_path)


def test_run_of_a_batch_of_replicas_returns_one_result_per_seed(tmp_path, peptide_file):
    results = nrep.run("fold", pdb=peptide_file, method="gd", replicas=2, energy={"engine": "torch"}, seed=5, init={"name": "extended",
                       "cache_dir": str(tmp_path / "starts")}, stop={"max_steps": 8}, threads=1, out=tmp_path / "batch")
    assert [r.summary["seed"] for r in results] == [5, 6] and [r.run_dir.name for r in results] == ["seed5", "seed6"]
    assert all(r.status == "ok" and r.x.shape == r.x_best.shape and r.unit == "kJ/mol" for r in results)
