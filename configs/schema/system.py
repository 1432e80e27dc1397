"""system=loop | protein: what is minimised (core/systems)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from omegaconf import MISSING

from nrep.configs.schema.checks import check_choice, require
from nrep.configs.schema.choices import GAP_CHOICES


@dataclass
class SystemConfig:
    name: str = MISSING


@dataclass
class LoopSystemConfig(SystemConfig):
    """Synthetic bead loop: a chain of ``n`` beads, bead i coupled to i+1 and to i+loop_spacing."""

    name: str = "loop"
    n: int = 400
    loop_spacing: int = 10

    def __post_init__(self) -> None:
        require(self.loop_spacing >= 2, f"system.loop_spacing must be >= 2 (got {self.loop_spacing})")
        require(
            self.n > self.loop_spacing,
            f"system.n={self.n} is too small: a loop with loop_spacing={self.loop_spacing} "
            f"needs n >= {self.loop_spacing + 1}",
        )


@dataclass
class ProteinSystemConfig(SystemConfig):
    """Protein chains from the PDB, all atoms with hydrogens (paper §4).

    pdb: a PDB id (4 characters), looked up in local_dir, then cache_dir, then downloaded
        from base_url (``<ID>.pdb``, else ``<ID>.cif``) into cache_dir; or a path to a
        .pdb/.ent/.cif file, plain or gzipped (.gz). The reference is model ``model``,
        alternate locations resolved by highest occupancy; waters, ions and ligands are
        dropped (noted in the summary).
    chain: the chain to fold; null = the first protein chain (nucleic-acid chains are
        skipped); "A,B" or "A+B" folds those chains together as one system; "all" every
        protein chain. In a sweep write a chain list as A+B (a comma there separates jobs).
    model: the model of an NMR ensemble to take (1-based).
    gaps: residues missing inside a chain: fill (built from the file's sequence by
        PDBFixer, left out of the RMSD) or refuse.
    local_dir: null = $NREP_PDB_DIR (when set). cache_dir: null = ~/.cache/nrep/pdb.
    ph: the pH at which OpenMM chooses protonation states when it adds hydrogens.
    replace_nonstandard: replace non-standard residues (e.g. NLE) by their standard
        parents with PDBFixer; false refuses such structures.
    max_atoms: refuse a prepared chain with more atoms (hydrogens included) before any
        run starts; pair energies and slow modes grow as n^2 (and the dense Hessian as
        (3n)^2), so a wrong --pdb or --chain fails at once instead of exhausting memory.
        null = no limit.
    """

    name: str = "protein"
    pdb: Optional[str] = None
    chain: Optional[str] = None
    local_dir: Optional[str] = None
    cache_dir: Optional[str] = None
    base_url: str = "https://files.rcsb.org/download"
    download_timeout_s: float = 30.0
    ph: float = 7.0
    replace_nonstandard: bool = False
    max_atoms: Optional[int] = 20000
    model: int = 1
    gaps: str = "fill"

    def __post_init__(self) -> None:
        require(bool(self.pdb), "system.pdb is not set: pass --pdb ID (e.g. 2JOF) or --pdb path/to/file.pdb")
        require(self.model >= 1, f"system.model must be >= 1: models are numbered from 1 (got {self.model})")
        check_choice("system.gaps", self.gaps, GAP_CHOICES)
        require(
            self.max_atoms is None or self.max_atoms >= 1,
            f"system.max_atoms must be >= 1 or null (got {self.max_atoms})",
        )
        require(0 <= self.ph <= 14, f"system.ph must lie in [0, 14] (got {self.ph})")
        require(self.download_timeout_s > 0, f"system.download_timeout_s must be > 0 (got {self.download_timeout_s})")


SYSTEM_SCHEMAS: dict[str, type[SystemConfig]] = {"loop": LoopSystemConfig, "protein": ProteinSystemConfig}
