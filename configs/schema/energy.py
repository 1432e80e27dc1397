"""energy=...: the energy models (core/energy), and which systems each applies to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, List, Optional

from omegaconf import MISSING

from nrep.configs.schema.checks import check_choice, openmm_platform_name, require
from nrep.configs.schema.choices import (
    AMBER_CUTOFF_FROM_ATOMS,
    AMBER_CUTOFF_NM,
    ENGINES,
    FORCEFIELDS,
    IMPLICIT_SOLVENTS,
    LOOP_CUTOFF,
    LOOP_CUTOFF_FROM_N,
    LOOP_ENERGIES,
    NORMALISATIONS,
    SOLVENTS,
)


def cutoff_by_size(chosen: float | None, n: int, default: float, from_n: int) -> float | None:
    """A cutoff key's meaning: null = ``default`` from ``from_n`` particles up (None below),
    0 = none at any size, a value = that cutoff. None: every pair."""
    if chosen is None:
        return default if n >= from_n else None
    return chosen or None


@dataclass
class RepulsionConfig:
    """Weak repulsion between uncoupled beads, as in the authors' loop scripts.

    strength * mean over sampled pairs of 1 / (r^power + softening); the pairs are
    round(pair_factor * n ln n) uncoupled pairs drawn from the run's seed and redrawn
    every ``resample_every`` steps (0: drawn once). The summary also reports the exact
    value over all uncoupled pairs.
    """

    enabled: bool = True
    strength: float = 2.5e-3
    power: float = 1.0
    softening: float = 1e-2
    pair_factor: float = 1.0
    resample_every: int = 3000

    def __post_init__(self) -> None:
        require(self.strength >= 0, f"energy.repulsion.strength must be >= 0 (got {self.strength})")
        require(self.power > 0, f"energy.repulsion.power must be > 0 (got {self.power})")
        require(self.softening > 0, f"energy.repulsion.softening must be > 0 (got {self.softening})")
        require(self.pair_factor > 0, f"energy.repulsion.pair_factor must be > 0 (got {self.pair_factor})")
        require(
            self.resample_every >= 0,
            f"energy.repulsion.resample_every must be >= 0 steps (got {self.resample_every})",
        )


@dataclass
class EnergyConfig:
    """An energy model. ``systems``: the systems (system.name) it applies to; ``options``:
    the ``energy=`` names it serves when they are not its own (one dataclass, several YAML
    files, like the loops'); a plug-in's config declares its own."""

    name: str = MISSING
    systems: ClassVar[tuple[str, ...]] = ()
    options: ClassVar[tuple[str, ...]] = ()


@dataclass
class LoopEnergyConfig(EnergyConfig):
    """Energies of the synthetic loops (reduced units), see ``core/energy/loop.py``.

    bond_lj: (r - bond_length)^2 on bonds + loop_strength * LJ on loop pairs.
    pure_lj: LJ on bonds + loop_strength * LJ on loop pairs, as one coupling matrix.
    LJ is the authors' softened 12-6 form 1/(s^12 + eps) - 1/(s^6 + 6 eps), s = r/bond_length,
    eps = lj_softening. ``lj_core_radius`` (in units of bond_length) replaces it below that
    radius by a linear wall, removing the false minimum at r = 0; null keeps their form.
    ``cutoff`` (in units of bond_length): the repulsion acts on uncoupled pairs within it
    only, drawn from a neighbour list of pairs within cutoff + ``skin`` (rebuilt when a
    bead has moved skin / 2); null chooses by size (LOOP_CUTOFF from LOOP_CUTOFF_FROM_N
    beads up, every pair below), 0 means every pair at any size. The bond and loop terms
    act on their listed pairs at any distance, and the summary's exact energies are over
    all pairs either way.
    """

    systems: ClassVar[tuple[str, ...]] = ("loop",)
    options: ClassVar[tuple[str, ...]] = LOOP_ENERGIES
    name: str = "pure_lj"
    normalisation: str = "mean"
    bond_length: float = 1.0
    loop_strength: float = 0.1
    lj_softening: float = 1e-2
    lj_core_radius: Optional[float] = None
    repulsion: RepulsionConfig = field(default_factory=RepulsionConfig)
    cutoff: Optional[float] = None
    skin: float = 0.5

    def cutoff_for(self, n: int) -> float | None:
        """The repulsion's cutoff (bond lengths) for a loop of n beads; None: every pair."""
        return cutoff_by_size(self.cutoff, n, LOOP_CUTOFF, LOOP_CUTOFF_FROM_N)

    def __post_init__(self) -> None:
        check_choice("energy.name", self.name, LOOP_ENERGIES)
        check_choice("energy.normalisation", self.normalisation, NORMALISATIONS)
        require(self.bond_length > 0, f"energy.bond_length must be > 0 (got {self.bond_length})")
        require(self.loop_strength > 0, f"energy.loop_strength must be > 0 (got {self.loop_strength})")
        require(self.lj_softening > 0, f"energy.lj_softening must be > 0 (got {self.lj_softening})")
        require(
            self.lj_core_radius is None or 0.5 <= self.lj_core_radius <= 1.1,
            "energy.lj_core_radius must lie in [0.5, 1.1] (where the soft LJ is repulsive) "
            f"or be null (got {self.lj_core_radius})",
        )
        require(self.cutoff is None or self.cutoff == 0 or self.cutoff >= 1.5,
                "energy.cutoff must be >= 1.5 bond lengths (the repulsion's neighbours), 0 (every pair) "
                f"or null (by size) (got {self.cutoff})")
        require(self.skin > 0, f"energy.skin must be > 0 bond lengths (got {self.skin})")
        require(not (self.cutoff and not self.repulsion.enabled),
                f"energy.cutoff={self.cutoff} acts on the repulsion, which energy.repulsion.enabled=false switches "
                "off; enable it or leave energy.cutoff unset")


@dataclass
class AmberWeightsConfig:
    """A factor on each AMBER term; 0 switches a term off (and out of the reported total)."""

    bond: float = 1.0
    angle: float = 1.0
    torsion: float = 1.0
    lj: float = 1.0
    coulomb: float = 1.0

    def __post_init__(self) -> None:
        for key, value in vars(self).items():
            require(value >= 0, f"energy.weights.{key} must be >= 0 (got {value})")
        require(any(vars(self).values()), "energy.weights switch every term off; keep at least one above 0")


@dataclass
class AmberEnergyConfig(EnergyConfig):
    """An OpenMM force field (default AMBER14) of a protein, in kJ/mol, in vacuum or an implicit solvent.

    ``engine``: who evaluates it. ``openmm`` (the default: 3-10x faster per step on a CPU,
    ``make bench``): OpenMM computes the energy and forces of ``forcefield`` in ``solvent``
    on ``platform`` (auto: CUDA with device=cuda when OpenMM has it, else the CPU with the
    run's threads), and torch differentiates through it; any method and optimiser runs on
    it, one structure at a time. ``torch``: nrep's own amber14 terms in vacuum (equal to
    OpenMM's to 1e-13): what batches of replicas, ``compile`` and ``weights`` need.
    ``solvent``: vacuum, an implicit model (gbn2, obc2, obc1, hct, gbn; OpenMM's
    implicit/<name>.xml, for AMBER force fields), or explicit water (method=openmm_md only:
    the run's energy is then the solute's in vacuum). ``weights`` scales each torch term
    (bond, angle, torsion, lj, coulomb; 0 switches one off). ``compile``: the torch
    engine's energy and gradient as one torch.compile'd function (needs a C++ compiler
    and every pair, so with it cutoff_nm=null means every pair; the first call compiles,
    ~10 s for 2JOF, reported as time_compile_s). ``cutoff_nm``: OpenMM's
    CutoffNonPeriodic on both engines (LJ truncated, Coulomb with a reaction field of
    dielectric 78.3, exceptions at any distance; the torch engine finds the pairs with a
    Verlet list of skin ``skin_nm``); null chooses by size (AMBER_CUTOFF_NM from
    AMBER_CUTOFF_FROM_ATOMS atoms up, every pair below: all the shared proteins), 0 means
    every pair (NoCutoff) at any size.
    """

    systems: ClassVar[tuple[str, ...]] = ("protein",)
    name: str = "amber"
    engine: str = "openmm"
    forcefield: str = "amber14-all.xml"
    solvent: str = "vacuum"
    platform: str = "auto"
    weights: AmberWeightsConfig = field(default_factory=AmberWeightsConfig)
    compile: bool = False
    cutoff_nm: Optional[float] = None
    skin_nm: float = 0.2

    def cutoff_for(self, n_atoms: int) -> float | None:
        """The non-bonded cutoff (nm) for a protein of n atoms; None: every pair (NoCutoff)."""
        if self.compile and self.cutoff_nm is None:  # the compiled energy needs every pair: the size rule yields
            return None
        return cutoff_by_size(self.cutoff_nm, n_atoms, AMBER_CUTOFF_NM, AMBER_CUTOFF_FROM_ATOMS)

    def __post_init__(self) -> None:
        check_choice("energy.engine", self.engine, ENGINES)
        require(self.cutoff_nm is None or self.cutoff_nm == 0 or self.cutoff_nm >= 0.5,
                f"energy.cutoff_nm must be >= 0.5 nm, 0 (every pair) or null (by size) (got {self.cutoff_nm})")
        require(self.skin_nm > 0, f"energy.skin_nm must be > 0 (got {self.skin_nm})")
        require(not (self.compile and self.cutoff_nm), f"energy.compile=true needs every pair (static shapes), not "
                f"energy.cutoff_nm={self.cutoff_nm}; set energy.cutoff_nm=0 or energy.compile=false")
        check_choice("energy.forcefield", self.forcefield, FORCEFIELDS)
        check_choice("energy.solvent", self.solvent, SOLVENTS)
        self.platform = openmm_platform_name("energy.platform", self.platform)
        require(not (self.forcefield.startswith("charmm") and self.solvent in IMPLICIT_SOLVENTS),
                f"energy.solvent={self.solvent} is parametrised for AMBER force fields, not {self.forcefield}; "
                "use energy.solvent=vacuum or an amber force field")
        if self.engine == "torch":
            require(self.solvent in ("vacuum", "explicit"),
                    f"energy.solvent={self.solvent} needs energy.engine=openmm (the torch engine is amber14 in vacuum)")
            require(self.forcefield == FORCEFIELDS[0],
                    f"energy.forcefield={self.forcefield} needs energy.engine=openmm (the torch engine has "
                    f"{FORCEFIELDS[0]}'s terms only)")
        else:
            require(not self.compile, "energy.compile compiles the torch engine; add energy.engine=torch")
            require(all(w == 1.0 for w in vars(self.weights).values()),
                    "energy.weights scale the torch engine's terms; add energy.engine=torch")


@dataclass
class SimpleEnergyConfig(EnergyConfig):
    """The paper's simplified protein model (model A, §4.2), reduced units, lengths in Å.

    k_bond (per Å²) and k_angle (per rad²) on (r - r0)² and (θ - θ0)² with r0, θ0 from
    AMBER; eps_vdw, eps_hbond, eps_hydrophobic on the softened V12,6 / V6,4 pair terms
    (0 switches a term off); softening: ζ; hbond_sigma_A: σ of polar-H/acceptor pairs;
    hydrophobic_radius_A: c, so σ = 2c between atoms of hydrophobic_residues;
    normalisation: ``sum`` or ``mean`` over each term's bonds, angles or pairs.
    """

    systems: ClassVar[tuple[str, ...]] = ("protein",)
    name: str = "simple"
    k_bond: float = 1.0
    k_angle: float = 1.0
    eps_vdw: float = 1.0
    eps_hbond: float = 1.0
    eps_hydrophobic: float = 1.0
    softening: float = 0.65
    hbond_sigma_A: float = 1.5
    hydrophobic_radius_A: float = 2.0
    hydrophobic_residues: List[str] = field(
        default_factory=lambda: ["ALA", "VAL", "LEU", "ILE", "MET", "PHE", "TRP", "PRO"]
    )
    normalisation: str = "sum"

    def __post_init__(self) -> None:
        for key in ("k_bond", "k_angle", "eps_vdw", "eps_hbond", "eps_hydrophobic"):
            value = getattr(self, key)
            require(value >= 0, f"energy.{key} must be >= 0 (got {value})")
        require(self.softening >= 0, f"energy.softening must be >= 0 (got {self.softening})")
        require(self.hbond_sigma_A > 0, f"energy.hbond_sigma_A must be > 0 (got {self.hbond_sigma_A})")
        require(
            self.hydrophobic_radius_A > 0,
            f"energy.hydrophobic_radius_A must be > 0 (got {self.hydrophobic_radius_A})",
        )
        check_choice("energy.normalisation", self.normalisation, NORMALISATIONS)


ENERGY_SCHEMAS: dict[str, type] = {"loop": LoopEnergyConfig, "amber": AmberEnergyConfig, "simple": SimpleEnergyConfig}
