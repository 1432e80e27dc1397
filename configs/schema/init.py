"""init=...: where a run starts (loops: a cloud; proteins: extended, random, unfold_md, native)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

from omegaconf import MISSING

from nrep.configs.schema.checks import check_langevin, require


@dataclass
class InitConfig:
    """A start. ``systems``: the systems (system.name) it applies to; a plug-in's declares its own."""

    name: str = MISSING
    systems: ClassVar[tuple[str, ...]] = ()


@dataclass
class CloudInitConfig(InitConfig):
    """Gaussian cloud start for loops: X0 = std * N(0, 1) per coordinate, drawn from the seed.

    ``std: null`` uses the authors' choice std = n^(1/3) / 4, i.e. (n^(1/3)/2) * N(0,1) / 2.
    """

    systems: ClassVar[tuple[str, ...]] = ("loop",)
    name: str = "cloud"
    std: Optional[float] = None

    def __post_init__(self) -> None:
        require(self.std is None or self.std > 0, f"init.std must be > 0 or null (got {self.std})")


@dataclass
class CachedStartConfig(InitConfig):
    """A protein start that is built once and kept: cache_dir null = ~/.cache/nrep/starts."""

    systems: ClassVar[tuple[str, ...]] = ("protein",)

    cache: bool = True
    cache_dir: Optional[str] = None


@dataclass
class ExtendedInitConfig(CachedStartConfig):
    """Proteins: the sequence as a fully extended chain (phi = psi = omega = 180 degrees).

    peptide_bond_A: the C-N peptide bond length in Å (the paper's 1.32). The start is the
    same for every method and seed.
    """

    name: str = "extended"
    peptide_bond_A: float = 1.32

    def __post_init__(self) -> None:
        require(
            1.0 <= self.peptide_bond_A <= 2.0,
            f"init.peptide_bond_A must lie in [1.0, 2.0] Å (got {self.peptide_bond_A})",
        )


@dataclass
class RandomInitConfig(ExtendedInitConfig):
    """Proteins: a self-avoiding random coil with ideal geometry, drawn from the run's seed.

    Each residue's phi and the previous psi are uniform in [-180, 180) degrees (omega 180),
    redrawn until the new backbone is 3 Å from the chain two or more residues back.
    """

    name: str = "random"


@dataclass
class UnfoldMDInitConfig(CachedStartConfig):
    """Proteins: the structure unfolded by OpenMM Langevin dynamics (the authors' code).

    temperature_K, steps, timestep_fs, friction_per_ps: the dynamics (20,000 steps of
    2 fs at 1000 K, as theirs); solvent: gbn2 (or another implicit model), ``explicit``
    (TIP3P-FB box with padding_nm, PME, their setup) or ``vacuum``; platform: OpenMM's
    (``auto`` = CUDA if present, else the CPU on one thread, which is bit-reproducible;
    CUDA is not). Its own keys, not the run's energy: the start is made once and cached,
    and every method and energy of a comparison starts from the same one. amber14 always.
    Cached per protein, settings and seed.
    """

    name: str = "unfold_md"
    temperature_K: float = 1000.0
    steps: int = 20000
    timestep_fs: float = 2.0
    friction_per_ps: float = 1.0
    solvent: str = "gbn2"
    padding_nm: float = 1.0
    platform: str = "auto"

    def __post_init__(self) -> None:
        require(self.steps >= 0, f"init.steps must be >= 0 (got {self.steps})")
        check_langevin("init", self)


@dataclass
class NativeInitConfig(InitConfig):
    """Proteins: start from the prepared PDB structure itself (refinement)."""

    systems: ClassVar[tuple[str, ...]] = ("protein",)

    name: str = "native"


INIT_SCHEMAS: dict[str, type[InitConfig]] = {
    "cloud": CloudInitConfig, "extended": ExtendedInitConfig, "random": RandomInitConfig,
    "unfold_md": UnfoldMDInitConfig, "native": NativeInitConfig,
}
