"""A scheduler's warning signal (submitit's SIGUSR2) saves the run, then hands the job to submitit to requeue;
the requeued job resumes from the checkpoint. SLURM itself is not needed here (tests/cli/test_slurm.py uses it)."""

import json
import signal

import pytest

from nrep.cli.app import requeued_run
from nrep.core.errors import NrepError
from nrep.core.run.preemption import handed_to_scheduler, preemption_signal
from nrep.core.run.single import execute

LONG = ("system.n=100", "method=gd", "stop.max_steps=1000", "threads=1", "output.snapshot=false")


@pytest.fixture
def submitit_job(monkeypatch):
    """This process as submitit's job on SLURM: its SIGUSR2 handler records when it is called."""
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "slurm")
    monkeypatch.delenv("SUBMITIT_PREEMPT_SIGNAL", raising=False)
    monkeypatch.delenv("SLURM_RESTART_COUNT", raising=False)
    calls = []
    previous = signal.signal(signal.SIGUSR2, lambda signum, frame: calls.append(signum))
    yield calls
    signal.signal(signal.SIGUSR2, previous)


def signal_at_step(monkeypatch, signum, step=200):
    """The run raises ``signum`` at its step ``step``, as a scheduler would at some moment."""
    from nrep.core.engine.stages import Callback
    from nrep.core.run import single

    class RaiseAt(Callback):
        stateful = False

        def on_step(self, state):
            if state.step == step:
                signal.raise_signal(signum)

    real = single.watchers
    monkeypatch.setattr(single, "watchers", lambda *args: {**real(*args), "scheduler": RaiseAt()})
    return lambda: monkeypatch.setattr(single, "watchers", real)


def test_the_preemption_signal_is_submitits_and_only_in_its_jobs(monkeypatch):
    monkeypatch.delenv("SUBMITIT_EXECUTOR", raising=False)
    assert preemption_signal() is None
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "slurm")
    assert preemption_signal() == signal.SIGUSR2
    monkeypatch.setenv("SUBMITIT_PREEMPT_SIGNAL", "USR1")
    assert preemption_signal() == signal.SIGUSR1


def test_sigusr2_saves_the_run_then_requeue_resumes_it_as_if_never_stopped(tmp_path, compose_cfg, submitit_job,
                                                                          monkeypatch):
    run = tmp_path / "run"
    seen_at_handover = []
    signal.signal(signal.SIGUSR2, lambda signum, frame: (submitit_job.append(signum), seen_at_handover.append(
        json.loads((run / "summary.json").read_text())["status"])))
    done_signalling = signal_at_step(monkeypatch, signal.SIGUSR2)
    with handed_to_scheduler():
        stopped = execute(compose_cfg(*LONG), run)
    done_signalling()
    assert stopped["status"] == "interrupted" and (run / "checkpoint.pt").is_file()
    assert submitit_job == [signal.SIGUSR2] and seen_at_handover == ["interrupted"]  # saved first, then handed over

    with pytest.raises(NrepError, match="already holds a run's results"):  # a plain second start is refused
        execute(compose_cfg(*LONG), run)
    assert not requeued_run(run)
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")  # as SLURM marks a requeued job
    assert requeued_run(run)
    resumed = execute(compose_cfg(*LONG), run, resume=True)
    whole = execute(compose_cfg(*LONG), tmp_path / "whole")
    assert resumed["status"] == "ok" and resumed["resumed_from_step"] == stopped["steps_total"]
    assert resumed["energy_final_exact"] == whole["energy_final_exact"]
    assert resumed["steps_total"] == whole["steps_total"]


def test_a_requeued_run_without_a_checkpoint_starts_again(tmp_path, monkeypatch):
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / "summary.json").write_text('{"status": "interrupted"}')
    (run / "trace.csv").write_text("step\n0\n")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "2")
    assert not requeued_run(run)  # nothing to resume from (L-BFGS, a batch): the earlier files go
    assert sorted(p.name for p in run.iterdir()) == [".hydra"]


def test_outside_a_submitit_job_sigusr2_is_left_alone(tmp_path, compose_cfg, monkeypatch):
    monkeypatch.delenv("SUBMITIT_EXECUTOR", raising=False)
    calls = []
    previous = signal.signal(signal.SIGUSR2, lambda signum, frame: calls.append(signum))
    try:
        signal_at_step(monkeypatch, signal.SIGUSR2)
        with handed_to_scheduler():
            done = execute(compose_cfg(*LONG), tmp_path / "run")
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert done["status"] == "ok" and calls == [signal.SIGUSR2]  # the run did not take it


def test_a_loop_with_a_cutoff_resumes_with_the_same_samples_and_lists(tmp_path, compose_cfg, monkeypatch):
    """The repulsion's sample and neighbour list travel in the checkpoint: resumed = never stopped."""
    from nrep.core.report.table import system_label

    cut = (*LONG, "energy.cutoff=2.5", "energy.skin=0.3", "energy.repulsion.resample_every=50",
           "energy.repulsion.pair_factor=0.2")
    run = tmp_path / "run"
    done_signalling = signal_at_step(monkeypatch, signal.SIGINT, step=130)
    stopped = execute(compose_cfg(*cut), run)
    done_signalling()
    assert stopped["status"] == "interrupted" and (run / "checkpoint.pt").is_file()
    resumed = execute(compose_cfg(*cut), run, resume=True)
    whole = execute(compose_cfg(*cut), tmp_path / "whole")
    plain = execute(compose_cfg(*LONG), tmp_path / "plain")
    assert resumed["energy_final"] == whole["energy_final"] and resumed["steps_total"] == whole["steps_total"]
    assert whole["energy_final"] != plain["energy_final"]  # the cutoff changed the run
    assert (whole["energy_cutoff"], whole["energy_skin"], plain["energy_cutoff"]) == (2.5, 0.3, None)
    import pandas as pd

    assert system_label(pd.Series(whole)) == "loop pure_lj n=100 cutoff=2.5"
    assert system_label(pd.Series(plain)) == "loop pure_lj n=100"
