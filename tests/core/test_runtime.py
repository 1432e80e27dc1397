"""The run's threads: a default that follows the system's size, never the machine's load."""

from __future__ import annotations

import torch

from nrep.core import runtime
from nrep.core.run.single import execute


def test_the_default_is_one_thread_below_the_measured_size_and_every_core_from_it():
    limit = runtime.PARALLEL_FROM_PARTICLES
    assert runtime.default_threads(1, cores=8) == runtime.default_threads(limit - 1, cores=8) == 1
    assert runtime.default_threads(limit, cores=8) == 8 and runtime.default_threads(10 * limit, cores=1) == 1


def test_a_run_without_threads_takes_the_default_for_its_size_and_records_it(tmp_path, compose_cfg, monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setattr(runtime, "PARALLEL_FROM_PARTICLES", 50)  # so that a small loop is "large"
        monkeypatch.setattr(runtime, "available_cores", lambda: 2)
        small = execute(compose_cfg("system.n=40", "method=gd", "stop.max_steps=5"), tmp_path / "small")
        large = execute(compose_cfg("system.n=60", "method=gd", "stop.max_steps=5"), tmp_path / "large")
        given = execute(compose_cfg("system.n=60", "method=gd", "stop.max_steps=5", "threads=1"), tmp_path / "given")
        assert (small["threads"], large["threads"], given["threads"]) == (1, 2, 1)
    finally:
        torch.set_num_threads(before)
