"""replicas=B: seeds of one protein as one batch, each recorded as a run of its own."""

import json

import pytest

from nrep.core.run.batch import execute_replicas
from nrep.core.run.single import execute

# Short enough that early stopping (which a batch does not have) never fires in the separate runs.
STEPS = ["stop.max_steps=8"]
STAGE1 = "method.stop.max_steps=12"


@pytest.fixture
def batch_cfg(compose_cfg, peptide_file, tmp_path):
    def build(*overrides):
        cfg = compose_cfg("system=protein", f"system.pdb={peptide_file}", "init=extended", f"init.cache_dir={tmp_path / 'starts'}",
                          "energy=amber", "energy.engine=torch", "device.dtype=float64", *STEPS, *overrides)
        cfg.threads = 1
        return cfg

    return build


@pytest.mark.parametrize("method", ["gnn", "cg"])
def test_each_seed_of_a_batch_equals_its_own_run(batch_cfg, tmp_path, method):
    modes = [f"method.modes.cache_dir={tmp_path / 'modes'}", STAGE1]
    summaries = execute_replicas(batch_cfg(f"method={method}", *modes, "seed=3", "replicas=2"), tmp_path / "batch")
    assert [s["seed"] for s in summaries] == [3, 4]
    assert all(s["status"] == "ok" and s["replicas"] == 2 for s in summaries)
    for s in summaries:
        alone = execute(batch_cfg(f"method={method}", *modes, f"seed={s['seed']}"), tmp_path / f"alone{s['seed']}")
        assert s["energy_final_exact"] == pytest.approx(alone["energy_final_exact"], rel=1e-6)
        assert s["steps_total"] == alone["steps_total"] == 20
        assert s["energy_initial"] == pytest.approx(alone["energy_initial"], rel=1e-12)
        assert s["energy_start"] == pytest.approx(alone["energy_start"], rel=1e-6)
        run_dir = tmp_path / "batch" / f"seed{s['seed']}"
        assert json.loads((run_dir / "summary.json").read_text())["seed"] == s["seed"]
        assert (run_dir / "final.pdb").is_file() and (run_dir / "trace.csv").is_file()
    assert summaries[0]["energy_final_exact"] != summaries[1]["energy_final_exact"]  # two seeds, two networks


def test_a_report_reads_a_batch_as_runs(batch_cfg, tmp_path):
    from nrep.core.report.table import find_runs

    (tmp_path / "batch" / ".hydra").mkdir(parents=True)  # as Hydra leaves it in the job directory
    execute_replicas(batch_cfg("method=gd", "replicas=2", "init=random"), tmp_path / "batch")
    runs = find_runs([tmp_path / "batch"])
    assert sorted(r["seed"] for r in runs) == [0, 1] and all(r["status"] == "ok" for r in runs)


def test_replicas_from_the_command_line(tmp_path, nrep_cli, peptide_file):
    done = nrep_cli("fold", "--pdb", str(peptide_file), "--out", "batch", "method=gd", "replicas=3", "init=random",
                    "energy.engine=torch", f"init.cache_dir={tmp_path / 'starts'}", *STEPS, "threads=1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    seeds = sorted(json.loads(p.read_text())["seed"] for p in (tmp_path / "batch").glob("seed*/summary.json"))
    assert seeds == [0, 1, 2] and "seeds 0-2 as one batch" in done.stderr
