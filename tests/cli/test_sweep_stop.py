"""A signal stops a sweep as a whole; `nrep resume SWEEP_DIR` continues it."""

import json
import signal

import pytest

from nrep.cli.main import main
from tests.cli.test_interrupts import rows, signal_once_running, start
from tests.conftest import problems

# A job long enough to be signalled mid-run (about two seconds), short enough to rerun.
JOB = ["method=gd", "system.n=100", "stop.max_steps=2000", "threads=1", "output.progress=off", "output.snapshot=false"]

RUN_STARTED = ", optim="  # a run's first line (Hydra's "#0 : method=gd ... seed=0" comes before any job runs)


def statuses(sweep):
    return {job.name: json.loads((job / "summary.json").read_text())["status"]
            for job in sorted(sweep.iterdir()) if (job / ".hydra").is_dir()}


def test_sigterm_stops_a_sweep_and_resume_finishes_it_as_if_never_stopped(tmp_path, nrep_cli):
    code, output = signal_once_running(start(tmp_path, "loop", *JOB, "--out", "sweep", "-m", "seed=0,1,2"), signal.SIGTERM,
                                       when=RUN_STARTED)
    sweep = tmp_path / "sweep"
    assert code == 1, output
    assert statuses(sweep) == {"0_gd_seed0": "interrupted", "1_gd_seed1": "not started", "2_gd_seed2": "not started"}
    assert f"was stopped (1 interrupted, 2 not started); continue it with: nrep resume {sweep.name}" in output
    assert (sweep / "sweep_summary.csv").read_text().count("not started") == 2
    assert not (sweep / "1_gd_seed1" / "trace.csv").exists()  # a job not started did not run at all

    done = nrep_cli("resume", "sweep", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert set(statuses(sweep).values()) == {"ok"} and not (sweep / ".nrep.stop").exists()
    assert "sweep: 3 runs, 3 ok" in done.stdout  # what the command returns: stdout
    assert "not started" not in (sweep / "sweep_summary.csv").read_text()

    assert main(["loop", *JOB, "seed=0", "--out", str(tmp_path / "whole")]) == 0
    assert rows(sweep / "0_gd_seed0" / "trace.csv") == rows(tmp_path / "whole" / "trace.csv")

    again = nrep_cli("resume", "sweep", cwd=tmp_path)
    assert again.returncode == 2 and "nothing to resume" in again.stderr and len(problems(again.stderr)) == 1


def test_joblib_starts_no_job_after_the_signal(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    launcher = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    code, output = signal_once_running(start(tmp_path, "loop", *JOB, *launcher, "--out", "sweep", "-m", "seed=0,1,2"),
                                       signal.SIGTERM, when=RUN_STARTED)
    assert code == 1, output
    # two workers were running jobs 0 and 1 (or one of them was still starting); job 2 never began
    ended = statuses(tmp_path / "sweep")
    assert ended.pop("2_gd_seed2") == "not started" and "interrupted" in ended.values(), output
    assert set(ended.values()) <= {"interrupted", "not started"}, output
    assert all((tmp_path / "sweep" / job / "checkpoint.pt").is_file() for job, status in ended.items()
               if status == "interrupted")


def fake_job(sweep, name, status):
    job = sweep / name
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text("- method=gd\n")
    (job / "summary.json").write_text(json.dumps({"status": status}))
    return job


def test_a_sweep_with_nothing_left_to_resume_is_one_line(tmp_path, capsys):
    fake_job(tmp_path / "sweep", "0_gd_seed0", "ok")
    fake_job(tmp_path / "sweep", "1_gd_seed1", "diverged")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert main(["resume", str(tmp_path / "sweep")]) == 2
    err = problems(capsys.readouterr().err)
    assert len(err) == 1 and "every job of the sweep" in err[0] and "nothing to resume" in err[0]
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
