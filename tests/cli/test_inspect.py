"""``nrep ls`` and ``nrep show``: the runs' own numbers, one line per run or one run in full, without torch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nrep.core.run.single import execute
from tests.conftest import problems


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A sweep directory: two finished loop runs, one failed run, one killed job (.hydra only), one interrupted run."""
    from nrep.configs import load

    root = tmp_path_factory.mktemp("inspect") / "sweep"
    runs = {}
    for seed in (0, 1):
        cfg = load(["method=gd", "system.n=30", "stop.max_steps=40", f"seed={seed}", "threads=1", "output.snapshot=false"])
        runs[seed] = execute(cfg, root / f"{seed}_gd_seed{seed}")
    failed = root / "2_gd_seed2"
    failed.mkdir()
    (failed / "summary.json").write_text(json.dumps({"status": "failed", "error": "ValueError: went wrong", "method": "gd",
                                                     "seed": 2}))
    (root / "3_gd_seed3" / ".hydra").mkdir(parents=True)
    stopped = root / "4_gd_seed4"
    stopped.mkdir()
    (stopped / "summary.json").write_text(json.dumps({**runs[0], "status": "interrupted", "seed": 4}))
    (stopped / "checkpoint.pt").write_bytes(b"x")
    return root, runs


def nrep(*args: str, cwd) -> subprocess.CompletedProcess:
    """The command in a fresh interpreter that also says whether torch or pandas got imported."""
    code = ("import sys\nfrom nrep.cli.main import main\nrc = main(sys.argv[1:])\n"
            "print('IMPORTED', sorted(m for m in ('torch', 'pandas') if m in sys.modules))\nsys.exit(rc)")
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_ls_lists_every_run_with_its_own_numbers_without_torch(sweep):
    root, runs = sweep
    done = nrep("ls", "sweep", cwd=root.parent)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "IMPORTED []"
    by_dir = {line.split()[-1]: line for line in lines[:-2]}
    assert sorted(by_dir) == [f"sweep/{name}" for name in ("0_gd_seed0", "1_gd_seed1", "2_gd_seed2", "3_gd_seed3", "4_gd_seed4")]
    for seed, summary in runs.items():
        line = by_dir[f"sweep/{seed}_gd_seed{seed}"]
        assert line.startswith("ok ") and f"seed={seed} " in line and "gd-adam" in line
        assert f"E={summary['energy_final_exact']:.6g} reduced" in line and f"{summary['time_total_s']:.1f} s" in line
    assert by_dir["sweep/2_gd_seed2"].startswith("failed ")
    assert by_dir["sweep/3_gd_seed3"].startswith("missing ")
    assert by_dir["sweep/4_gd_seed4"].startswith("interrupted ")
    assert lines[-2] == "5 runs: 1 failed, 1 interrupted, 1 missing, 2 ok"


def test_show_gives_one_run_in_full(sweep):
    root, runs = sweep
    done = nrep("show", "sweep/1_gd_seed1", cwd=root.parent)
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())  # labels are padded to the longest
    summary = runs[1]
    assert "IMPORTED []" in text
    assert f"status ok ({summary['stop_reason']})" in text
    assert f"final {summary['energy_final_exact']:.6g}" in text and "reduced" in text
    assert f"closure {summary['loop_closure']:.3g}, stuck pairs {summary['stuck_pairs']}" in text
    assert f"steps {summary['steps_total']}: coords {summary['steps_coords']}" in text
    assert "final.npy (" in text and "summary.json (" in text and "trace.csv (" in text
    assert "resume" not in text.split("files")[1]  # a finished run has nothing to resume

    def shown(run: str) -> str:
        return " ".join(nrep("show", run, cwd=root.parent).stdout.split())

    stopped = shown("sweep/4_gd_seed4")
    assert "status interrupted" in stopped and "resume nrep resume sweep/4_gd_seed4" in stopped
    assert "error ValueError: went wrong" in shown("sweep/2_gd_seed2")
    assert "status missing" in shown("sweep/3_gd_seed3")


@pytest.mark.parametrize(
    "args,message",
    [
        (["ls", "nowhere"], "nowhere: no such directory"),
        (["show", "nowhere"], "nowhere: no such directory"),
        (["show", "sweep"], "sweep is not a run directory (no summary.json); it holds 5 runs: nrep ls sweep"),
        (["show", "sweep/0_gd_seed0", "sweep/1_gd_seed1"], "nrep show takes one run directory"),
        (["ls", "--long"], "unknown option --long for `nrep ls`"),
    ],
)
def test_bad_input_is_one_line(sweep, args, message):
    root, _ = sweep
    done = nrep(*args, cwd=root.parent)
    assert done.returncode == 2
    assert problems(done.stderr) == [problems(done.stderr)[0]] and message in done.stderr
