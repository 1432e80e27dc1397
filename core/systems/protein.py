"""A protein ready to fold: its reference structure, its start, its topology and force field.

:func:`load_protein` runs the whole chain: find the structure file (local directory,
cache or download), prepare one chain with PDBFixer and OpenMM, and build the start
(the extended chain, a random coil or an MD-unfolded structure, each cached; or the
structure itself). Coordinates are in
nm, float64, in the atom order of the prepared topology.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import io
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from nrep.core.errors import NrepError
from nrep.core.io.files import atomic_write_bytes
from nrep.core.io.paths import cache_dir as nrep_cache_dir
from nrep.core.io.paths import hashed_key
from nrep.core.io.structure_names import is_mmcif, structure_stem
from nrep.core.systems.extended import PEPTIDE_BOND_A, extended_start, one_letter_sequence
from nrep.core.systems.prepare import PreparedProtein, prepare_protein
from nrep.core.systems.rmsd import protein_atom_sets, protein_rmsd
from nrep.core.systems.sources import RCSB_DOWNLOAD, StructureSource, locate_structure, read_structure_text

if TYPE_CHECKING:
    import openmm

    from nrep.configs.schema import ProteinSystemConfig
    from nrep.core.systems.base import Metrics

log = logging.getLogger("nrep")

START_FORMAT = 3  # bump when a start builder changes what it builds


@dataclass
class ProteinSystem:
    """One prepared chain: reference and start coordinates (n, 3) in nm, float64."""

    name: str  # the PDB id, or the file's stem
    source: StructureSource
    prepared: PreparedProtein
    x0: torch.Tensor
    start: str  # extended, random, unfold_md or native
    length_unit = "nm"

    @property
    def topology(self) -> openmm.app.Topology:
        return self.prepared.topology

    @property
    def reference(self) -> torch.Tensor:
        return torch.from_numpy(self.prepared.positions_nm)

    @property
    def n(self) -> int:
        return self.x0.shape[0]

    @property
    def n_residues(self) -> int:
        return self.topology.getNumResidues()

    @property
    def sequence(self) -> str:
        return "".join(_letter(r.name) for r in self.topology.residues())

    @property
    def default_mode_count(self) -> int:
        """The paper's first choice for proteins: 3 x the number of residues (at most n)."""
        return min(self.n, 3 * self.n_residues)

    @property
    def coupled_pairs(self) -> torch.Tensor:
        """The covalent bonds, shape (m, 2)."""
        return torch.tensor([[a.index, b.index] for a, b in self.topology.bonds()], dtype=torch.long)

    @functools.cached_property
    def atom_sets(self) -> dict[str, torch.Tensor]:
        """Atom indices of the RMSD sets: ca, backbone, heavy, all (residues built from the sequence left out)."""
        return protein_atom_sets(self.topology, self.prepared.modelled_residues)

    def rmsd(self, x_nm: torch.Tensor) -> dict[str, float]:
        """Kabsch RMSD in Å to the reference on CA, backbone, heavy and all atoms."""
        return protein_rmsd(x_nm, self.reference, self.atom_sets)

    @property
    def trace_metrics(self) -> Metrics:
        return self.rmsd

    def describe(self) -> dict[str, object]:
        """Summary columns about the structure and how it was prepared."""
        return {
            "pdb": self.name,
            "structure_file": str(self.source.path),
            "structure_origin": self.source.origin,
            "chain": self.prepared.chain,
            "sequence": self.sequence,
            "n_residues": self.n_residues,
            "start": self.start,
            "structure_notes": "; ".join(self.prepared.notes),
            **{f"start_{name}": value for name, value in self.rmsd(self.x0).items()},
        }


def _letter(name: str) -> str:
    try:
        return one_letter_sequence([name])
    except ValueError:
        return "X"


# Prepared structures of this process, by file content and preparation settings: the
# front-end check, the run and every seed of a batch share one preparation.
_PREPARED: collections.OrderedDict[tuple, PreparedProtein] = collections.OrderedDict()
PREPARED_KEPT = 16


def clear_prepared() -> None:
    """Forget the prepared structures of this process (tests; a file edited in place is hashed anew anyway)."""
    _PREPARED.clear()


def prepared_structure(path: Path, **settings: object) -> PreparedProtein:
    """``prepare_protein(path, **settings)``, once per file content and settings in this process."""
    # keyed by the text (a gzipped copy shares the plain file's preparation)
    text = read_structure_text(path)
    key = (hashlib.sha256(text.encode()).hexdigest(), is_mmcif(path), tuple(sorted(settings.items())))
    if key in _PREPARED:
        _PREPARED.move_to_end(key)
        return _PREPARED[key]
    started = time.perf_counter()
    prepared = prepare_protein(path, **settings)
    log.debug("prepared %s in %.2f s", path.name, time.perf_counter() - started)
    _PREPARED[key] = prepared
    while len(_PREPARED) > PREPARED_KEPT:
        _PREPARED.popitem(last=False)
    return prepared


def locate_and_prepare(
    spec: str,
    chain: str | None = None,
    local_dir: str | None = None,
    cache_dir: str | None = None,
    base_url: str = RCSB_DOWNLOAD,
    timeout_s: float = 30.0,
    ph: float = 7.0,
    replace_nonstandard: bool = False,
    max_atoms: int | None = None,
    model: int = 1,
    gaps: str = "fill",
) -> tuple[StructureSource, PreparedProtein]:
    """Find (or download) the structure ``spec`` (a PDB id or a structure file) and prepare its chains.

    ``chain``, ``model`` and ``gaps`` as :func:`prepare_protein` takes them; ``max_atoms``
    (None: no limit) refuses a prepared system with more atoms, hydrogens included.
    """
    source = locate_structure(
        spec,
        Path(local_dir).expanduser() if local_dir else None,
        Path(cache_dir).expanduser() if cache_dir else None,
        base_url,
        timeout_s,
    )
    prepared = prepared_structure(
        source.path, chain=chain, ph=ph, replace_nonstandard=replace_nonstandard, model=model, gaps=gaps
    )
    check_atom_limit(source_name(source), prepared, max_atoms)
    return source, prepared


def source_name(source: StructureSource) -> str:
    """The PDB id, or the file's name without its suffixes (``1A8O.pdb.gz`` -> ``1A8O``)."""
    return source.pdb_id or structure_stem(source.path.name)


def check_atom_limit(name: str, prepared: PreparedProtein, max_atoms: int | None) -> None:
    """Refuse a prepared chain above ``max_atoms``: pair energies and slow modes grow as n^2 and beyond."""
    n = prepared.positions_nm.shape[0]
    if max_atoms is not None and n > max_atoms:
        raise NrepError(
            f"chain {prepared.chain} of {name} has {n} atoms with hydrogens, more than system.max_atoms={max_atoms}; "
            f"raise it (system.max_atoms={n}) if this machine has the memory and time, or pick a smaller chain"
        )


def structure_settings(system: ProteinSystemConfig) -> dict[str, object]:
    """Where to find a protein and how to prepare it, as :func:`locate_and_prepare` takes them."""
    return {
        "chain": system.chain,
        "local_dir": system.local_dir,
        "cache_dir": system.cache_dir,
        "base_url": system.base_url,
        "timeout_s": system.download_timeout_s,
        "ph": system.ph,
        "replace_nonstandard": system.replace_nonstandard,
        "max_atoms": system.max_atoms,
        "model": system.model,
        "gaps": system.gaps,
    }


def load_protein(
    spec: str,
    start: str = "extended",
    start_options: dict | None = None,
    start_cache_dir: str | None = None,
    cache_start: bool = True,
    seed: int = 0,
    ph: float = 7.0,
    **structure: object,
) -> ProteinSystem:
    """Find, prepare and start the protein ``spec``; ``structure`` as :func:`locate_and_prepare`'s.

    ``start``: native, extended, random or unfold_md; ``start_options`` are the builder's
    keyword arguments (peptide_bond for extended and random; the dynamics of unfold_md).
    Random and unfolded starts are drawn from ``seed``.
    """
    source, prepared = locate_and_prepare(spec, ph=ph, **structure)
    log.info("structure %s (%s)", source.path, source.origin)
    for note in prepared.notes:
        log.info("%s: %s", source.path.name, note)
    name = source_name(source)
    if start == "native":
        x0 = prepared.positions_nm.copy()
    elif start in START_BUILDERS:
        x0 = cached_start(prepared, start, start_options or {}, seed, ph, start_cache_dir, cache_start)
    else:
        raise ValueError(f"unknown protein start {start!r}; use {', '.join(['native', *START_BUILDERS])}")
    return ProteinSystem(name, source, prepared, torch.from_numpy(x0), start)


def _extended(prepared: PreparedProtein, seed: int, ph: float, peptide_bond: float = PEPTIDE_BOND_A) -> np.ndarray:
    return extended_start(prepared.topology, prepared.variants, ph, peptide_bond)


def _random(prepared: PreparedProtein, seed: int, ph: float, peptide_bond: float = PEPTIDE_BOND_A) -> np.ndarray:
    return extended_start(prepared.topology, prepared.variants, ph, peptide_bond, np.random.default_rng(seed))


def _unfolded(prepared: PreparedProtein, seed: int, ph: float, **dynamics: object) -> np.ndarray:
    from nrep.core.systems.unfold import unfold_md

    log.info("unfolding by Langevin dynamics (%s) ...", ", ".join(f"{k}={v}" for k, v in dynamics.items()))
    return unfold_md(prepared.topology, prepared.positions_nm, seed, **dynamics)


# start -> (builder, whether the seed changes it)
START_BUILDERS = {"extended": (_extended, False), "random": (_random, True), "unfold_md": (_unfolded, True)}


def cached_start(
    prepared: PreparedProtein,
    start: str,
    options: dict,
    seed: int,
    ph: float,
    cache_dir: str | None,
    use_cache: bool,
) -> np.ndarray:
    """The ``start`` of ``prepared`` (n, 3) in nm, from the cache when it holds the same chain, settings and seed."""
    build, seeded = START_BUILDERS[start]
    atoms = [(a.residue.chain.index, a.residue.index, a.residue.name, a.name) for a in prepared.topology.atoms()]
    description = {"format": START_FORMAT, "start": start, "options": options, "seed": seed if seeded else None,
                   "atoms": atoms, "variants": prepared.variants, "ph": ph}
    key = hashed_key(description)
    root = nrep_cache_dir("starts", cache_dir)
    path = root / f"{start}-{key}.npy"
    if use_cache and path.is_file():
        try:
            x0 = np.load(path, allow_pickle=False)  # never unpickle what sits in a cache
        except (OSError, ValueError, EOFError) as error:
            log.warning("ignoring the unreadable cached start %s (%s); building it again", path, error)
            x0 = None
        if x0 is not None and x0.shape == (len(atoms), 3):
            log.info("%s start from the cache %s", start, path)
            return x0
    x0 = build(prepared, seed, ph, **options)
    if use_cache:
        buffer = io.BytesIO()
        np.save(buffer, x0)
        atomic_write_bytes(path, buffer.getvalue())
    return x0
