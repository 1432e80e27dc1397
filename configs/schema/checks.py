"""How a config value is refused: one ConfigError whose message names the key and the fix."""

from __future__ import annotations

from nrep.core.errors import NrepError


class ConfigError(NrepError, ValueError):
    """A configuration value that cannot work; the message says which key and why."""


def require(ok: bool, message: str) -> None:
    """Raise ConfigError(message) unless ``ok``."""
    if not ok:
        raise ConfigError(message)


def check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    """Refuse ``key=value`` unless ``value`` is one of ``choices``, listing them."""
    require(value in choices, f"{key}={value!r} is not one of: {', '.join(choices)}")
