"""How many slow modes a method uses: k, a fraction of the particles, or the system's default."""

import pytest

from nrep.configs.schema import ConfigError
from nrep.core.methods.mode_setup import mode_count


class Protein:
    name, n, default_mode_count = "1ABC", 300, 60  # 20 residues: 3 x 20


@pytest.mark.parametrize(
    "overrides,expected",
    [([], 60), (["method.modes.k=7"], 7), (["method.modes.fraction=0.3"], 90), (["method.modes.fraction=1.0"], 300)],
)
def test_mode_count(compose_cfg, overrides, expected):
    assert mode_count(compose_cfg("method=cg", *overrides).method, Protein) == expected


def test_too_many_modes_are_refused(compose_cfg):
    with pytest.raises(ConfigError, match="method.modes.k=301 exceeds the 300 particles of 1ABC"):
        mode_count(compose_cfg("method=cg", "method.modes.k=301").method, Protein)
