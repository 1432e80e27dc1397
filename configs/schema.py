"""Typed configuration: one dataclass per config group option.

Hydra composes the YAML files under ``configs/`` on top of these dataclasses, so a key
that is not declared here is an error and every value is type-checked. Each
``__post_init__`` refuses impossible values with a message that names the key; it runs
when :func:`to_config` turns the composed ``DictConfig`` into these objects.

The YAML files only select a schema and set what differs from its defaults; the defaults
live here, in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, List, Optional

from omegaconf import MISSING, DictConfig, OmegaConf

from nrep.core.errors import NrepError


class ConfigError(NrepError, ValueError):
    """A configuration value that cannot work; the message says which key and why."""


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    _require(value in choices, f"{key}={value!r} is not one of: {', '.join(choices)}")


# --------------------------------------------------------------------------- system

# What to do with residues missing inside a protein chain (see ProteinSystemConfig.gaps).
GAP_CHOICES = ("fill", "refuse")


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
        _require(self.loop_spacing >= 2, f"system.loop_spacing must be >= 2 (got {self.loop_spacing})")
        _require(
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
        _require(bool(self.pdb), "system.pdb is not set: pass --pdb ID (e.g. 2JOF) or --pdb path/to/file.pdb")
        _require(self.model >= 1, f"system.model must be >= 1: models are numbered from 1 (got {self.model})")
        _check_choice("system.gaps", self.gaps, GAP_CHOICES)
        _require(
            self.max_atoms is None or self.max_atoms >= 1,
            f"system.max_atoms must be >= 1 or null (got {self.max_atoms})",
        )
        _require(0 <= self.ph <= 14, f"system.ph must lie in [0, 14] (got {self.ph})")
        _require(self.download_timeout_s > 0, f"system.download_timeout_s must be > 0 (got {self.download_timeout_s})")


# --------------------------------------------------------------------------- init


@dataclass
class InitConfig:
    name: str = MISSING


@dataclass
class CloudInitConfig(InitConfig):
    """Gaussian cloud start for loops: X0 = std * N(0, 1) per coordinate, drawn from the seed.

    ``std: null`` uses the authors' choice std = n^(1/3) / 4, i.e. (n^(1/3)/2) * N(0,1) / 2.
    """

    name: str = "cloud"
    std: Optional[float] = None

    def __post_init__(self) -> None:
        _require(self.std is None or self.std > 0, f"init.std must be > 0 or null (got {self.std})")


@dataclass
class CachedStartConfig(InitConfig):
    """A protein start that is built once and kept: cache_dir null = ~/.cache/nrep/starts."""

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
        _require(
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


UNFOLD_SOLVENTS = ("implicit", "explicit", "vacuum")
OPENMM_PLATFORMS = ("auto", "reference", "cpu", "cuda")


@dataclass
class UnfoldMDInitConfig(CachedStartConfig):
    """Proteins: the structure unfolded by OpenMM Langevin dynamics (the authors' code).

    temperature_K, steps, timestep_fs, friction_per_ps: the dynamics (20,000 steps of
    2 fs at 1000 K, as theirs); solvent: ``implicit`` (GBn2), ``explicit`` (TIP3P-FB box
    with padding_nm, PME, their setup) or ``vacuum``; platform: OpenMM's (``auto`` =
    CUDA if present, else the CPU on one thread, which is bit-reproducible; CUDA is
    not). Cached per protein, settings and seed.
    """

    name: str = "unfold_md"
    temperature_K: float = 1000.0
    steps: int = 20000
    timestep_fs: float = 2.0
    friction_per_ps: float = 1.0
    solvent: str = "implicit"
    padding_nm: float = 1.0
    platform: str = "auto"

    def __post_init__(self) -> None:
        _require(self.temperature_K > 0, f"init.temperature_K must be > 0 (got {self.temperature_K})")
        _require(self.steps >= 0, f"init.steps must be >= 0 (got {self.steps})")
        _require(0 < self.timestep_fs <= 4, f"init.timestep_fs must lie in (0, 4] (got {self.timestep_fs})")
        _require(self.friction_per_ps > 0, f"init.friction_per_ps must be > 0 (got {self.friction_per_ps})")
        _require(self.padding_nm > 0, f"init.padding_nm must be > 0 (got {self.padding_nm})")
        _check_choice("init.solvent", self.solvent, UNFOLD_SOLVENTS)
        _check_choice("init.platform", self.platform, OPENMM_PLATFORMS)


@dataclass
class NativeInitConfig(InitConfig):
    """Proteins: start from the prepared PDB structure itself (refinement)."""

    name: str = "native"


# --------------------------------------------------------------------------- energy


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
        _require(self.strength >= 0, f"energy.repulsion.strength must be >= 0 (got {self.strength})")
        _require(self.power > 0, f"energy.repulsion.power must be > 0 (got {self.power})")
        _require(self.softening > 0, f"energy.repulsion.softening must be > 0 (got {self.softening})")
        _require(self.pair_factor > 0, f"energy.repulsion.pair_factor must be > 0 (got {self.pair_factor})")
        _require(
            self.resample_every >= 0,
            f"energy.repulsion.resample_every must be >= 0 steps (got {self.resample_every})",
        )


@dataclass
class EnergyConfig:
    name: str = MISSING
    # The systems (system.name) this energy applies to; a plug-in's config declares its own.
    systems: ClassVar[tuple[str, ...]] = ()


LOOP_ENERGIES = ("bond_lj", "pure_lj")
# The energy options of each system (the YAML files of configs/energy/); plug-ins add theirs.
ENERGY_OPTIONS = {"loop": LOOP_ENERGIES, "protein": ("amber", "simple")}


def energies_for(system: str) -> tuple[str, ...]:
    """The energy options that apply to ``system``, plug-ins included."""
    plugins = tuple(name for name, node in PLUGIN_OPTIONS.get("energy", {}).items() if system in node.systems)
    return (*ENERGY_OPTIONS.get(system, ()), *plugins)
NORMALISATIONS = ("mean", "sum")


@dataclass
class LoopEnergyConfig(EnergyConfig):
    """Energies of the synthetic loops (reduced units), see ``core/energy/loop.py``.

    bond_lj: (r - bond_length)^2 on bonds + loop_strength * LJ on loop pairs.
    pure_lj: LJ on bonds + loop_strength * LJ on loop pairs, as one coupling matrix.
    LJ is the authors' softened 12-6 form 1/(s^12 + eps) - 1/(s^6 + 6 eps), s = r/bond_length,
    eps = lj_softening. ``lj_core_radius`` (in units of bond_length) replaces it below that
    radius by a linear wall, removing the false minimum at r = 0; null keeps their form.
    """

    systems: ClassVar[tuple[str, ...]] = ("loop",)
    name: str = "pure_lj"
    normalisation: str = "mean"
    bond_length: float = 1.0
    loop_strength: float = 0.1
    lj_softening: float = 1e-2
    lj_core_radius: Optional[float] = None
    repulsion: RepulsionConfig = field(default_factory=RepulsionConfig)

    def __post_init__(self) -> None:
        _check_choice("energy.name", self.name, LOOP_ENERGIES)
        _check_choice("energy.normalisation", self.normalisation, NORMALISATIONS)
        _require(self.bond_length > 0, f"energy.bond_length must be > 0 (got {self.bond_length})")
        _require(self.loop_strength > 0, f"energy.loop_strength must be > 0 (got {self.loop_strength})")
        _require(self.lj_softening > 0, f"energy.lj_softening must be > 0 (got {self.lj_softening})")
        _require(
            self.lj_core_radius is None or 0.5 <= self.lj_core_radius <= 1.1,
            "energy.lj_core_radius must lie in [0.5, 1.1] (where the soft LJ is repulsive) "
            f"or be null (got {self.lj_core_radius})",
        )


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
            _require(value >= 0, f"energy.weights.{key} must be >= 0 (got {value})")
        _require(any(vars(self).values()), "energy.weights switch every term off; keep at least one above 0")


@dataclass
class AmberEnergyConfig(EnergyConfig):
    """AMBER14 (amber14-all.xml) in vacuum without cutoff, in kJ/mol, equal to OpenMM's.

    Bonds, angles, periodic torsions (proper and improper), Lennard-Jones and Coulomb with
    OpenMM's exclusions and scaled 1-4 exceptions; ``weights`` scales each term.
    ``compile``: evaluate the non-bonded pair blocks through torch.compile (needs a C++
    compiler; the first run compiles for about a minute, later runs reuse the on-disk
    cache); it pays for chains of a few thousand atoms, not for small proteins.
    """

    systems: ClassVar[tuple[str, ...]] = ("protein",)
    name: str = "amber"
    weights: AmberWeightsConfig = field(default_factory=AmberWeightsConfig)
    compile: bool = False


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
            _require(value >= 0, f"energy.{key} must be >= 0 (got {value})")
        _require(self.softening >= 0, f"energy.softening must be >= 0 (got {self.softening})")
        _require(self.hbond_sigma_A > 0, f"energy.hbond_sigma_A must be > 0 (got {self.hbond_sigma_A})")
        _require(
            self.hydrophobic_radius_A > 0,
            f"energy.hydrophobic_radius_A must be > 0 (got {self.hydrophobic_radius_A})",
        )
        _check_choice("energy.normalisation", self.normalisation, ("sum", "mean"))


# --------------------------------------------------------------------------- stop


@dataclass
class StopConfig:
    """Early stopping of one stage, the authors' rule.

    Every ``check_every`` steps the energy is compared with the best so far; it counts as
    an improvement when it is below best - min_delta. The stage stops after ``patience``
    checks in a row without improvement, or after ``max_steps`` steps.
    """

    check_every: int = 20
    patience: int = 20
    min_delta: float = 1e-6
    max_steps: int = 60000

    def check(self, key: str) -> None:
        """Refuse impossible values; ``key`` is where this section sits (stop, method.stop)."""
        _require(self.check_every >= 1, f"{key}.check_every must be >= 1 (got {self.check_every})")
        _require(self.patience >= 1, f"{key}.patience must be >= 1 (got {self.patience})")
        _require(self.min_delta >= 0, f"{key}.min_delta must be >= 0 (got {self.min_delta})")
        _require(self.max_steps >= 0, f"{key}.max_steps must be >= 0 (got {self.max_steps})")


# --------------------------------------------------------------------------- method


@dataclass
class MethodConfig:
    name: str = MISSING


@dataclass
class GDMethodConfig(MethodConfig):
    """Plain descent on the coordinates: one stage, using ``optim`` and ``stop``."""

    name: str = "gd"


@dataclass
class OpenMMMethodConfig(MethodConfig):
    """A baseline run by OpenMM itself (proteins, energy=amber); it takes no optim settings."""


@dataclass
class OpenMMMinMethodConfig(OpenMMMethodConfig):
    """OpenMM's LocalEnergyMinimizer (L-BFGS) on the same system and start (proteins, energy=amber).

    tolerance_kJ_mol_nm: stop when the RMS force is below it (OpenMM's default 10);
    max_iterations: 0 = until converged; platform: OpenMM's ``auto`` (CUDA with
    device=cuda when present, else CPU), reference, cpu or cuda; the CPU platform uses
    ``threads`` (null: one, where OpenMM is bit-reproducible). It has no optimiser,
    learning rate or slow modes.
    """

    name: str = "openmm_min"
    tolerance_kJ_mol_nm: float = 10.0
    max_iterations: int = 0
    platform: str = "auto"

    def __post_init__(self) -> None:
        _require(
            self.tolerance_kJ_mol_nm > 0,
            f"method.tolerance_kJ_mol_nm must be > 0 (got {self.tolerance_kJ_mol_nm})",
        )
        _require(self.max_iterations >= 0, f"method.max_iterations must be >= 0 (got {self.max_iterations})")
        _check_choice("method.platform", self.platform, ("auto", "reference", "cpu", "cuda"))


@dataclass
class OpenMMMDMethodConfig(OpenMMMethodConfig):
    """OpenMM Langevin MD (the paper's comparison): steps of timestep_fs at temperature_K.

    friction_per_ps; bonds to hydrogen constrained; solvent: ``implicit`` (GBn2),
    ``explicit`` (TIP3P-FB box with padding_nm, PME, 1 nm cutoff: the authors') or
    ``vacuum``; report_every: steps between snapshots (a trace row with nrep's amber
    energy of the solute, OpenMM's energy, the temperature and the RMSD); platform: as
    method=openmm_min's; minimise_before: start from OpenMM's minimum (the authors did
    not); minimise_after: finish with OpenMM's minimiser.
    """

    name: str = "openmm_md"
    steps: int = 20000
    report_every: int = 1000
    temperature_K: float = 298.0
    timestep_fs: float = 2.0
    friction_per_ps: float = 1.0
    solvent: str = "implicit"
    padding_nm: float = 1.0
    platform: str = "auto"
    minimise_before: bool = False
    minimise_after: bool = False

    def __post_init__(self) -> None:
        _require(self.steps >= 0, f"method.steps must be >= 0 (got {self.steps})")
        _require(self.report_every >= 1, f"method.report_every must be >= 1 (got {self.report_every})")
        _require(self.temperature_K > 0, f"method.temperature_K must be > 0 (got {self.temperature_K})")
        _require(0 < self.timestep_fs <= 4, f"method.timestep_fs must lie in (0, 4] (got {self.timestep_fs})")
        _require(self.friction_per_ps > 0, f"method.friction_per_ps must be > 0 (got {self.friction_per_ps})")
        _require(self.padding_nm > 0, f"method.padding_nm must be > 0 (got {self.padding_nm})")
        _check_choice("method.solvent", self.solvent, ("implicit", "explicit", "vacuum"))
        _check_choice("method.platform", self.platform, ("auto", "reference", "cpu", "cuda"))


BACKBONE_NORMS = ("fro", "fro2")
EIGENSOLVERS = ("auto", "dense", "sparse")
SAMPLE_KINDS = ("auto", "cloud", "perturb")


@dataclass
class ModesConfig:
    """Slow modes (paper §2) of the reparametrised methods.

    k: how many modes; null = n // 3 for loops (the authors'), 3 x residues for proteins
        (the paper's first choice).
    fraction: instead of k, a fraction of the particles (the paper's protein CG also
        uses 30 %, 50 % and 70 % of the atoms); null = use k.
    sample_kind: ``cloud`` (random clouds of std s * n^(1/3)/2, the authors' loops),
        ``perturb`` (X0 + N(0, s^2)), ``auto`` (cloud for loops).
    sample_scales: [first, last] scale s, with n_samples evenly spaced values; null =
        the authors' choice (bond_lj: 10 clouds at 3..8, pure_lj: 40 at 0.01..0.2;
        perturb: 10 at 0.01..0.1).
    backbone: ``fro`` (mean of |H_ij|_F, the authors' code) or ``fro2`` (sum of
        |H_ij|_F^2, the paper's eq. 7).
    solver: ``dense`` (LAPACK), ``sparse`` (shift-invert Lanczos) or ``auto`` (dense up to
        dense_max_n particles or when k > n/4).
    cache: keep computed modes on disk (cache_dir, null = ~/.cache/nrep/modes) keyed by
        system, energy, these settings and the seed; the compute time is stored with
        them and reported on a hit too.
    """

    k: Optional[int] = None
    fraction: Optional[float] = None
    sample_kind: str = "auto"
    sample_scales: Optional[List[float]] = None
    n_samples: Optional[int] = None
    backbone: str = "fro"
    solver: str = "auto"
    dense_max_n: int = 5000
    cache: bool = False
    cache_dir: Optional[str] = None

    def __post_init__(self) -> None:
        _require(self.k is None or self.k >= 1, f"method.modes.k must be >= 1 or null (got {self.k})")
        _require(
            self.fraction is None or 0 < self.fraction <= 1,
            f"method.modes.fraction must lie in (0, 1] or be null (got {self.fraction})",
        )
        _require(
            self.k is None or self.fraction is None,
            "method.modes.k and method.modes.fraction are both set; keep one of them",
        )
        _check_choice("method.modes.sample_kind", self.sample_kind, SAMPLE_KINDS)
        _check_choice("method.modes.backbone", self.backbone, BACKBONE_NORMS)
        _check_choice("method.modes.solver", self.solver, EIGENSOLVERS)
        _require(
            self.sample_scales is None or (len(self.sample_scales) == 2 and min(self.sample_scales) > 0),
            f"method.modes.sample_scales must be [first, last] with both > 0, or null (got {self.sample_scales})",
        )
        _require(
            self.n_samples is None or self.n_samples >= 1,
            f"method.modes.n_samples must be >= 1 or null (got {self.n_samples})",
        )
        _require(self.dense_max_n >= 1, f"method.modes.dense_max_n must be >= 1 (got {self.dense_max_n})")


@dataclass
class ReparamMethodConfig(MethodConfig):
    """A method with a reparametrised stage 1 before the coordinate stage.

    lr: stage 1's learning rate; optim: stage 1's optimiser (null = the ``optim`` group's,
    otherwise adam, sgd, lbfgs or fire with their defaults), e.g. ``optim=lbfgs
    method.optim=adam`` runs Adam on the reparametrisation and L-BFGS on the coordinates;
    stop: stage 1's early stopping (the authors use 10x the coordinate stage's min_delta).
    """

    lr: float = 2e-2
    optim: Optional[str] = None
    modes: ModesConfig = field(default_factory=ModesConfig)
    stop: StopConfig = field(default_factory=lambda: StopConfig(min_delta=1e-5))

    def __post_init__(self) -> None:
        _require(self.lr > 0, f"method.lr must be > 0 (got {self.lr})")
        if self.optim is not None:
            _check_choice("method.optim", self.optim, tuple(SCHEMAS["optim"]))
        self.stop.check("method.stop")


CG_STARTS = ("projection", "anchored")


@dataclass
class CGMethodConfig(ReparamMethodConfig):
    """Linear CG (paper eq. 3): X = Psi Z over the k slowest modes, then the coordinates.

    start: ``projection`` (Z0 = s Psi^T X0, rescaled to std(X0): the authors' loops) or
        ``anchored`` (X = X0 + Psi Z, Z0 = 0: starts at X0 exactly; the protein default,
        since a projected protein has overlapping atoms).
    """

    name: str = "cg"
    start: str = "projection"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_choice("method.start", self.start, CG_STARTS)


GNN_GRAPHS = ("slow_modes", "slow_modes_plain", "bonds", "knn")
OUTPUT_INITS = ("rescale", "fit", "anchored")


@dataclass
class GNNMethodConfig(ReparamMethodConfig):
    """GNN reparametrisation (paper §1.3): X = Linear(tanh(GCN(Z))), then the coordinates.

    latent_dim: h0, the width of the learnable latent Z (n x h0).
    hidden_dims: output width of each GCN layer: one entry = the paper's GNN1, two = GNN2.
        The authors' loops use [h/2] with latent h; the paper's proteins [h].
    graph: ``slow_modes`` (A = Psi diag(lambda~) Psi^T, the authors'), ``slow_modes_plain``
        (A = Psi Psi^T, the paper's text), ``bonds`` (the coupled pairs) or ``knn`` (knn_k
        nearest neighbours in X0); the last two use torch_geometric's GCNConv.
    output_init: ``rescale`` the last layer so std(X) = std(X0) (the authors' loops: a
        random start of the right size), ``fit`` X to X0 by least squares first (the
        authors' protein code), or ``anchored``: X = X0 + GNN(Z) with the output layer
        zeroed, which starts at X0 exactly (the protein default: an approximate fit
        leaves atoms overlapping, which exact Lennard-Jones cannot survive).
    """

    name: str = "gnn"
    lr: float = 2e-3
    latent_dim: int = 32
    hidden_dims: List[int] = field(default_factory=lambda: [16])
    activation: str = "tanh"
    graph: str = "slow_modes"
    knn_k: int = 8
    output_init: str = "rescale"

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(self.latent_dim >= 1, f"method.latent_dim must be >= 1 (got {self.latent_dim})")
        _require(
            len(self.hidden_dims) >= 1 and min(self.hidden_dims) >= 1,
            f"method.hidden_dims must list at least one layer size, all >= 1 (got {list(self.hidden_dims)})",
        )
        _check_choice("method.activation", self.activation, ("tanh", "relu", "identity"))
        _check_choice("method.graph", self.graph, GNN_GRAPHS)
        _require(self.knn_k >= 1, f"method.knn_k must be >= 1 (got {self.knn_k})")
        _check_choice("method.output_init", self.output_init, OUTPUT_INITS)


# --------------------------------------------------------------------------- optim


@dataclass
class OptimConfig:
    """Optimiser of the coordinate stage (and of stage 1 unless the method overrides it)."""

    name: str = MISSING


@dataclass
class StepOptimConfig(OptimConfig):
    """An optimiser that takes a step of size ``lr`` along (a transform of) the gradient.

    clamp_grad: every gradient entry is clamped to +-clamp_grad before a step (the
    authors' 0.1 for loops); null turns clamping off.
    """

    lr: float = 2e-2
    clamp_grad: Optional[float] = 0.1

    def __post_init__(self) -> None:
        _require(self.lr > 0, f"optim.lr must be > 0 (got {self.lr})")
        _require(
            self.clamp_grad is None or self.clamp_grad > 0,
            f"optim.clamp_grad must be > 0 or null (got {self.clamp_grad})",
        )


@dataclass
class AdamConfig(StepOptimConfig):
    name: str = "adam"
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self) -> None:
        super().__post_init__()
        for key in ("beta1", "beta2"):
            value = getattr(self, key)
            _require(0 <= value < 1, f"optim.{key} must lie in [0, 1) (got {value})")
        _require(self.eps > 0, f"optim.eps must be > 0 (got {self.eps})")


@dataclass
class SGDConfig(StepOptimConfig):
    name: str = "sgd"
    momentum: float = 0.0
    nesterov: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(0 <= self.momentum < 1, f"optim.momentum must lie in [0, 1) (got {self.momentum})")
        _require(
            not self.nesterov or self.momentum > 0,
            "optim.nesterov=true needs optim.momentum > 0",
        )


@dataclass
class LBFGSConfig(OptimConfig):
    """L-BFGS: scipy's L-BFGS-B (MINPACK-2 line search) on torch gradients, one iteration per step.

    history_size: the number of correction pairs kept (scipy's maxcor). The parameters
    pass through the CPU in float64 at every evaluation. Clamping is off (the line
    search needs the true gradient), and the sampled repulsion pairs of loops stay fixed
    for the whole run (the line search needs a fixed function). It has no learning rate
    and no gradient clamping.
    """

    name: str = "lbfgs"
    history_size: int = 10

    def __post_init__(self) -> None:
        _require(self.history_size >= 1, f"optim.history_size must be >= 1 (got {self.history_size})")


@dataclass
class FIREConfig(StepOptimConfig):
    """FIRE 2.0 (Guénolé et al. 2020): damped dynamics with an adaptive time step.

    lr: the initial time step (dt_max = 10 lr, dt_min = 0.02 lr); max_step caps the
    displacement of each particle (each row of a parameter) per step.
    """

    name: str = "fire"
    lr: float = 0.1
    clamp_grad: Optional[float] = None
    max_step: float = 0.2
    n_delay: int = 5
    f_inc: float = 1.1
    f_dec: float = 0.5
    alpha_start: float = 0.25
    f_alpha: float = 0.99

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(self.max_step > 0, f"optim.max_step must be > 0 (got {self.max_step})")
        _require(self.n_delay >= 0, f"optim.n_delay must be >= 0 (got {self.n_delay})")
        _require(self.f_inc >= 1, f"optim.f_inc must be >= 1 (got {self.f_inc})")
        _require(0 < self.f_dec < 1, f"optim.f_dec must lie in (0, 1) (got {self.f_dec})")
        _require(0 <= self.alpha_start < 1, f"optim.alpha_start must lie in [0, 1) (got {self.alpha_start})")
        _require(0 < self.f_alpha <= 1, f"optim.f_alpha must lie in (0, 1] (got {self.f_alpha})")


# --------------------------------------------------------------------------- device


@dataclass
class DeviceConfig:
    """Where tensors live. ``dtype`` float32 (the authors') or float64."""

    name: str = "cpu"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        _require(
            self.name == "cpu" or self.name == "cuda" or self.name.startswith("cuda:"),
            f"device.name={self.name!r} is not cpu, cuda or cuda:N",
        )
        _check_choice("device.dtype", self.dtype, ("float32", "float64"))


# --------------------------------------------------------------------------- stop, output


PROGRESS_MODES = ("auto", "on", "off")


@dataclass
class OutputConfig:
    """Where and what a run writes.

    root: results directory (relative to the working directory); each run gets its own
    directory below it. trace_every: steps between rows of trace.csv (the first and last
    step of each stage are always recorded). progress: a rich progress bar (auto: only
    when the terminal is interactive and the run is single). overwrite: allow a run to
    replace an earlier run's files in the same directory. snapshot: draw the final
    structure as final.png. trajectory_every: keep X every that many steps (and at the
    end of each stage) as trajectory.pdb (proteins, one MODEL per frame) or
    trajectory.xyz (loops); 0 = no trajectory.
    """

    root: str = "results"
    trace_every: int = 20
    trajectory_every: int = 0
    progress: str = "auto"
    overwrite: bool = False
    snapshot: bool = True

    def __post_init__(self) -> None:
        _require(self.trace_every >= 1, f"output.trace_every must be >= 1 (got {self.trace_every})")
        _require(self.trajectory_every >= 0, f"output.trajectory_every must be >= 0 (got {self.trajectory_every})")
        _check_choice("output.progress", self.progress, PROGRESS_MODES)


@dataclass
class FaultConfig:
    """What a run does when a step goes wrong (a NaN or infinite energy or gradient, or an explosion).

    The run rolls back to the last good state (the coordinates, network and optimiser
    before the failed step), multiplies the step (lr; FIRE's time steps) by step_factor
    and tries again, at most ``retries`` times per run; then it stops with
    status=diverged, keeping the last good and the best structure. An explosion is an
    energy more than explosion_factor * max(|E|, 1) above the last good energy E
    (null: only non-finite values count).
    """

    retries: int = 3
    step_factor: float = 0.5
    explosion_factor: Optional[float] = 1.0e4

    def __post_init__(self) -> None:
        _require(self.retries >= 0, f"faults.retries must be >= 0 (got {self.retries})")
        _require(0 < self.step_factor < 1, f"faults.step_factor must be in (0, 1) (got {self.step_factor})")
        _require(
            self.explosion_factor is None or self.explosion_factor > 0,
            f"faults.explosion_factor must be > 0 or null (got {self.explosion_factor})",
        )


# --------------------------------------------------------------------------- top level


@dataclass
class NrepConfig:
    """A whole run. ``threads: null`` uses every core for a single run.

    time_budget_s: wall time for the method (slow modes and both stages); the run stops
    with stop_reason=time_budget when it is spent. null: no limit.
    """

    system: SystemConfig = MISSING
    init: InitConfig = MISSING
    energy: EnergyConfig = MISSING
    method: MethodConfig = MISSING
    optim: OptimConfig = MISSING
    device: DeviceConfig = MISSING
    stop: StopConfig = field(default_factory=StopConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    faults: FaultConfig = field(default_factory=FaultConfig)
    seed: int = 0
    replicas: int = 1
    threads: Optional[int] = None
    deterministic: bool = True
    time_budget_s: Optional[float] = None

    def __post_init__(self) -> None:
        self.stop.check("stop")
        _require(
            self.time_budget_s is None or self.time_budget_s > 0,
            f"time_budget_s must be > 0 or null (got {self.time_budget_s})",
        )
        _require(self.seed >= 0, f"seed must be >= 0 (got {self.seed})")
        _require(self.replicas >= 1, f"replicas must be >= 1 (got {self.replicas})")
        if self.replicas > 1:
            self._check_replicas()
        _require(self.threads is None or self.threads >= 1, f"threads must be >= 1 or null (got {self.threads})")
        if isinstance(self.system, ProteinSystemConfig):
            self._check_energy_applies()
            _require(
                isinstance(self.init, (CachedStartConfig, NativeInitConfig)),
                f"init={self.init.name} does not apply to a protein; use init=extended, random, unfold_md or native",
            )
        if isinstance(self.method, OpenMMMethodConfig):
            _require(
                isinstance(self.system, ProteinSystemConfig) and isinstance(self.energy, AmberEnergyConfig),
                f"method={self.method.name} runs OpenMM's amber14 on proteins; use nrep fold with energy=amber",
            )
            _require(
                all(w == 1.0 for w in vars(self.energy.weights).values()),
                f"method={self.method.name} evaluates the full amber14 energy; energy.weights do not apply",
            )
        if isinstance(self.system, LoopSystemConfig):
            self._check_energy_applies()
            _require(
                isinstance(self.init, CloudInitConfig),
                f"init={self.init.name} does not apply to a loop; loops start from init=cloud",
            )
            n = self.system.n
            if isinstance(self.method, ReparamMethodConfig) and self.method.modes.k is not None:
                _require(
                    self.method.modes.k <= n,
                    f"method.modes.k={self.method.modes.k} exceeds the {n} particles; choose k <= n",
                )
            if isinstance(self.method, GNNMethodConfig) and self.method.graph == "knn":
                _require(self.method.knn_k < n, f"method.knn_k={self.method.knn_k} needs more than {n} particles")

    def _check_energy_applies(self) -> None:
        system = self.system.name
        _require(
            system in type(self.energy).systems,
            f"energy={self.energy.name} does not apply to a {system}; use "
            + " or ".join(f"energy={name}" for name in energies_for(system)),
        )

    def _check_replicas(self) -> None:
        """replicas=B runs seeds seed .. seed+B-1 as one batch: only what a batch can do alike for all."""
        _require(
            isinstance(self.system, ProteinSystemConfig),
            f"replicas={self.replicas} batches the seeds of a protein; a loop samples its repulsion per seed: "
            "run loop seeds with -m seed=...",
        )
        _require(
            not isinstance(self.method, OpenMMMethodConfig),
            f"method={self.method.name} runs inside OpenMM, one structure at a time; drop replicas",
        )
        names = {self.optim.name} | ({stage1_optim(self).name} if isinstance(self.method, ReparamMethodConfig) else set())
        _require(
            names <= {"adam", "sgd"},
            f"replicas={self.replicas} needs optim=adam or sgd (element-wise steps keep the seeds apart; "
            f"got {', '.join(sorted(names))})",
        )


def stage1_optim(cfg: "NrepConfig") -> OptimConfig:
    """The optimiser settings of stage 1 of a reparametrised method (lr: ``method.lr``)."""
    name = getattr(cfg.method, "optim", None)
    base = cfg.optim if name is None or name == cfg.optim.name else SCHEMAS["optim"][name]()
    return base


def uses_line_search(cfg: "NrepConfig") -> bool:
    """True when a stage runs L-BFGS (whose line search needs a fixed energy)."""
    names = {cfg.optim.name}
    if isinstance(cfg.method, ReparamMethodConfig):
        names.add(stage1_optim(cfg).name)
    return "lbfgs" in names


SCHEMAS: dict[str, dict[str, type]] = {
    "system": {"loop": LoopSystemConfig, "protein": ProteinSystemConfig},
    "init": {
        "cloud": CloudInitConfig,
        "extended": ExtendedInitConfig,
        "random": RandomInitConfig,
        "unfold_md": UnfoldMDInitConfig,
        "native": NativeInitConfig,
    },
    "energy": {"loop": LoopEnergyConfig, "amber": AmberEnergyConfig, "simple": SimpleEnergyConfig},
    "method": {"gd": GDMethodConfig, "cg": CGMethodConfig, "gnn": GNNMethodConfig, "openmm_min": OpenMMMinMethodConfig,
               "openmm_md": OpenMMMDMethodConfig},
    "optim": {"adam": AdamConfig, "sgd": SGDConfig, "lbfgs": LBFGSConfig, "fire": FIREConfig},
    "device": {"device": DeviceConfig},
}


def run_label(system: Any) -> str:
    """The results folder of a system: ``loop``, or the protein's PDB id or file stem."""
    import re
    from pathlib import PurePath

    pdb = system.get("pdb") if system.get("name") == "protein" else None
    if not pdb:
        return str(system.get("name"))
    from nrep.core.io.structure_names import has_structure_suffix, structure_stem

    pdb = str(pdb)
    label = structure_stem(PurePath(pdb).name) if has_structure_suffix(pdb) or "/" in pdb else pdb.upper()
    return re.sub(r"[^A-Za-z0-9_.-]", "_", label) or "protein"


def register_schemas() -> None:
    """Put the dataclasses into Hydra's ConfigStore (as ``schema/<group>/<name>``).

    They live outside the user-facing groups so that ``method=...`` lists only real options.
    Also registers the ``nrep_run_label`` resolver used by the run directories.
    """
    from hydra.core.config_store import ConfigStore

    OmegaConf.register_new_resolver("nrep_run_label", run_label, replace=True)

    store = ConfigStore.instance()
    store.store(name="schema", node=NrepConfig)
    for group, options in SCHEMAS.items():
        for name, node in options.items():
            store.store(group=f"schema/{group}", name=name, node=node)
    for group, options in PLUGIN_OPTIONS.items():
        for name, node in options.items():
            store.store(group=group, name=name, node=node)


# Plug-ins: options added from outside nrep by register_option, stored as Hydra group options.
PLUGIN_OPTIONS: dict[str, dict[str, type]] = {}


def register_option(group: str, name: str, node: type) -> None:
    """Make ``group=name`` a choice (e.g. ``energy=my_model``), backed by the dataclass ``node``.

    ``node`` subclasses the group's base config (EnergyConfig, MethodConfig, OptimConfig,
    ...) with ``name`` as the default of its ``name`` field. This is how code outside nrep
    adds an option without a YAML file; the core side is registered with
    ``nrep.core.energy.registry.register_energy`` (or ``register_method``, ``register_optimiser``).
    """
    if group not in SCHEMAS:
        raise ConfigError(f"no config group {group!r}; choose one of {', '.join(SCHEMAS)}")
    SCHEMAS[group][name] = node
    PLUGIN_OPTIONS.setdefault(group, {})[name] = node
    register_schemas()


def to_config(cfg: DictConfig | dict[str, Any]) -> NrepConfig:
    """Validate a composed config and return it as typed objects (raises ConfigError)."""
    if not isinstance(cfg, DictConfig):
        cfg = OmegaConf.create(cfg)
    obj = OmegaConf.to_object(cfg)
    if not isinstance(obj, NrepConfig):  # composed without the schema (should not happen)
        raise ConfigError("the configuration was not built from nrep's schema")
    return obj
