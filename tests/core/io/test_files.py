"""Atomic writes and the rule that a run never writes over another run."""

import json
import os

import ase.io
import numpy as np
import pytest

from nrep.core.errors import NrepError
from nrep.core.io import files as results


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    results.write_json(tmp_path / "a.json", {"x": 1.5, "bad": float("nan")})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 1.5, "bad": "nan"}
    assert os.listdir(tmp_path) == ["a.json"]


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "summary.json"
    results.write_json(target, {"status": "ok"})

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(results.os, "replace", crash)
    with pytest.raises(OSError):
        results.write_json(target, {"status": "interrupted"})
    assert json.loads(target.read_text()) == {"status": "ok"}
    assert os.listdir(tmp_path) == ["summary.json"]


def test_csv_and_coordinates(tmp_path):
    results.write_csv(tmp_path / "t.csv", [{"step": 0, "energy_reduced": 1.0}, {"step": 20, "energy_reduced": 0.5}])
    assert (tmp_path / "t.csv").read_text() == "step,energy_reduced\n0,1.0\n20,0.5\n"
    x = np.arange(6, dtype=float).reshape(2, 3)
    results.write_npy(tmp_path / "x.npy", x)
    assert np.array_equal(np.load(tmp_path / "x.npy"), x)
    results.write_extxyz(tmp_path / "x.xyz", ["C", "O"], [x], [{"energy": -1.5, "length_unit": "bond lengths"}])
    frame = ase.io.read(tmp_path / "x.xyz")  # ASE's own reader, not ours
    assert frame.get_chemical_symbols() == ["C", "O"] and np.allclose(frame.positions, x)
    assert frame.get_potential_energy() == -1.5 and frame.info["length_unit"] == "bond lengths"


def test_run_directories_are_not_reused(tmp_path):
    results.check_run_dir(tmp_path, overwrite=False)  # empty: fine
    results.check_new_run_dir(tmp_path / "missing", overwrite=False)
    (tmp_path / results.SUMMARY).write_text("{}")
    with pytest.raises(NrepError, match="already holds a run"):
        results.check_run_dir(tmp_path, overwrite=False)
    with pytest.raises(NrepError, match="not empty"):
        results.check_new_run_dir(tmp_path, overwrite=False)
    results.check_run_dir(tmp_path, overwrite=True)
    results.check_new_run_dir(tmp_path, overwrite=True)


def test_flatten():
    assert results.flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": None}, prefix="cfg.") == {
        "cfg.a.b": 1,
        "cfg.a.c.d": [1, 2],
        "cfg.e": None,
    }
