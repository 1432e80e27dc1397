"""The options of a system given from Python (``nrep.minimise``): its particles, its start and its energy.

They are not YAML options of ``nrep loop`` or ``nrep fold``: the start and the energy are
Python objects, so only :func:`register_given_options` (called by ``nrep.minimise``)
adds them to the config groups, as ``system=given``, ``init=given`` and ``energy=given``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from omegaconf import MISSING

from nrep.configs.schema.checks import require
from nrep.configs.schema.energy import EnergyConfig
from nrep.configs.schema.init import InitConfig
from nrep.configs.schema.system import SystemConfig

GIVEN = "given"


@dataclass
class GivenSystemConfig(SystemConfig):
    """n particles whose start and energy the caller passes (``n`` is taken from the start)."""

    name: str = GIVEN
    n: int = MISSING

    def __post_init__(self) -> None:
        require(self.n >= 2, f"system.n must be >= 2 particles (got {self.n})")


@dataclass
class GivenInitConfig(InitConfig):
    """The start passed as ``x0``."""

    systems: ClassVar[tuple[str, ...]] = (GIVEN,)
    name: str = GIVEN


@dataclass
class GivenEnergyConfig(EnergyConfig):
    """The energy passed as a Python callable."""

    systems: ClassVar[tuple[str, ...]] = (GIVEN,)
    name: str = GIVEN


def register_given_options() -> None:
    """Make ``system=given``, ``init=given`` and ``energy=given`` options (once per process)."""
    from nrep.configs.schema import SCHEMAS, register_option

    for group, node in (("system", GivenSystemConfig), ("init", GivenInitConfig), ("energy", GivenEnergyConfig)):
        if SCHEMAS[group].get(GIVEN) is not node:
            register_option(group, GIVEN, node)
