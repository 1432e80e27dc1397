"""Each choice list lives once, in configs/schema/choices.py; the code acting on a value serves exactly those values,
and what an option's config declares it can do is what its implementation does."""

from __future__ import annotations

import torch
from torch import nn

from nrep.configs.schema import SCHEMAS, choices
from nrep.core.optim.by_name import optimizer_factory
from nrep.core.optim.capabilities import LoopOwner, is_elementwise


def test_the_code_serves_exactly_the_listed_choices():
    from nrep.core.reparam.gnn import ACTIVATIONS
    from nrep.core.runtime import _DTYPES
    from nrep.core.systems.openmm_contexts import WATER, forcefield_files

    assert tuple(ACTIVATIONS) == choices.ACTIVATIONS
    assert tuple(_DTYPES) == choices.DTYPES
    assert tuple(WATER) == choices.FORCEFIELDS
    for forcefield in choices.FORCEFIELDS:
        for solvent in choices.SOLVENTS:
            assert forcefield_files(forcefield, solvent)[0] == forcefield


def test_each_optimiser_does_what_its_config_declares():
    for name, node in SCHEMAS["optim"].items():
        optimiser = optimizer_factory(node(), lr=1e-3)([nn.Parameter(torch.zeros(3))])
        assert is_elementwise(optimiser) == node.elementwise, name
        assert isinstance(optimiser, LoopOwner) == node.line_search, name


def test_openmm_platform_names_are_the_listed_ones():
    import pytest

    from nrep.core.systems.openmm_contexts import openmm_platform

    with pytest.raises(ValueError, match="unknown OpenMM platform 'metal'"):
        openmm_platform("metal")
    _, properties = openmm_platform("cpu", threads=1)
    assert properties == {"Threads": "1"}
