"""Where nrep keeps what it can rebuild (downloaded structures, starts, slow modes, viewer code), and the one key it files them under."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any


def cache_dir(kind: str, override: str | os.PathLike | None = None) -> Path:
    """``override`` if given, else ``$XDG_CACHE_HOME/nrep/<kind>`` (~/.cache/nrep/<kind>)."""
    if override:
        return Path(override).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "nrep" / kind


def hashed_key(description: dict[str, Any], length: int = 32) -> str:
    """A file-name key for everything that determines a cached result (a JSON-able description).

    The same description gives the same key in every process and on every machine (keys
    sorted; values that JSON cannot hold are written as their ``str``). Used for the
    starts' and slow modes' caches and for the config fingerprint of a checkpoint.
    """
    text = json.dumps(description, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]
