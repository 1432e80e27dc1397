"""nrep's Hydra config tree, its typed schema, and :func:`load` (overrides -> a typed config)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from nrep.configs.schema import NrepConfig


def load(overrides: Sequence[str] = (), command: str = "loop") -> NrepConfig:
    """The typed config of one job, as ``nrep <command> OVERRIDES`` builds it; see :func:`nrep.configs.compose.load`."""
    from nrep.configs.compose import load as compose_and_validate

    return compose_and_validate(overrides, command)
