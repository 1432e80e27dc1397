"""method=...: GD, the reparametrisations CG and GNN (with their slow modes), and the OpenMM baselines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, List, Optional

from omegaconf import MISSING

from nrep.configs.schema.checks import check_choice, check_langevin, require, require_positive
from nrep.configs.schema.choices import (
    ACTIVATIONS,
    BACKBONE_NORMS,
    CG_STARTS,
    EIGENSOLVERS,
    GNN_GRAPHS,
    GNN_MODE_GRAPH_MAX_N,
    HESSIAN_SOURCES,
    OUTPUT_INITS,
    SAMPLE_KINDS,
)
from nrep.configs.schema.optim import OPTIM_OPTIONS
from nrep.configs.schema.stop import StopConfig


@dataclass
class MethodConfig:
    """A method: how the coordinates are descended (core/methods).

    ``systems``: the systems it applies to; ``in_openmm``: OpenMM runs it on its own amber14 (proteins only, one structure at a
    time); ``reparametrised``: it has a stage 1 over X = f(Z), with slow modes, its own
    learning rate, optimiser and stop, before the coordinate stage.
    """

    name: str = MISSING
    systems: ClassVar[tuple[str, ...]] = ("loop", "protein")
    in_openmm: ClassVar[bool] = False
    reparametrised: ClassVar[bool] = False

    def check_size(self, n: int, system: str) -> None:
        """Refuse settings that a system of ``n`` particles makes impossible (a protein's n is
        known once it is prepared, a loop's from its config); ``system`` names it in the message."""


@dataclass
class GDMethodConfig(MethodConfig):
    """Plain descent on the coordinates: one stage, using ``optim`` and ``stop``."""

    name: str = "gd"


@dataclass
class OpenMMMethodConfig(MethodConfig):
    """A baseline run by OpenMM itself (proteins, energy=amber); it takes no optim settings."""

    systems: ClassVar[tuple[str, ...]] = ("protein",)
    in_openmm: ClassVar[bool] = True


@dataclass
class OpenMMMinMethodConfig(OpenMMMethodConfig):
    """OpenMM's LocalEnergyMinimizer (L-BFGS) on the same system and start (proteins, energy=amber).

    It minimises the run's energy (``energy.forcefield``, ``energy.solvent``) on
    ``energy.platform``. tolerance_kJ_mol_nm: OpenMM's own rule, stop once the RMS of
    all 3n force components is below it (its default 10; ``stop.frms`` is the same
    measure, ``stop.fmax`` the largest force on one atom, both checked every
    ``stop.check_every`` iterations); max_iterations: 0 = until converged. The CPU
    platform uses ``threads`` (null: one, where OpenMM is bit-reproducible). It has no
    optimiser, learning rate or slow modes.
    """

    name: str = "openmm_min"
    tolerance_kJ_mol_nm: float = 10.0
    max_iterations: int = 0

    def __post_init__(self) -> None:
        require(
            self.tolerance_kJ_mol_nm > 0,
            f"method.tolerance_kJ_mol_nm must be > 0 (got {self.tolerance_kJ_mol_nm})",
        )
        require(self.max_iterations >= 0, f"method.max_iterations must be >= 0 (got {self.max_iterations})")


@dataclass
class OpenMMMDMethodConfig(OpenMMMethodConfig):
    """OpenMM Langevin MD (the paper's comparison): steps of timestep_fs at temperature_K.

    friction_per_ps; bonds to hydrogen constrained; the run's ``energy.forcefield`` in
    ``energy.solvent`` (vacuum, an implicit model, or ``explicit``: a TIP3P-FB box with
    padding_nm, PME, 1 nm cutoff, the authors'), on ``energy.platform``; report_every:
    steps between snapshots (a trace row with the run's energy of the solute, OpenMM's
    energy, the temperature and the RMSD); minimise_before: start from OpenMM's minimum
    (the authors did not); minimise_after: finish with OpenMM's minimiser.
    """

    name: str = "openmm_md"
    steps: int = 20000
    report_every: int = 1000
    temperature_K: float = 298.0
    timestep_fs: float = 2.0
    friction_per_ps: float = 1.0
    padding_nm: float = 1.0
    minimise_before: bool = False
    minimise_after: bool = False

    def __post_init__(self) -> None:
        require(self.steps >= 0, f"method.steps must be >= 0 (got {self.steps})")
        require(self.report_every >= 1, f"method.report_every must be >= 1 (got {self.report_every})")
        check_langevin("method", self)


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
    hessian: where the Hessian blocks come from. ``terms``: the energy's own pair and
        local terms, analytic (with energy.engine=openmm: nrep's torch amber14 of the
        structure in vacuum, which ignores the solvent); ``differences``: central finite
        differences of the energy's forces, 6n evaluations per sample (exact for any force
        field and solvent); ``auto``: terms when the energy has them.
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
    hessian: str = "auto"
    dense_max_n: int = 5000
    cache: bool = False
    cache_dir: Optional[str] = None

    def __post_init__(self) -> None:
        require(self.k is None or self.k >= 1, f"method.modes.k must be >= 1 or null (got {self.k})")
        require(
            self.fraction is None or 0 < self.fraction <= 1,
            f"method.modes.fraction must lie in (0, 1] or be null (got {self.fraction})",
        )
        require(
            self.k is None or self.fraction is None,
            "method.modes.k and method.modes.fraction are both set; keep one of them",
        )
        check_choice("method.modes.sample_kind", self.sample_kind, SAMPLE_KINDS)
        check_choice("method.modes.backbone", self.backbone, BACKBONE_NORMS)
        check_choice("method.modes.solver", self.solver, EIGENSOLVERS)
        check_choice("method.modes.hessian", self.hessian, HESSIAN_SOURCES)
        require(
            self.sample_scales is None or (len(self.sample_scales) == 2 and min(self.sample_scales) > 0),
            f"method.modes.sample_scales must be [first, last] with both > 0, or null (got {self.sample_scales})",
        )
        require(
            self.n_samples is None or self.n_samples >= 1,
            f"method.modes.n_samples must be >= 1 or null (got {self.n_samples})",
        )
        require(self.dense_max_n >= 1, f"method.modes.dense_max_n must be >= 1 (got {self.dense_max_n})")


@dataclass
class ReparamMethodConfig(MethodConfig):
    """A method with a reparametrised stage 1 before the coordinate stage.

    lr: stage 1's learning rate; optim: stage 1's optimiser (null = the ``optim`` group's,
    otherwise adam, sgd, lbfgs or fire with their defaults), e.g. ``optim=lbfgs
    method.optim=adam`` runs Adam on the reparametrisation and L-BFGS on the coordinates;
    stop: stage 1's early stopping (the authors use 10x the coordinate stage's min_delta).
    """

    reparametrised: ClassVar[bool] = True
    lr: float = 2e-2
    optim: Optional[str] = None
    modes: ModesConfig = field(default_factory=ModesConfig)
    stop: StopConfig = field(default_factory=lambda: StopConfig(min_delta=1e-5))

    def __post_init__(self) -> None:
        require_positive("method.lr", self.lr)
        if self.optim is not None:
            check_choice("method.optim", self.optim, tuple(OPTIM_OPTIONS))
        self.stop.check("method.stop")

    def check_size(self, n: int, system: str) -> None:
        k = self.modes.k
        require(k is None or k <= n, f"method.modes.k={k} exceeds the {n} particles of {system}; choose k <= {n}")


@dataclass
class CGMethodConfig(ReparamMethodConfig):
    """Linear CG (paper eq. 3): X = Psi Z over the k slowest modes, then the coordinates.

    start: ``projection`` (Z0 = s Psi^T X0, rescaled to std(X0): the authors' loops) or
        ``anchored`` (X = X0 + Psi Z, Z0 = 0: starts at X0 exactly; the protein default,
        since a projected protein has overlapping atoms).
    rounds: stage 1 in that many rounds (adaptive CG, beyond the paper): each round after
        the first computes the slow modes again at the structure the last one reached and
        descends X = X_r + Psi_r Z from there (its own optimiser, ``method.stop``), so the
        modes follow the structure; 1 = the paper's CG, modes of X0 only. Needs
        ``start=anchored``. The rounds' stages are ``reparam``, ``reparam_2``, ...; their
        slow modes count in ``time_modes_s``.
    """

    name: str = "cg"
    start: str = "projection"
    rounds: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("method.start", self.start, CG_STARTS)
        require(self.rounds >= 1, f"method.rounds must be >= 1 (got {self.rounds})")
        require(self.rounds == 1 or self.start == "anchored",
                f"method.rounds={self.rounds} recomputes the modes at the structure reached, which needs "
                "method.start=anchored (a projection would jump away from it)")


@dataclass
class GNNMethodConfig(ReparamMethodConfig):
    """GNN reparametrisation (paper §1.3): X = Linear(tanh(GCN(Z))), then the coordinates.

    latent_dim: h0, the width of the learnable latent Z (n x h0).
    hidden_dims: output width of each GCN layer: one entry = the paper's GNN1, two = GNN2.
        The authors' loops use [h/2] with latent h; the paper's proteins [h].
    graph: ``slow_modes`` (A = Psi diag(lambda~) Psi^T, the authors'), ``slow_modes_plain``
        (A = Psi Psi^T, the paper's text), ``bonds`` (the coupled pairs) or ``knn`` (knn_k
        nearest neighbours in X0); the last two use torch_geometric's GCNConv and need no
        slow modes. null (the default): slow_modes below GNN_MODE_GRAPH_MAX_N particles,
        knn from there (see :meth:`graph_for`).
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
    graph: Optional[str] = None
    knn_k: int = 8
    output_init: str = "rescale"

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.latent_dim >= 1, f"method.latent_dim must be >= 1 (got {self.latent_dim})")
        require(
            len(self.hidden_dims) >= 1 and min(self.hidden_dims) >= 1,
            f"method.hidden_dims must list at least one layer size, all >= 1 (got {list(self.hidden_dims)})",
        )
        check_choice("method.activation", self.activation, ACTIVATIONS)
        if self.graph is not None:
            check_choice("method.graph", self.graph, GNN_GRAPHS)
        require(self.knn_k >= 1, f"method.knn_k must be >= 1 (got {self.knn_k})")
        check_choice("method.output_init", self.output_init, OUTPUT_INITS)

    def graph_for(self, n: int) -> str:
        """The graph a run of n particles uses: ``graph``, or by size when it is null."""
        if self.graph is not None:
            return self.graph
        return "slow_modes" if n < GNN_MODE_GRAPH_MAX_N else "knn"

    def check_size(self, n: int, system: str) -> None:
        super().check_size(n, system)
        require(self.graph_for(n) != "knn" or self.knn_k < n,
                f"method.knn_k={self.knn_k} needs more than {n} particles ({system}); choose knn_k < {n}")


METHOD_SCHEMAS: dict[str, type[MethodConfig]] = {
    "gd": GDMethodConfig, "cg": CGMethodConfig, "gnn": GNNMethodConfig,
    "openmm_min": OpenMMMinMethodConfig, "openmm_md": OpenMMMDMethodConfig,
}
