"""How many slow modes a method uses: k, a fraction of the particles, or the system's default."""

import pytest

from nrep.configs.schema import ConfigError
from nrep.core.methods.mode_setup import mode_count
from nrep.core.methods.registry import build_plan
from nrep.core.run.build import build_system


class Protein:
    name, n, default_mode_count = "1ABC", 300, 60  # 20 residues: 3 x 20


@pytest.mark.parametrize(
    "overrides,expected",
    [([], 60), (["method.modes.k=7"], 7), (["method.modes.fraction=0.3"], 90), (["method.modes.fraction=1.0"], 300)],
)
def test_mode_count(compose_cfg, overrides, expected):
    assert mode_count(compose_cfg("method=cg", *overrides).method, Protein) == expected


@pytest.mark.parametrize("method", ["cg", "gnn"])
def test_too_many_modes_are_refused(compose_cfg, method):
    with pytest.raises(ConfigError, match="method.modes.k=301 exceeds the 300 particles of 1ABC"):
        compose_cfg(f"method={method}", "method.modes.k=301").method.check_size(Protein.n, Protein.name)


def test_a_run_from_python_is_refused_before_its_plan(compose_cfg):
    cfg = compose_cfg("method=cg", "method.modes.k=31", "system.n=30")
    with pytest.raises(ConfigError, match="method.modes.k=31 exceeds the 30 particles of loop"):
        build_plan(cfg, build_system(cfg), None, None)
