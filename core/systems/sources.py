"""Where a protein structure comes from: a file, a local directory, a cache, or the RCSB.

``locate_structure("2JOF", ...)`` looks in a local directory first (``NREP_PDB_DIR``),
then in the cache, then downloads ``<ID>.pdb`` (falling back to ``<ID>.cif``) from the
configured base URL into the cache. A path to a ``.pdb``/``.cif`` file is used as is.
Ids are checked (4 letters or digits) before any path or URL is built from them, and
every failure is one line that says what to do.
"""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from nrep.core.errors import NrepError
from nrep.core.paths import cache_dir
from nrep.core.results import atomic_write_bytes

RCSB_DOWNLOAD = "https://files.rcsb.org/download"
PDB_ID = re.compile(r"[A-Za-z0-9]{4}")
SUFFIXES = (".pdb", ".cif")
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


@dataclass(frozen=True)
class StructureSource:
    """A structure file and how it was found: file, local, cache or download."""

    path: Path
    origin: str
    pdb_id: str | None = None


def default_cache_dir() -> Path:
    return cache_dir("pdb")


def looks_like_file(spec: str) -> bool:
    return spec.lower().endswith(SUFFIXES) or os.sep in spec or Path(spec).exists()


def check_pdb_id(spec: str) -> str:
    """The id in upper case, or a one-line error if it is not 4 letters or digits."""
    if not PDB_ID.fullmatch(spec or ""):
        raise NrepError(
            f"{spec!r} is not a PDB id (4 letters or digits, e.g. 2JOF) nor a .pdb/.cif file; "
            "pass --pdb ID or --pdb path/to/file.pdb"
        )
    return spec.upper()


def _find(directory: Path | None, pdb_id: str) -> Path | None:
    if directory is None or not directory.is_dir():
        return None
    for suffix in SUFFIXES:
        for name in (pdb_id + suffix, pdb_id.lower() + suffix):
            if (directory / name).is_file():
                return directory / name
    return None


def _check_base_url(base_url: str) -> None:
    parsed = urllib.parse.urlparse(base_url)
    if parsed.scheme == "https" or (parsed.scheme == "http" and parsed.hostname in LOOPBACK_HOSTS):
        return
    raise NrepError(f"structure downloads must use https (got {base_url!r}); set an https:// base URL")


def looks_like_structure(data: bytes, suffix: str) -> bool:
    """A cheap check that a payload is a PDB (ATOM/HETATM records) or mmCIF (_atom_site) file."""
    head = data.lstrip()[:5].lower()
    if suffix == ".cif":
        return head == b"data_" and b"_atom_site." in data
    return any(line.startswith((b"ATOM  ", b"HETATM")) for line in data.splitlines())


def download(pdb_id: str, cache_dir: Path, base_url: str = RCSB_DOWNLOAD, timeout_s: float = 30.0) -> Path:
    """Fetch <ID>.pdb, else <ID>.cif, into the cache; one-line errors for 404 and no network."""
    _check_base_url(base_url)
    for suffix in SUFFIXES:
        url = f"{base_url.rstrip('/')}/{pdb_id}{suffix}"
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - scheme checked above
                data = response.read()
        except urllib.error.HTTPError as error:
            if error.code == 404:
                continue
            raise NrepError(f"downloading {url} failed: HTTP {error.code} {error.reason}; try again later") from error
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise NrepError(
                f"cannot download {pdb_id} ({reason}) and there is no local copy; put {pdb_id}.pdb in "
                f"$NREP_PDB_DIR or in {cache_dir}, or pass --pdb path/to/file.pdb"
            ) from error
        if not looks_like_structure(data, suffix):
            what = "an empty file" if not data.strip() else f"{len(data)} bytes that are not a {suffix} structure"
            raise NrepError(
                f"{url} returned {what}; nothing was cached; try again later or pass --pdb path/to/file.pdb"
            )
        path = cache_dir / f"{pdb_id}{suffix}"
        atomic_write_bytes(path, data)
        return path
    raise NrepError(f"unknown PDB id {pdb_id}: {base_url} has no entry for it (HTTP 404); check the id")


def locate_structure(
    spec: str,
    local_dir: Path | None = None,
    cache_dir: Path | None = None,
    base_url: str = RCSB_DOWNLOAD,
    timeout_s: float = 30.0,
) -> StructureSource:
    """Find the structure file for ``spec`` (a PDB id or a path), downloading it if needed.

    ``local_dir`` defaults to $NREP_PDB_DIR and ``cache_dir`` to ~/.cache/nrep/pdb.
    """
    if looks_like_file(spec):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise NrepError(f"no such structure file: {path}")
        return StructureSource(path.resolve(), "file")
    pdb_id = check_pdb_id(spec)
    if local_dir is None and os.environ.get("NREP_PDB_DIR"):
        local_dir = Path(os.environ["NREP_PDB_DIR"])
    cache_dir = cache_dir or default_cache_dir()
    if (found := _find(local_dir, pdb_id)) is not None:
        return StructureSource(found, "local", pdb_id)
    if (found := _find(cache_dir, pdb_id)) is not None:
        return StructureSource(found, "cache", pdb_id)
    return StructureSource(download(pdb_id, cache_dir, base_url, timeout_s), "download", pdb_id)
