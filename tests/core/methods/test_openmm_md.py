"""The OpenMM MD baseline: a trace at the report interval, our energy on the solute, the thermostat."""

import math

import numpy as np
import pytest

from nrep.core.run.single import execute


def md_cfg(compose_cfg, peptide_file, tmp_path, *overrides):
    start = [] if "init=native" in overrides else [f"init.cache_dir={tmp_path / 'starts'}"]
    return compose_cfg(
        "system=protein", f"system.pdb={peptide_file}", *start, "threads=1",
        "method=openmm_md", "energy.solvent=vacuum", "energy.platform=CPU", *overrides,
    )


def test_md_writes_a_trace_row_per_report(tmp_path, compose_cfg, peptide_file):
    cfg = md_cfg(compose_cfg, peptide_file, tmp_path, "method.steps=200", "method.report_every=50")
    summary = execute(cfg, tmp_path / "run")
    assert summary["status"] == "ok" and summary["steps_md"] == summary["steps_total"] == 200
    assert summary["openmm_platform"] == "CPU"
    lines = (tmp_path / "run" / "trace.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert {"energy_kJ_mol", "rmsd_ca_A", "energy_openmm_kJ_mol", "temperature_K"} <= set(header)
    rows = [dict(zip(header, line.split(","))) for line in lines[1:]]
    assert [int(r["step"]) for r in rows] == [0, 50, 100, 150, 200]
    assert all(math.isfinite(float(r["rmsd_all_A"])) for r in rows)
    # in vacuum OpenMM's energy is ours but for the constrained X-H bonds (near r0)
    assert all(abs(float(r["energy_kJ_mol"]) - float(r["energy_openmm_kJ_mol"])) < 5 for r in rows[1:])
    assert summary["energy_final_pdb"] == pytest.approx(summary["energy_final_pdb_openmm"], rel=1e-6)


def test_md_is_reproducible_on_one_cpu_thread(tmp_path, compose_cfg, peptide_file):
    a = execute(md_cfg(compose_cfg, peptide_file, tmp_path, "method.steps=100", "method.report_every=50"), tmp_path / "a")
    b = execute(md_cfg(compose_cfg, peptide_file, tmp_path, "method.steps=100", "method.report_every=50"), tmp_path / "b")
    c = execute(md_cfg(compose_cfg, peptide_file, tmp_path, "method.steps=100", "method.report_every=50", "seed=1"), tmp_path / "c")
    assert a["energy_final"] == b["energy_final"] != c["energy_final"]


@pytest.mark.slow
def test_ten_picoseconds_hold_298_kelvin(tmp_path, compose_cfg, peptide_file):
    cfg = md_cfg(compose_cfg, peptide_file, tmp_path, "method.steps=5000", "method.report_every=10", "init=native",
                 "method.minimise_before=true")
    summary = execute(cfg, tmp_path / "run")
    assert summary["md_temperature_mean_K"] == pytest.approx(298, abs=20)
    assert np.isfinite(summary["energy_final"])


@pytest.mark.parametrize("method", ["openmm_md", "openmm_min"])
def test_an_interrupted_openmm_baseline_keeps_its_summary_trace_and_structures(tmp_path, compose_cfg, peptide_file,
                                                                               monkeypatch, method):
    import contextlib

    from nrep.core.engine.interrupts import InterruptRequest
    from nrep.core.run import single

    @contextlib.contextmanager
    def signalled_at_once():  # as if SIGTERM arrived as the run began
        request = InterruptRequest()
        request.signal = 15
        yield request

    monkeypatch.setattr(single, "interrupts_requested", signalled_at_once)
    md = ["energy.solvent=vacuum", "method.steps=500", "method.report_every=50", "method.minimise_after=true"]
    cfg = compose_cfg("system=protein", f"system.pdb={peptide_file}", f"init.cache_dir={tmp_path / 'starts'}",
                      "threads=1", f"method={method}", "energy.platform=CPU", *(md if method == "openmm_md" else []))
    summary = execute(cfg, tmp_path / "run")
    assert summary["status"] == "interrupted" and summary["stop_reason"] == "interrupted"
    assert summary["steps_total"] <= 1 and "checkpoint" not in summary  # stopped at its first report; not resumable
    assert all((tmp_path / "run" / name).is_file() for name in ("trace.csv", "final.pdb", "best.pdb", "summary.json"))
