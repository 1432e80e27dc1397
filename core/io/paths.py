"""Where nrep keeps what it can rebuild: downloaded structures, starts, slow modes, viewer code."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(kind: str, override: str | os.PathLike | None = None) -> Path:
    """``override`` if given, else ``$XDG_CACHE_HOME/nrep/<kind>`` (~/.cache/nrep/<kind>)."""
    if override:
        return Path(override).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "nrep" / kind
