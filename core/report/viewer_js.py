"""3Dmol.js, the molecule viewer inlined into HTML reports so that they work offline.

The script comes from the 3dmol package on the npm registry: a pinned version whose
tarball is checked against the registry's SHA-512 integrity before anything is read
from it, then kept in ~/.cache/nrep/js. Only two named members are read from the
tarball (the minified build and its licence); nothing is extracted to disk.
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

from nrep.core.errors import NrepError
from nrep.core.io.files import atomic_write_text
from nrep.core.io.paths import cache_dir

VERSION = "2.5.5"
TARBALL_URL = f"https://registry.npmjs.org/3dmol/-/3dmol-{VERSION}.tgz"
INTEGRITY = "sha512-kqNHouGqq3YfW58174tdERvm0XYTmP0tavQKOqIw1ouc2OJ7epkXEFrtEkVXV0clBZT2Ze2xHRC/qxX0u0qCdw=="
MEMBERS = {"script": "package/build/3Dmol-min.js", "license": "package/LICENSE"}


def _cached(directory: Path) -> dict[str, Path]:
    return {"script": directory / f"3Dmol-min-{VERSION}.js", "license": directory / f"3Dmol-LICENSE-{VERSION}.txt"}


def verify(data: bytes, integrity: str = INTEGRITY) -> None:
    algorithm, _, expected = integrity.partition("-")
    digest = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if digest != expected:
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
            atomic_write_text(_cached(directory)[key], handle.read().decode("utf-8"))


def viewer_script(directory: Path | None = None, download: bool = True) -> tuple[str, str]:
    """(3Dmol.js source, its licence text), from the cache or, if allowed, the npm registry."""
    directory = directory or cache_dir("js")
    paths = _cached(directory)
    if not all(p.is_file() for p in paths.values()):
        if not download:
            raise NrepError(f"3Dmol.js is not in {directory}")
        fetch(directory)
    return paths["script"].read_text(encoding="utf-8"), paths["license"].read_text(encoding="utf-8")


if __name__ == "__main__":  # `python -m nrep.core.report.viewer_js`: fill the cache (e.g. before going offline)
    viewer_script()
    print(f"3Dmol.js {VERSION} cached in {cache_dir('js')}")
