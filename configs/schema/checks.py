"""How a config value is refused: one ConfigError whose message names the key and the fix."""

from __future__ import annotations

import math
from typing import Any

from nrep.configs.schema.choices import OPENMM_PLATFORMS, SOLVENTS
from nrep.core.errors import NrepError


class ConfigError(NrepError, ValueError):
    """A configuration value that cannot work; the message says which key and why."""


def require(ok: bool, message: str) -> None:
    """Raise ConfigError(message) unless ``ok``."""
    if not ok:
        raise ConfigError(message)


def require_positive(key: str, value: float) -> None:
    """A step size, rate or length: a finite number > 0 (inf passes ``> 0`` and then blows a run up)."""
    require(math.isfinite(value) and value > 0, f"{key} must be a finite number > 0 (got {value})")


def check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    """Refuse ``key=value`` unless ``value`` is one of ``choices``, listing them."""
    require(value in choices, f"{key}={value!r} is not one of: {', '.join(choices)}")


def openmm_platform_name(key: str, value: str) -> str:
    """``value`` as OpenMM spells the platform (``cpu`` -> ``CPU``), or a ConfigError naming ``key``."""
    for name in OPENMM_PLATFORMS:
        if value.lower() == name.lower():
            return name
    raise ConfigError(f"{key}={value!r} is not one of: {', '.join(OPENMM_PLATFORMS)}")


def check_langevin(section: str, settings: Any) -> None:
    """The OpenMM Langevin settings that init=unfold_md and method=openmm_md share, under ``section``
    (the MD baseline takes its solvent and platform from the run's energy, the unfolding has its own)."""
    require(settings.temperature_K > 0, f"{section}.temperature_K must be > 0 (got {settings.temperature_K})")
    require(0 < settings.timestep_fs <= 4, f"{section}.timestep_fs must lie in (0, 4] (got {settings.timestep_fs})")
    require(settings.friction_per_ps > 0, f"{section}.friction_per_ps must be > 0 (got {settings.friction_per_ps})")
    require(settings.padding_nm > 0, f"{section}.padding_nm must be > 0 (got {settings.padding_nm})")
    if hasattr(settings, "solvent"):
        check_choice(f"{section}.solvent", settings.solvent, SOLVENTS)
        settings.platform = openmm_platform_name(f"{section}.platform", settings.platform)
