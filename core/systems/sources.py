"""Where a protein structure comes from: a file, a local directory, a cache, or the RCSB.

``locate_structure("2JOF", ...)`` looks in a local directory first (``NREP_PDB_DIR``),
then in the cache, then downloads ``<ID>.pdb`` (falling back to ``<ID>.cif``) from the
configured base URL into the cache. A path to a ``.pdb``/``.cif`` file is used as is.
Ids are checked (4 letters or digits) before any path or URL is built from them, and
every failure is one line that says what to do.
"""

from __future__ import annotations

import http.client
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
    """True when ``spec`` names a file rather than a PDB id (an empty one is neither)."""
    if not spec:
        return False
    return spec.lower().endswith(SUFFIXES) or os.sep in spec or "/" in spec or Path(spec).exists()


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
    """Refuse any URL but https (plain http only to this machine, for tests and local mirrors)."""
    try:
        parsed = urllib.parse.urlparse(base_url)
        host = parsed.hostname
    except ValueError:
        parsed, host = None, None
    if parsed is not None and host and (parsed.scheme == "https" or (parsed.scheme == "http" and host in LOOPBACK_HOSTS)):
        return
    raise NrepError(f"structure downloads must use https (got {base_url!r}); set system.base_url to an https:// URL")


class _HttpsOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to a URL that a base URL could name (https), never downgrade to http."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001, ANN201 - urllib's signature
        try:
            _check_base_url(newurl)
        except NrepError:
            raise NrepError(
                f"{req.full_url} redirected to {newurl}; structure downloads must stay on https; "
                "check system.base_url"
            ) from None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _fetch(url: str, timeout_s: float) -> bytes:
    opener = urllib.request.build_opener(_HttpsOnlyRedirects)
    with opener.open(url, timeout=timeout_s) as response:  # noqa: S310 - scheme checked by the caller
        return response.read()


def looks_like_structure(data: bytes, suffix: str) -> bool:
    """A cheap check that a payload is a PDB (ATOM/HETATM records) or mmCIF (_atom_site) file."""
    head = data.lstrip()[:5].lower()
    if suffix == ".cif":
        return head == b"data_" and b"_atom_site." in data
    return any(line.startswith((b"ATOM  ", b"HETATM")) for line in data.splitlines())


# An ATOM/HETATM record holds its coordinates in columns 31-54.
PDB_COORDINATES_END = 54
CONTROL_BYTES = frozenset(range(32)) - {9, 10, 12, 13} | {127}


def cut_short_record(data: bytes) -> int | None:
    """The 1-based number of the first ATOM/HETATM line that ends before its coordinates, if any."""
    for number, line in enumerate(data.splitlines(), start=1):
        if line.startswith((b"ATOM", b"HETATM")) and len(line.rstrip()) < PDB_COORDINATES_END:
            return number
    return None


def looks_binary(data: bytes) -> bool:
    """True for data that cannot be a text structure file: NUL bytes or many control characters."""
    head = data[:65536]
    return b"\x00" in head or sum(byte in CONTROL_BYTES for byte in head) > 0.05 * len(head)


def download(pdb_id: str, cache_dir: Path, base_url: str = RCSB_DOWNLOAD, timeout_s: float = 30.0) -> Path:
    """Fetch <ID>.pdb, else <ID>.cif, into the cache; one-line errors for 404 and no network."""
    pdb_id = check_pdb_id(pdb_id)  # before the id becomes part of a URL or a path
    _check_base_url(base_url)
    for suffix in SUFFIXES:
        url = f"{base_url.rstrip('/')}/{pdb_id}{suffix}"
        try:
            data = _fetch(url, timeout_s)
        except urllib.error.HTTPError as error:
            if error.code == 404:
                continue
            raise NrepError(f"downloading {url} failed: HTTP {error.code} {error.reason}; try again later") from error
        except http.client.HTTPException as error:  # e.g. IncompleteRead: the connection closed early
            raise NrepError(
                f"downloading {url} failed ({type(error).__name__}); nothing was cached; try again later"
            ) from error
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
        if suffix == ".pdb" and (line := cut_short_record(data)) is not None:
            raise NrepError(f"{url} returned a truncated file (line {line} is cut short); nothing was cached; try again later")
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
            if not spec.lower().endswith(SUFFIXES):
                raise NrepError(
                    f"{spec!r} is neither a PDB id (4 letters or digits, e.g. 2JOF) nor an existing .pdb/.cif file; "
                    "pass --pdb ID or --pdb path/to/file.pdb"
                )
            raise NrepError(f"no such structure file: {path}; check the path, or pass --pdb ID for a PDB id")
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
