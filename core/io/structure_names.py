"""Structure file names: which suffixes mean PDB or mmCIF text, gzipped or not, and a name's stem.

Kept apart from finding and reading the files (:mod:`nrep.core.systems.sources`) so that
the config layer can name a run's folder after its structure without importing them.
"""

from __future__ import annotations

from pathlib import Path

# Structure file suffixes by format; each may also carry ".gz".
PDB_SUFFIXES = (".pdb", ".ent")
CIF_SUFFIXES = (".cif", ".mmcif")
SUFFIXES = PDB_SUFFIXES + CIF_SUFFIXES
GZIP_SUFFIX = ".gz"
GZIP_MAGIC = b"\x1f\x8b"


def _plain_name(name: str) -> str:
    """``name`` without a trailing ``.gz`` (lower case)."""
    name = name.lower()
    return name[: -len(GZIP_SUFFIX)] if name.endswith(GZIP_SUFFIX) else name


def has_structure_suffix(name: str) -> bool:
    """True for ``x.pdb``, ``x.ent``, ``x.cif``, ``x.mmcif``, each also gzipped."""
    return _plain_name(name).endswith(SUFFIXES)


def is_gzipped(path: Path) -> bool:
    return path.name.lower().endswith(GZIP_SUFFIX)


def is_mmcif(path: Path) -> bool:
    """True when ``path``'s name says mmCIF (``.cif``, ``.mmcif``, gzipped or not)."""
    return _plain_name(path.name).endswith(CIF_SUFFIXES)


def structure_stem(name: str) -> str:
    """A structure file's name without its suffixes: ``1A8O.pdb.gz`` -> ``1A8O`` (other names as they are)."""
    plain = name[: -len(GZIP_SUFFIX)] if name.lower().endswith(GZIP_SUFFIX) else name
    for suffix in SUFFIXES:
        if plain.lower().endswith(suffix):
            return plain[: -len(suffix)]
    return plain
