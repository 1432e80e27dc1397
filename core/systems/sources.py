"""Where a protein structure comes from: a file, a local directory, a cache, or the RCSB.

``locate_structure("2JOF", ...)`` looks in a local directory first (``NREP_PDB_DIR``),
then in the cache, then downloads ``<ID>.pdb`` (falling back to ``<ID>.cif``) from the
configured base URL into the cache. A path to a ``.pdb``/``.ent``/``.cif`` file, plain
or gzipped (``.pdb.gz``, as the RCSB and the wwPDB archive serve them), is used as is;
:func:`read_structure_text` gives its text. Ids are checked (4 letters or digits)
before any path or URL is built from them, and every failure is one line that says
what to do.
"""

from __future__ import annotations

import gzip
import http.client
import os
import re
import urllib.error
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from nrep.core.errors import NrepError
from nrep.core.io.files import atomic_write_bytes
from nrep.core.io.paths import cache_dir
from nrep.core.io.structure_names import (
    GZIP_MAGIC,
    GZIP_SUFFIX,
    has_structure_suffix,
    is_gzipped,
    is_mmcif,
)

RCSB_DOWNLOAD = "https://files.rcsb.org/download"
PDB_ID = re.compile(r"[A-Za-z0-9]{4}")
# The suffixes downloads are tried with, in order.
DOWNLOAD_SUFFIXES = (".pdb", ".cif")
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
    return has_structure_suffix(spec) or os.sep in spec or "/" in spec or Path(spec).exists()


def check_pdb_id(spec: str) -> str:
    """The id in upper case, or a one-line error if it is not 4 letters or digits."""
    if not PDB_ID.fullmatch(spec or ""):
        raise NrepError(
            f"{spec!r} is not a PDB id (4 letters or digits, e.g. 2JOF) nor a .pdb/.cif file; "
            "pass --pdb ID or --pdb path/to/file.pdb"
        )
    return spec.upper()


def _candidate_names(pdb_id: str) -> list[str]:
    """File names an id may have in a folder: ID.pdb, id.cif.gz, ..., and the wwPDB archive's pdbid.ent.gz."""
    names = []
    for stem in (pdb_id, pdb_id.lower()):
        for suffix in (".pdb", ".cif", ".ent", ".mmcif"):
            names += [stem + suffix, stem + suffix + GZIP_SUFFIX]
    return [*names, f"pdb{pdb_id.lower()}.ent", f"pdb{pdb_id.lower()}.ent{GZIP_SUFFIX}"]


def _find(directory: Path | None, pdb_id: str) -> Path | None:
    if directory is None or not directory.is_dir():
        return None
    for name in _candidate_names(pdb_id):
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

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
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
    with opener.open(url, timeout=timeout_s) as response:  # the scheme is checked by the caller
        return response.read()


def starts_as_mmcif(text: str) -> bool:
    """True when the first line that is not blank or a comment (``#\\#CIF_1.1``, ``# mmCIF``) opens a data block."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return stripped.lower().startswith("data_")
    return False


def looks_like_structure(data: bytes, suffix: str) -> bool:
    """A cheap check that a payload is a PDB (ATOM/HETATM records) or mmCIF (_atom_site) file."""
    if suffix == ".cif":
        return starts_as_mmcif(data.decode("utf-8", errors="replace")) and b"_atom_site." in data
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


ATOM_RECORDS = ("ATOM", "HETATM", "ANISOU", "SIGATM", "SIGUIJ")


def ends_after_atoms(text: str) -> bool:
    """True when some other record follows the last atom record (END, TER, CONECT, an mmCIF category).

    A file cut at a line break inside its coordinates has none; a complete one has.
    """
    lines = text.rstrip().splitlines()
    last_atom = max((i for i, line in enumerate(lines) if line.startswith(("ATOM", "HETATM"))), default=None)
    return last_atom is not None and any(
        line.strip() and not line.startswith(ATOM_RECORDS) for line in lines[last_atom + 1:]
    )


def looks_binary(data: bytes) -> bool:
    """True for data that cannot be a text structure file: NUL bytes or many control characters."""
    head = data[:65536]
    return b"\x00" in head or sum(byte in CONTROL_BYTES for byte in head) > 0.05 * len(head)


def download(pdb_id: str, cache_dir: Path, base_url: str = RCSB_DOWNLOAD, timeout_s: float = 30.0) -> Path:
    """Fetch <ID>.pdb, else <ID>.cif, into the cache; one-line errors for 404 and no network."""
    pdb_id = check_pdb_id(pdb_id)  # before the id becomes part of a URL or a path
    _check_base_url(base_url)
    for suffix in DOWNLOAD_SUFFIXES:
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
        if path.is_dir():
            raise NrepError(f"{path} is a directory, not a structure file; pass --pdb path/to/file.pdb (or .cif, .pdb.gz)")
        if not path.is_file():
            if not has_structure_suffix(spec):
                raise NrepError(
                    f"{spec!r} is neither a PDB id (4 letters or digits, e.g. 2JOF) nor an existing .pdb/.cif file; "
                    "pass --pdb ID or --pdb path/to/file.pdb"
                )
            raise NrepError(f"no such structure file: {path}; check the path, or pass --pdb ID for a PDB id")
        return StructureSource(path.resolve(), "file")
    pdb_id = check_pdb_id(spec)
    if local_dir is None and os.environ.get("NREP_PDB_DIR"):
        local_dir = Path(os.environ["NREP_PDB_DIR"]).expanduser()
        if not local_dir.is_dir():
            raise NrepError(
                f"$NREP_PDB_DIR={os.environ['NREP_PDB_DIR']} is not a directory; point it at a folder of "
                "structure files, or unset it to use the cache and downloads"
            )
    elif local_dir is not None and not local_dir.is_dir():
        raise NrepError(f"system.local_dir={local_dir} is not a directory; point it at a folder of structure files or drop it")
    cache_dir = cache_dir or default_cache_dir()
    if (found := _find(local_dir, pdb_id)) is not None:
        return StructureSource(found, "local", pdb_id)
    if (found := _find(cache_dir, pdb_id)) is not None:
        return StructureSource(found, "cache", pdb_id)
    return StructureSource(download(pdb_id, cache_dir, base_url, timeout_s), "download", pdb_id)


def _decompressed(path: Path, data: bytes) -> bytes:
    """The contents of gzip data, or a one-line error that says gzip."""
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as error:
        raise NrepError(
            f"{path} is a damaged or truncated gzip file ({error}); download it again "
            "(delete it from the cache if it came from there)"
        ) from error


def read_structure_text(path: Path) -> str:
    """The text of a structure file (gunzipped when compressed), or a one-line error.

    Refused: an unreadable, empty, binary or truncated file, a .cif that is not mmCIF and
    PDB records holding mmCIF. Messages about a gzipped file say so.
    """
    try:
        data = path.read_bytes()
    except IsADirectoryError as error:
        raise NrepError(f"{path} is a directory, not a structure file; pass a PDB or mmCIF file") from error
    except OSError as error:
        raise NrepError(f"cannot read {path}: {error.strerror}; check the path and its permissions") from error
    # Compressed data is read whatever the name says; the format comes from the name without .gz.
    what = f"{path} (gzip)" if is_gzipped(path) or data.startswith(GZIP_MAGIC) else str(path)
    if data.startswith(GZIP_MAGIC):
        data = _decompressed(path, data)
    if not data.strip():
        raise NrepError(f"{what} is empty; pass a PDB or mmCIF file with coordinates")
    if looks_binary(data):
        raise NrepError(f"{what} holds binary data, not PDB or mmCIF text; pass a PDB or mmCIF file")
    text = data.decode("utf-8", errors="replace")
    cif = is_mmcif(path)
    starts_as_cif = starts_as_mmcif(text)
    if cif and not starts_as_cif:
        pdb_records = any(line.startswith(("ATOM  ", "HETATM")) for line in text.splitlines())
        fix = "it holds PDB records: rename it to .pdb" if pdb_records else "pass a PDB or mmCIF file"
        raise NrepError(f"{what} is not an mmCIF file (mmCIF begins with data_); {fix}")
    if not cif and starts_as_cif:
        raise NrepError(f"{what} holds mmCIF, not PDB records; rename it to .cif")
    if not cif and (line := cut_short_record(data)) is not None:
        raise NrepError(
            f"{what} looks truncated: line {line} is an atom record cut short before its coordinates; "
            "fetch the file again (delete it from the cache if it came from there)"
        )
    return text
