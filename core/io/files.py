"""Writing a run's results: atomically, and never over another run's files.

A run directory holds ``summary.json`` (one flat record), ``trace.csv``, the final
coordinates and Hydra's ``.hydra/``. Every file is written to a temporary name in the
same directory and then renamed, so a reader never sees half a file and a crash never
leaves one behind.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np

from nrep.core.errors import NrepError

if TYPE_CHECKING:
    import openmm.app

SUMMARY = "summary.json"
TRACE = "trace.csv"
CHECKPOINT = "checkpoint.pt"  # its format: core/run/checkpoint.py

# A trajectory's files (core/io/trajectory.py): one per output.trajectory_format, the table
# of its frames, and the topology the xtc and dcd frames are loaded onto
TRAJECTORY_FILES = {"xtc": "trajectory.xtc", "dcd": "trajectory.dcd", "pdb": "trajectory.pdb",
                    "extxyz": "trajectory.xyz"}
TRAJECTORY_TABLE = "trajectory.csv"
TOPOLOGY = "topology.pdb"

# What makes a directory a run's directory: if one of these is there, the run has
# written results and a new run must not write over them.
RUN_MARKERS = (SUMMARY, TRACE)
# Every file a run writes into its directory (its writers in run/outputs.py, the record,
# the checkpoint, Hydra's log and config); ``--overwrite`` removes these and nothing else.
# tests/core/run/test_single.py checks that a run writes no file outside this list.
RUN_FILES = (SUMMARY, TRACE, CHECKPOINT, "nrep.log", "final.npy", "best.npy", "final.xyz", "final.png",
             "reference.pdb", "start.pdb", "final.pdb", "best.pdb", *TRAJECTORY_FILES.values(), TRAJECTORY_TABLE,
             TOPOLOGY)
RUN_FOLDERS = (".hydra",)  # Hydra's record of the config: config.yaml, hydra.yaml, overrides.yaml
# What a sweep adds above its jobs' directories (cli/sweep.py); the stop file says a signal stopped it
SWEEP_STOP = ".nrep.stop"
SWEEP_FILES = ("sweep_summary.csv", "multirun.yaml", SWEEP_STOP)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename (readers never see half a file).

    A full disk or a place that cannot be written is a NrepError naming the directory
    and what is needed; nothing is left behind.
    """
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; results are shared like any other file
        with os.fdopen(fd, "wb") as handle:
            _write(path, handle, data)
        os.replace(tmp, path)
    except BaseException as error:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno in WRITE_ERRNOS:
            raise NrepError(cannot_write(path, error, len(data))) from None
        raise


def _write(path: Path, handle: Any, data: bytes) -> None:  # path: where it goes (tests inject faults by it)
    handle.write(data)
    handle.flush()
    os.fsync(handle.fileno())


# the errors of a place that cannot take a file: full, over quota, read-only, not permitted
WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def cannot_write(path: Path, error: OSError, size: int) -> str:
    """One line: which directory cannot take which file, and what to do."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        try:
            free = f"{shutil.disk_usage(path.parent).free / 1e6:.1f} MB free"
        except OSError:
            free = "free space unknown"
        return (f"no space left in {path.parent} to write {path.name} ({error.strerror}; it needs {size / 1e6:.1f} MB, "
                f"{free}); free at least that much there or choose another --out")
    return f"cannot write {path.name} into {path.parent} ({error.strerror}); make it writable or choose another --out"


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _json_safe(value: Any) -> Any:
    """NaN and infinities as strings, so that summary.json stays strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_json(path: Path, record: Mapping[str, Any]) -> None:
    atomic_write_text(path, json.dumps(_json_safe(record), indent=2, sort_keys=False) + "\n")


def write_csv(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    rows = list(rows)
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0].keys()), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def write_npy(path: Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue())


def _extxyz_value(value: Any) -> str:
    if isinstance(value, float):
        return repr(float(value))  # the shortest text that reads back as the same float
    text = str(value)
    return f'"{text}"' if any(c.isspace() or c in '="' for c in text) else text


def write_extxyz(path: Path, symbols: Sequence[str], frames: Sequence[np.ndarray],
                 info: Sequence[Mapping[str, Any]]) -> None:
    """Extended XYZ (ASE's format; VMD and OVITO read it as XYZ): per frame the atom count, a
    comment line of ``key=value`` pairs (``info``, e.g. step, energy, units) and ``symbol x y z``
    lines; non-periodic (``pbc="F F F"``)."""
    lines = []
    for x, keys in zip(frames, info):
        comment = " ".join(f"{key}={_extxyz_value(value)}" for key, value in keys.items())
        lines += [str(len(x)), f'Properties=species:S:1:pos:R:3 {comment} pbc="F F F"']
        lines += [f"{s} {a:.8f} {b:.8f} {c:.8f}" for s, (a, b, c) in zip(symbols, x)]
    atomic_write_text(path, "\n".join(lines) + "\n")


def has_results(directory: Path) -> bool:
    """True when ``directory`` already holds a run's results."""
    return any((directory / name).exists() for name in RUN_MARKERS)


def check_run_dir(directory: Path, overwrite: bool) -> None:
    """Refuse to write into a directory that already holds a run's results, unless told to; told to,
    remove the earlier run's files (Hydra's record of the new run stays)."""
    if has_results(directory) and not overwrite:
        raise NrepError(
            f"{directory} already holds a run's results; choose another output directory, "
            "or pass --overwrite (output.overwrite=true) to replace them"
        )
    if has_results(directory) or (directory / CHECKPOINT).exists():
        remove_run_files(directory, keep=("nrep.log", ".hydra"))


def remove_run_files(directory: Path, keep: Iterable[str] = ()) -> list[str]:
    """Remove an earlier run's files from ``directory`` (RUN_FILES, RUN_FOLDERS, a sweep's, and
    replica folders seed<k>/ holding only such files), never anything else; return what was removed."""
    import shutil

    removed = []
    for name in (*RUN_FILES, *SWEEP_FILES):
        path = directory / name
        if name not in keep and path.is_file():
            path.unlink()
            removed.append(name)
    for name in RUN_FOLDERS:
        path = directory / name
        if name not in keep and path.is_dir():
            shutil.rmtree(path)
            removed.append(name)
    for replica in sorted(directory.glob("seed*")):
        if replica.is_dir() and replica.name[4:].isdigit():
            removed += [f"{replica.name}/{n}" for n in remove_run_files(replica)]
            if not any(replica.iterdir()):
                replica.rmdir()
    return removed


def check_new_run_dir(directory: Path, overwrite: bool) -> None:
    """Before a run starts: refuse a directory that is not empty (but for nrep's lock), unless told to overwrite."""
    from nrep.core.io.locks import LOCK

    if directory.is_dir() and any(not p.name.startswith(LOCK) for p in directory.iterdir()) and not overwrite:
        raise NrepError(
            f"output directory {directory} is not empty; choose another one (--out DIR), "
            "or pass --overwrite to write over an earlier run"
        )


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists are kept as values."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, prefix=f"{name}."))
        else:
            flat[name] = value
    return flat


def write_pdb(path: Path, topology: openmm.app.Topology, x_nm: np.ndarray) -> np.ndarray:
    """Write a PDB file with OpenMM (standard residue and atom names, CONECT for non-standard
    bonds); return the coordinates as written (nm, rounded to the file's 0.001 Å)."""
    from openmm import app, unit

    buffer = io.StringIO()
    app.PDBFile.writeFile(topology, x_nm * unit.nanometer, buffer, keepIds=True)
    text = buffer.getvalue()
    atomic_write_bytes(path, text.encode())
    written = app.PDBFile(io.StringIO(text)).getPositions(asNumpy=True)
    return np.asarray(written.value_in_unit(unit.nanometer), dtype=np.float64)


def write_pdb_models(path: Path, topology: openmm.app.Topology, frames: list[np.ndarray]) -> None:
    """A multi-model PDB file (MODEL 1, 2, ...), one model per frame of coordinates in nm."""
    from openmm import app, unit

    buffer = io.StringIO()
    app.PDBFile.writeHeader(topology, buffer)
    for number, x_nm in enumerate(frames, start=1):
        app.PDBFile.writeModel(topology, x_nm * unit.nanometer, buffer, modelIndex=number, keepIds=True)
    app.PDBFile.writeFooter(topology, buffer)
    atomic_write_bytes(path, buffer.getvalue().encode())
