"""Ctrl-C / SIGTERM on a real `nrep` process, and `nrep resume`."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import problems

# GNN on the pure-LJ loop: two stages, early stopping and resampled repulsion pairs,
# all of which a checkpoint must carry for the resumed numbers to be the same.
ARGS = ["method=gnn", "system.n=40", "method.stop.max_steps=400", "stop.max_steps=800", "threads=1",
        "output.snapshot=false"]


def start(tmp_path, *args):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    exe = Path(sys.executable).with_name("nrep")
    return subprocess.Popen([str(exe), *args], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def signal_once_running(process, *signals, when="seed="):
    """Send the signals as soon as the run reports its start (the line naming the seed, or ``when``)."""
    lines = []
    for line in process.stdout:
        lines.append(line)
        if when in line:
            for sig in signals:
                process.send_signal(sig)
            break
    lines.append(process.stdout.read())
    return process.wait(timeout=120), "".join(lines)


def rows(path):
    with open(path) as handle:
        return [{k: v for k, v in row.items() if k != "time_s"} for row in csv.DictReader(handle)]


def test_sigint_leaves_a_resumable_run_that_ends_as_if_never_stopped(tmp_path, nrep_cli):
    """Stopped with a progress bar, resumed without one, from another working directory."""
    whole = nrep_cli("loop", "--out", "whole", *ARGS, cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr

    code, output = signal_once_running(start(tmp_path, "loop", "--out", "cut", *ARGS, "output.progress=on"), signal.SIGINT)
    cut = tmp_path / "cut"
    summary = json.loads((cut / "summary.json").read_text())
    assert code == 1 and summary["status"] == "interrupted", output
    assert summary["resume_command"] == f"nrep resume {cut}" and "nrep resume" in output
    assert (cut / "checkpoint.pt").is_file() and (cut / "best.npy").is_file() and (cut / "final.npy").is_file()
    assert len(rows(cut / "trace.csv")) >= 1

    (tmp_path / "elsewhere").mkdir()
    done = nrep_cli("resume", str(cut), "output.progress=off", cwd=tmp_path / "elsewhere")
    assert done.returncode == 0, done.stderr + done.stdout
    resumed = json.loads((cut / "summary.json").read_text())
    original = json.loads((tmp_path / "whole" / "summary.json").read_text())
    assert resumed["status"] == "ok" and resumed["resumed_from_step"] == summary["steps_total"]
    assert resumed["steps_total"] == original["steps_total"]
    assert resumed["energy_final_exact"] == pytest.approx(original["energy_final_exact"], rel=1e-9)
    assert rows(cut / "trace.csv") == rows(tmp_path / "whole" / "trace.csv")
    assert not (cut / "checkpoint.pt").exists()

    again = nrep_cli("resume", "cut", cwd=tmp_path)  # finished now: nothing to resume
    assert again.returncode == 2 and "status=ok; only interrupted runs can be resumed" in again.stderr


def test_sigterm_is_handled_like_ctrl_c(tmp_path):
    code, output = signal_once_running(start(tmp_path, "loop", "--out", "run", *ARGS), signal.SIGTERM)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert code == 1 and summary["status"] == "interrupted" and "SIGTERM" in output


def test_a_second_signal_stops_at_once(tmp_path):
    code, output = signal_once_running(start(tmp_path, "loop", "--out", "run", *ARGS), signal.SIGTERM, signal.SIGINT)
    assert code == 130 and "nrep: interrupted" in output


@pytest.mark.parametrize("target,message", [
    ("nowhere", "no such run directory"),
    ("empty", "holds no finished or interrupted run"),
    ("--fast", "unrecognized arguments: --fast"),
    ("empty seed=3", "nrep resume takes the run's own config; 'seed=3' cannot change it (only output.progress=on|off|auto)"),
    ("empty output.progress=maybe", "output.progress='maybe' is not one of on, off, auto"),
])
def test_resume_refuses_what_it_cannot_resume(tmp_path, nrep_cli, target, message):
    (tmp_path / "empty").mkdir()
    done = nrep_cli("resume", *target.split(), cwd=tmp_path)
    lines = problems(done.stderr)
    assert done.returncode == 2 and len(lines) == 1 and message in lines[0], done.stderr


def interrupted_dir(tmp_path, overrides=("method=gd",), checkpoint=b"not a checkpoint", summary_extra=None):
    """A run directory that claims to be interrupted, with a given checkpoint file."""
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    summary = {"status": "interrupted", "threads": 1, "checkpoint": "checkpoint.pt", **(summary_extra or {})}
    (run / "summary.json").write_text(json.dumps(summary))
    if checkpoint is not None:
        (run / "checkpoint.pt").write_bytes(checkpoint)
    return run


def one_line_error(capsys, argv):
    from nrep.cli.main import main

    code = main(argv)
    lines = problems(capsys.readouterr().err)
    assert code == 2 and len(lines) == 1, lines
    return lines[0]


def test_a_damaged_checkpoint_is_refused_and_left_in_place(tmp_path, capsys):
    run = interrupted_dir(tmp_path)
    assert "the checkpoint is damaged" in one_line_error(capsys, ["resume", str(run)])
    assert (run / "checkpoint.pt").read_bytes() == b"not a checkpoint"


def test_a_checkpoint_of_another_config_is_refused(tmp_path, capsys):
    import io

    import torch

    buffer = io.BytesIO()
    torch.save({"format": 1, "config": "0123456789abcdef", "plan_times": {}, "loop": {}}, buffer)
    run = interrupted_dir(tmp_path, checkpoint=buffer.getvalue())
    assert "does not belong to the config" in one_line_error(capsys, ["resume", str(run)])


def test_an_lbfgs_run_has_no_checkpoint_to_resume(tmp_path, capsys):
    run = interrupted_dir(tmp_path, checkpoint=None)
    summary = json.loads((run / "summary.json").read_text())
    del summary["checkpoint"]
    (run / "summary.json").write_text(json.dumps(summary))
    assert "without a checkpoint (L-BFGS runs and batches of replicas have none)" in one_line_error(capsys, ["resume", str(run)])


def test_kill_9_after_a_periodic_checkpoint_resumes_as_if_never_stopped(tmp_path, nrep_cli):
    import time

    periodic = [*ARGS, "stop.min_delta=0", "method.stop.min_delta=0", "output.checkpoint_every_s=0.3"]
    whole = nrep_cli("loop", "--out", "whole", *periodic, cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    original = json.loads((tmp_path / "whole" / "summary.json").read_text())
    assert original["checkpoints_saved"] >= 1 and not (tmp_path / "whole" / "checkpoint.pt").exists()

    process = start(tmp_path, "loop", "--out", "killed", *periodic)
    killed = tmp_path / "killed"
    deadline = time.monotonic() + 120
    while not (killed / "checkpoint.pt").exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.kill()  # SIGKILL: no handler runs, no summary is written
    process.wait(timeout=60)
    assert (killed / "checkpoint.pt").exists() and not (killed / "summary.json").exists()
    listed = nrep_cli("ls", "killed", cwd=tmp_path)
    assert listed.stdout.startswith("killed "), listed.stdout

    done = nrep_cli("resume", "killed", cwd=tmp_path)  # the dead process's lock is stale: taken over
    assert done.returncode == 0, done.stderr + done.stdout
    resumed = json.loads((killed / "summary.json").read_text())
    assert resumed["status"] == "ok" and resumed["steps_total"] == original["steps_total"]
    assert resumed["energy_final_exact"] == original["energy_final_exact"]
    assert rows(killed / "trace.csv") == rows(tmp_path / "whole" / "trace.csv")
    assert not (killed / "checkpoint.pt").exists() and not (killed / ".nrep.lock").exists()


def test_sigterm_during_openmm_md_keeps_its_summary_trace_and_structures(tmp_path, peptide_file):
    md = ["method=openmm_md", "energy.solvent=vacuum", "energy.platform=CPU", "method.steps=10000000",
          "method.report_every=100", f"init.cache_dir={tmp_path / 'starts'}", "threads=1", "output.progress=off"]
    code, output = signal_once_running(start(tmp_path, "fold", "--pdb", str(peptide_file), "--out", "md", *md),
                                       signal.SIGTERM, when=", optim=")
    run = tmp_path / "md"
    summary = json.loads((run / "summary.json").read_text())
    assert code == 1 and summary["status"] == "interrupted", output
    assert 0 <= summary["steps_md"] < 10000000 and "cannot be resumed" in output
    assert len(rows(run / "trace.csv")) >= 1 and (run / "final.pdb").is_file() and (run / "best.pdb").is_file()


@pytest.mark.skipif(shutil.which("script") is None, reason="needs util-linux's script for a pseudo-terminal")
def test_a_run_stopped_in_a_terminal_resumes_outside_one_and_back(tmp_path, nrep_cli):
    """Ctrl-C typed in a real (pseudo-)terminal, where the progress bar is on by itself; resumed without one."""
    from nrep.cli.main import main

    job = ["method=gd", "system.n=100", "stop.max_steps=2000", "threads=1", "output.snapshot=false"]
    exe = Path(sys.executable).with_name("nrep")
    command = " ".join([str(exe), "loop", "--out", "cut", *job])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200", "TERM": "xterm"}
    terminal = subprocess.Popen(["script", "-qec", command, "/dev/null"], cwd=tmp_path, env=env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seen = b""
    while b" threads" not in seen:  # the start line (in colour: no plain "seed=" in it)
        chunk = terminal.stdout.read1(4096)
        assert chunk, seen.decode(errors="replace")
        seen += chunk
    terminal.stdin.write(b"\x03")  # Ctrl-C, as typed: the terminal sends SIGINT to the run
    terminal.stdin.flush()
    seen += terminal.stdout.read()
    terminal.wait(timeout=120)
    summary = json.loads((tmp_path / "cut" / "summary.json").read_text())
    assert summary["status"] == "interrupted", seen.decode(errors="replace")

    done = nrep_cli("resume", "cut", cwd=tmp_path)  # no terminal now: no bar, same numbers
    assert done.returncode == 0, done.stdout + done.stderr
    assert main(["loop", "--out", str(tmp_path / "whole"), *job, "output.progress=off"]) == 0
    assert rows(tmp_path / "cut" / "trace.csv") == rows(tmp_path / "whole" / "trace.csv")
