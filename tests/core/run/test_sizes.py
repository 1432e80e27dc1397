"""The size estimate of a loop: what grows with n, and the announcement of a long set-up."""

import pytest

from nrep.core.run import sizes


def test_the_estimate_grows_as_its_parts_do(compose_cfg):
    small = sizes.estimate_loop(compose_cfg("system.n=1000", "method=cg", "threads=1"))
    large = sizes.estimate_loop(compose_cfg("system.n=2000", "method=cg", "threads=1"))
    assert large.exact_energy_s == pytest.approx(4 * small.exact_energy_s, rel=0.01)  # all pairs: n^2
    assert large.modes_s == pytest.approx(8 * small.modes_s)  # the dense solve: n^3
    two = sizes.estimate_loop(compose_cfg("system.n=2000", "method=cg", "threads=2"))
    assert two.exact_energy_s == pytest.approx(large.exact_energy_s / 2)  # the pair sums use every thread
    gd = sizes.estimate_loop(compose_cfg("system.n=2000", "method=gd", "threads=1"))
    assert gd.modes_s == 0 and gd.memory_bytes < large.memory_bytes
    assert sizes.estimate_loop(compose_cfg("system.n=2000", "method=cg", "method.modes.k=10", "method.modes.solver=sparse",
                                           "threads=1")).modes_s == 0  # the sparse solver is not estimated


def test_a_long_set_up_is_announced_with_its_estimate(tmp_path, compose_cfg, caplog, monkeypatch):
    from nrep.core.run import single

    monkeypatch.setattr(single, "LOUD_SETUP_S", 0.0)
    caplog.set_level("INFO", logger="nrep")
    single.execute(compose_cfg("system.n=40", "method=gd", "stop.max_steps=2", "threads=1", "output.snapshot=false"),
                   tmp_path / "run")
    assert "loop n=40, method=gd: expect about" in caplog.text and "pairs per exact energy" in caplog.text


def test_a_loop_with_a_cutoff_is_not_refused_for_its_size(compose_cfg, monkeypatch):
    from nrep.core.errors import NrepError

    monkeypatch.setattr(sizes, "available_memory_bytes", lambda: 1e12)
    n = sizes.LOOP_MAX_N + 1
    assert sizes.check_loop_size(compose_cfg(f"system.n={n}", "method=gd")).n == n  # the default: a cutoff at this size
    assert sizes.check_loop_size(compose_cfg(f"system.n={n}", "method=gd", "energy.cutoff=2.5")).n == n
    with pytest.raises(NrepError, match="all-pair repulsion, no cutoff"):
        sizes.check_loop_size(compose_cfg(f"system.n={n}", "method=gd", "energy.cutoff=0"))


@pytest.mark.parametrize("seconds,text", [(12, "12 s"), (420, "7 min"), (40000, "11.1 h"), (1.5e6, "17 days")])
def test_durations_read_naturally(seconds, text):
    assert sizes.duration(seconds) == text


def test_the_default_gnn_of_a_large_loop_needs_no_slow_modes(compose_cfg, monkeypatch):
    """nrep loop system.n=100000 (the default GNN) runs: from GNN_MODE_GRAPH_MAX_N its graph is knn."""
    from nrep.configs.schema.choices import GNN_MODE_GRAPH_MAX_N

    monkeypatch.setattr(sizes, "available_memory_bytes", lambda: 24e9)
    cfg = compose_cfg("system.n=100000")
    assert cfg.method.name == "gnn" and cfg.method.graph is None
    assert cfg.method.graph_for(100_000) == "knn" and cfg.method.graph_for(GNN_MODE_GRAPH_MAX_N - 1) == "slow_modes"
    found = sizes.check_loop_size(cfg)
    assert found.modes_s == 0 and found.memory_bytes < 2e9
    from nrep.core.errors import NrepError

    with pytest.raises(NrepError, match="more than the"):  # the paper's mode graph at this size does not fit
        sizes.check_loop_size(compose_cfg("system.n=100000", "method.graph=slow_modes"))
