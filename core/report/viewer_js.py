"""3Dmol.js, the molecule viewer inlined into HTML reports so that they work offline.

The script comes from the 3dmol package on the npm registry: a pinned version whose
tarball is checked against the registry's SHA-512 integrity before anything is read
from it, then kept in ~/.cache/nrep/js. Only two named members are read from the
tarball (the minified build and its licence); nothing is extracted to disk. The two
cached files are checked against their own pinned SHA-512 each time they are read, so a
truncated or altered cache is fetched again (or refused offline), never inlined.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

from nrep.core.errors import NrepError
from nrep.core.io.files import atomic_write_bytes
from nrep.core.io.paths import cache_dir

log = logging.getLogger("nrep")

VERSION = "2.5.5"
TARBALL_URL = f"https://registry.npmjs.org/3dmol/-/3dmol-{VERSION}.tgz"
INTEGRITY = "sha512-kqNHouGqq3YfW58174tdERvm0XYTmP0tavQKOqIw1ouc2OJ7epkXEFrtEkVXV0clBZT2Ze2xHRC/qxX0u0qCdw=="
MEMBERS = {"script": "package/build/3Dmol-min.js", "license": "package/LICENSE"}
# SHA-512 of the two members of that tarball, as cached
MEMBER_INTEGRITY = {
    "script": "sha512-rk2gI8FYzSbiZnDZ9M70SEhemyYIDwQQhb1zH9eK8kglMsp7bKJdu5+akb+wlTQxC9DiMmoMTNUQ0Z0Q/trdyw==",
    "license": "sha512-W6UMxX0BHmYkyhK1c7s6oN1F/yTLNiO4jRC7MYpHofJwFipuo8jKxRHjksMiFV3uUNZvaWDZ2LLoTY/I12Cg6Q==",
}


def _cached(directory: Path) -> dict[str, Path]:
    return {"script": directory / f"3Dmol-min-{VERSION}.js", "license": directory / f"3Dmol-LICENSE-{VERSION}.txt"}


def matches(data: bytes, integrity: str) -> bool:
    """Whether ``data`` has the digest of an npm-style integrity string ("sha512-<base64>")."""
    algorithm, _, expected = integrity.partition("-")
    return base64.b64encode(hashlib.new(algorithm, data).digest()).decode() == expected


def verify(data: bytes, integrity: str = INTEGRITY) -> None:
    if not matches(data, integrity):
        raise NrepError(f"the 3dmol {VERSION} download does not match its published checksum; not used")


def fetch(directory: Path, url: str = TARBALL_URL, timeout_s: float = 60.0) -> None:
    """Download the pinned tarball, check it, and cache the script and its licence."""
    if not url.startswith("https://"):
        raise NrepError(f"refusing to fetch 3Dmol.js over a non-HTTPS address: {url}")
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # https only, checked above
            data = response.read()
    except (urllib.error.URLError, OSError) as error:
        raise NrepError(f"cannot download 3Dmol.js from {url} ({error}); the report is written without the 3-D view") from error
    verify(data)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for key, member in MEMBERS.items():
            handle = archive.extractfile(member)
            if handle is None:
                raise NrepError(f"the 3dmol {VERSION} package has no {member}")
            data = handle.read()
            if not matches(data, MEMBER_INTEGRITY[key]):
                raise NrepError(f"{member} of the 3dmol {VERSION} package does not match its pinned checksum; not used")
            atomic_write_bytes(_cached(directory)[key], data)


def viewer_script(directory: Path | None = None, download: bool = True) -> tuple[str, str]:
    """(3Dmol.js source, its licence text), from the cache or, if allowed, the npm registry."""
    directory = directory or cache_dir("js")
    paths = _cached(directory)
    cached = _read_checked(paths)
    if cached is None:
        if not download:
            raise NrepError(f"3Dmol.js is not in {directory}, or is damaged there; "
                            "run python -m nrep.core.report.viewer_js while online to cache it")
        fetch(directory)
        cached = _read_checked(paths)
        if cached is None:
            raise NrepError(f"3Dmol.js cached in {directory} does not read back as written; the report has no 3-D view")
    return cached


def _read_checked(paths: dict[str, Path]) -> tuple[str, str] | None:
    """The cached script and licence if both are there and match their checksums; a damaged file is removed."""
    texts = {}
    for key, path in paths.items():
        try:
            data = path.read_bytes()
        except OSError:
            return None
        if not matches(data, MEMBER_INTEGRITY[key]):
            log.warning("the cached %s does not match its checksum (truncated or altered); fetching it again", path)
            path.unlink(missing_ok=True)
            return None
        texts[key] = data.decode("utf-8")
    return texts["script"], texts["license"]


if __name__ == "__main__":  # `python -m nrep.core.report.viewer_js`: fill the cache (e.g. before going offline)
    viewer_script()
    print(f"3Dmol.js {VERSION} cached in {cache_dir('js')}")
