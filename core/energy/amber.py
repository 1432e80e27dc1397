"""The AMBER energy of a protein in vacuum, in torch, with OpenMM's parameters.

Every number comes from an OpenMM ``System`` (built from ``amber14-all.xml``): the
harmonic bonds and angles, the periodic torsions (proper and improper), and the
non-bonded Lennard-Jones and Coulomb terms with OpenMM's exclusions and scaled 1-4
exceptions, no cutoff. Units are OpenMM's: nm, kJ/mol, elementary charges. The terms
follow OpenMM's definitions exactly, so energies and forces agree with its Reference
platform to rounding:

- bond: ½ k (r − r0)², angle: ½ k (θ − θ0)²
- torsion: k (1 + cos(n φ − φ0)), φ the signed (IUPAC) dihedral
- lj: 4 ε_ij ((σ_ij/r)¹² − (σ_ij/r)⁶), σ_ij = (σ_i + σ_j)/2, ε_ij = √(ε_i ε_j), over all
  pairs that are not exceptions, plus each exception with its own σ and ε
- coulomb: 138.935… q_i q_j / r over the same pairs, exceptions with their charge product

With ``cutoff_nm`` it is OpenMM's ``CutoffNonPeriodic`` instead: the non-excluded pairs
closer than r_c only (a Verlet list, :mod:`nrep.core.energy.neighbours`), LJ truncated
there without a switch and Coulomb with the reaction field of a dielectric ε_rf (78.3,
OpenMM's default): 138.935… q_i q_j (1/r + k_rf r² − c_rf), k_rf = (ε_rf − 1) / ((2 ε_rf + 1)
r_c³), c_rf = 1/r_c + k_rf r_c². Exceptions (the scaled 1-4 pairs) stay plain, at any
distance, as OpenMM computes them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from nrep.core.energy.fused import coulomb_phi, fused_pair_sums, lj_phi
from nrep.core.energy.neighbours import VerletList
from nrep.core.energy.pairs import LocalInteraction, LocalTerm, PairInteraction, PairTerm, pair_distances

if TYPE_CHECKING:
    import openmm

# OpenMM's 1/(4 pi eps0) in kJ nm / (mol e^2).
ONE_4PI_EPS0 = 138.93545764438198
TERMS = ("bond", "angle", "torsion", "lj", "coulomb")
DENSE_MAX_ATOMS = 3000
REACTION_FIELD_DIELECTRIC = 78.3  # OpenMM's NonbondedForce default


@dataclass
class AmberParameters:
    """Force-field parameters of one system as tensors (float64, CPU)."""

    bonds: torch.Tensor  # (nb, 2) long
    bond_r0: torch.Tensor
    bond_k: torch.Tensor
    angles: torch.Tensor  # (na, 3)
    angle_theta0: torch.Tensor
    angle_k: torch.Tensor
    torsions: torch.Tensor  # (nt, 4)
    torsion_periodicity: torch.Tensor
    torsion_phase: torch.Tensor
    torsion_k: torch.Tensor
    charge: torch.Tensor  # (n,)
    sigma: torch.Tensor
    epsilon: torch.Tensor
    exceptions: torch.Tensor  # (ne, 2)
    exception_charge_product: torch.Tensor
    exception_sigma: torch.Tensor
    exception_epsilon: torch.Tensor

    @property
    def n(self) -> int:
        return len(self.charge)

    @classmethod
    def from_openmm(cls, system: openmm.System) -> AmberParameters:
        """Read the parameters of an OpenMM System made of the standard AMBER forces."""
        import openmm

        found: dict[str, object] = {}
        for force in system.getForces():
            found[type(force).__name__] = force
        missing = {"HarmonicBondForce", "HarmonicAngleForce", "PeriodicTorsionForce", "NonbondedForce"} - set(found)
        if missing:
            raise ValueError(f"the OpenMM system lacks {', '.join(sorted(missing))}")
        extra = set(found) - {"HarmonicBondForce", "HarmonicAngleForce", "PeriodicTorsionForce", "NonbondedForce",
                              "CMMotionRemover"}
        if extra:
            raise ValueError(f"the OpenMM system has forces nrep's amber energy does not model: {', '.join(sorted(extra))}")
        nonbonded: openmm.NonbondedForce = found["NonbondedForce"]
        if nonbonded.getNonbondedMethod() != openmm.NonbondedForce.NoCutoff:
            raise ValueError("nrep's amber energy is for vacuum without cutoff (NonbondedForce.NoCutoff)")

        def values(quantity: openmm.unit.Quantity, unit: openmm.unit.Unit) -> object:
            return quantity.value_in_unit(unit)

        nm, kj, rad, e = openmm.unit.nanometer, openmm.unit.kilojoule_per_mole, openmm.unit.radian, openmm.unit.elementary_charge
        bond_force = found["HarmonicBondForce"]
        bonds = [bond_force.getBondParameters(i) for i in range(bond_force.getNumBonds())]
        angle_force = found["HarmonicAngleForce"]
        angles = [angle_force.getAngleParameters(i) for i in range(angle_force.getNumAngles())]
        torsion_force = found["PeriodicTorsionForce"]
        torsions = [torsion_force.getTorsionParameters(i) for i in range(torsion_force.getNumTorsions())]
        particles = [nonbonded.getParticleParameters(i) for i in range(nonbonded.getNumParticles())]
        exceptions = [nonbonded.getExceptionParameters(i) for i in range(nonbonded.getNumExceptions())]

        def t(data: list, dtype: torch.dtype = torch.float64) -> torch.Tensor:
            return torch.tensor(data, dtype=dtype)

        return cls(
            bonds=t([[b[0], b[1]] for b in bonds], torch.long).reshape(-1, 2),
            bond_r0=t([values(b[2], nm) for b in bonds]),
            bond_k=t([values(b[3], kj / nm**2) for b in bonds]),
            angles=t([[a[0], a[1], a[2]] for a in angles], torch.long).reshape(-1, 3),
            angle_theta0=t([values(a[3], rad) for a in angles]),
            angle_k=t([values(a[4], kj / rad**2) for a in angles]),
            torsions=t([[d[0], d[1], d[2], d[3]] for d in torsions], torch.long).reshape(-1, 4),
            torsion_periodicity=t([d[4] for d in torsions]),
            torsion_phase=t([values(d[5], rad) for d in torsions]),
            torsion_k=t([values(d[6], kj) for d in torsions]),
            charge=t([values(p[0], e) for p in particles]),
            sigma=t([values(p[1], nm) for p in particles]),
            epsilon=t([values(p[2], kj) for p in particles]),
            exceptions=t([[x[0], x[1]] for x in exceptions], torch.long).reshape(-1, 2),
            exception_charge_product=t([values(x[2], e**2) for x in exceptions]),
            exception_sigma=t([values(x[3], nm) for x in exceptions]),
            exception_epsilon=t([values(x[4], kj) for x in exceptions]),
        )


def dihedral(x: torch.Tensor, quads: torch.Tensor) -> torch.Tensor:
    """Signed dihedral angles (IUPAC convention, as OpenMM) of atom quadruples, in radians."""
    b1 = x[..., quads[:, 1], :] - x[..., quads[:, 0], :]
    b2 = x[..., quads[:, 2], :] - x[..., quads[:, 1], :]
    b3 = x[..., quads[:, 3], :] - x[..., quads[:, 2], :]
    n1 = torch.linalg.cross(b1, b2)
    n2 = torch.linalg.cross(b2, b3)
    b2_unit = b2 / torch.linalg.vector_norm(b2, dim=-1, keepdim=True)
    return torch.atan2((torch.linalg.cross(n1, n2) * b2_unit).sum(-1), (n1 * n2).sum(-1))

def bond_angle(x: torch.Tensor, triples: torch.Tensor) -> torch.Tensor:
    """Angles i-j-k at j, in radians (atan2 form: accurate near 0 and π)."""
    a = x[..., triples[:, 0], :] - x[..., triples[:, 1], :]
    b = x[..., triples[:, 2], :] - x[..., triples[:, 1], :]
    return torch.atan2(torch.linalg.vector_norm(torch.linalg.cross(a, b), dim=-1), (a * b).sum(-1))


class AmberEnergy(nn.Module):
    """E(x) for coordinates x (..., n, 3) in nm, in kJ/mol; ``terms`` gives the five parts.

    ``weights`` scales (or, with 0, switches off) terms by name. Without a cutoff all
    non-excluded pairs are evaluated densely, which suits proteins of a few thousand atoms;
    ``cutoff_nm`` (with a Verlet list of skin ``skin_nm``) is OpenMM's CutoffNonPeriodic.
    """

    unit = "kJ/mol"

    def __init__(self, params: AmberParameters, weights: dict[str, float] | None = None,
                 cutoff_nm: float | None = None, skin_nm: float = 0.2) -> None:
        super().__init__()
        self.weights = {name: 1.0 for name in TERMS} | (weights or {})
        for name, value in vars(params).items():
            self.register_buffer(name, value)
        n = params.n
        self.cutoff_nm = cutoff_nm
        self.fused = True  # False: plain autograd, differentiable twice (for reference Hessians)
        self.compiled = False  # True: energy and gradient as one torch.compile'd function (energy.compile)
        self.compile_s = 0.0  # what compiling cost, first calls included
        self._compiled_fn: Any = None
        if cutoff_nm is not None:  # no list of all n² pairs: the neighbour list finds them
            self.neighbours = VerletList(cutoff_nm, skin_nm)
            ex = params.exceptions
            self.register_buffer("exception_keys", torch.unique(ex.min(dim=1).values * n + ex.max(dim=1).values))
            eps = REACTION_FIELD_DIELECTRIC
            self.k_rf = (eps - 1) / ((2 * eps + 1) * cutoff_nm**3)
            self.c_rf = 1 / cutoff_nm + self.k_rf * cutoff_nm**2
            self.dense = False
            self._listed: tuple | None = None
            return
        excluded = torch.zeros(n, n, dtype=torch.bool)
        excluded[params.exceptions[:, 0], params.exceptions[:, 1]] = True
        excluded[params.exceptions[:, 1], params.exceptions[:, 0]] = True
        i, j = torch.triu_indices(n, n, offset=1)
        keep = ~excluded[i, j]
        self.register_buffer("pairs", torch.stack([i[keep], j[keep]], dim=1))
        self.register_buffer("pair_sigma", 0.5 * (params.sigma[i[keep]] + params.sigma[j[keep]]))
        self.register_buffer("pair_epsilon", torch.sqrt(params.epsilon[i[keep]] * params.epsilon[j[keep]]))
        self.register_buffer("pair_charge_product", params.charge[i[keep]] * params.charge[j[keep]])
        # Up to DENSE_MAX_ATOMS atoms the non-bonded pairs are evaluated as symmetric n x n
        # matrices (no gather/scatter over a pair list), with the analytic gradient of
        # nrep.core.energy.fused (also for a batch of structures, x of shape (B, n, 3)).
        self.dense = n <= DENSE_MAX_ATOMS
        if self.dense:
            def matrix(values: torch.Tensor) -> torch.Tensor:
                full = torch.zeros(n, n, dtype=values.dtype)
                full[self.pairs[:, 0], self.pairs[:, 1]] = values
                full[self.pairs[:, 1], self.pairs[:, 0]] = values
                return full

            self.register_buffer("nb_mask", matrix(torch.ones(len(self.pairs), dtype=torch.bool)))
            self.register_buffer("nb_sigma2", matrix(self.pair_sigma**2))
            self.register_buffer("nb_epsilon", matrix(self.pair_epsilon))
            self.register_buffer("nb_charge_product", matrix(self.pair_charge_product))

    def _nonbonded(self, x: torch.Tensor, fused: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Unweighted (lj, coulomb) over the non-excluded pairs and the exceptions (``fused``: the
        analytic-gradient blocks; None: ``self.fused``)."""
        fused = self.fused if fused is None else fused
        r_ex = pair_distances(x, self.exceptions)
        lj = lennard_jones(r_ex, self.exception_sigma, self.exception_epsilon).sum(-1)
        qq = coulomb(r_ex, self.exception_charge_product).sum(-1)
        if self.cutoff_nm is not None:
            pairs, sigma, epsilon, charges = self.listed_pairs(x)
            r = pair_distances(x, pairs)
            inside = r < self.cutoff_nm
            r_safe = torch.where(inside, r, torch.ones((), dtype=r.dtype, device=r.device))
            zero = torch.zeros((), dtype=r.dtype, device=r.device)
            lj = lj + torch.where(inside, lennard_jones(r_safe, sigma, epsilon), zero).sum(-1)
            rf = ONE_4PI_EPS0 * charges * (1 / r_safe + self.k_rf * r_safe**2 - self.c_rf)
            qq = qq + torch.where(inside, rf, zero).sum(-1)
        elif self.dense and fused:
            def block_parameters(rows: slice, cols: slice) -> tuple[torch.Tensor, ...]:
                return self._block_parameters(x.dtype, rows, cols)

            lj_nb, qq_nb = fused_pair_sums(x, nonbonded_phi, block_parameters, 2)
            lj, qq = lj + lj_nb, qq + qq_nb
        elif self.dense:  # plain autograd over (..., n, n)
            diff = x[..., :, None, :] - x[..., None, :, :]
            r2 = torch.where(self.nb_mask, (diff * diff).sum(-1), torch.ones((), dtype=x.dtype, device=x.device))
            s6 = (self.nb_sigma2 / r2) ** 3
            # the matrices are symmetric: every pair twice
            lj = lj + 0.5 * (4 * self.nb_epsilon * (s6 * s6 - s6)).sum((-2, -1))
            qq = qq + 0.5 * ONE_4PI_EPS0 * (self.nb_charge_product * torch.rsqrt(r2)).sum((-2, -1))
        else:
            r = pair_distances(x, self.pairs)
            lj = lj + lennard_jones(r, self.pair_sigma, self.pair_epsilon).sum(-1)
            qq = qq + coulomb(r, self.pair_charge_product).sum(-1)
        return lj, qq

    def listed_pairs(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The non-excluded pairs of the neighbour list at x and their σ_ij, ε_ij, q_i q_j (in x's dtype)."""
        pairs = self.neighbours.pairs(x)
        key = (self.neighbours.builds, x.dtype, x.device)
        if self._listed is None or self._listed[0] != key:
            n = len(self.charge)
            kept = pairs[~torch.isin(pairs[:, 0] * n + pairs[:, 1], self.exception_keys.to(pairs.device))]
            i, j = kept[:, 0], kept[:, 1]
            found = (0.5 * (self.sigma[i] + self.sigma[j]), torch.sqrt(self.epsilon[i] * self.epsilon[j]),
                     self.charge[i] * self.charge[j])
            self._listed = (key, kept, *(v.to(x.dtype) for v in found))
        return self._listed[1:]

    def _dense_parameters(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(σ², ε, k q q) matrices in ``dtype``: a float32 run evaluates its n² pairs in float32,
        while the float64 parameters stay for exact energies."""
        key = (dtype, self.nb_sigma2.device)
        if getattr(self, "_dense_cache_key", None) != key:
            self._dense_cache = tuple(m.to(dtype) for m in (self.nb_sigma2, self.nb_epsilon, ONE_4PI_EPS0 * self.nb_charge_product))
            self._dense_cache_key = key
        return self._dense_cache

    def _block_parameters(self, dtype: torch.dtype, rows: slice, cols: slice) -> tuple[torch.Tensor, ...]:
        """The non-bonded mask, σ², ε and k q q of one block of rows x cols."""
        sigma2, epsilon, k_qq = self._dense_parameters(dtype)
        return self.nb_mask[rows, cols], sigma2[rows, cols], epsilon[rows, cols], k_qq[rows, cols]

    def bonded_terms(self) -> dict[str, PairTerm | LocalTerm]:
        """The bonded terms as units (their value for the energy, their form for the Hessian), over the current buffers."""
        return {
            "bond": PairTerm(self.bonds, harmonic, (self.bond_r0, self.bond_k)),
            "angle": LocalTerm(self.angles, angle_energy, (self.angle_theta0, self.angle_k)),
            "torsion": LocalTerm(self.torsions, torsion_energy, (self.torsion_periodicity, self.torsion_phase, self.torsion_k)),
        }

    def terms(self, x: torch.Tensor, names: tuple[str, ...] = TERMS) -> dict[str, torch.Tensor]:
        """The weighted terms (those with weight 0 left out) for x of shape (..., n, 3)."""
        wanted = [name for name in names if self.weights[name] != 0]
        values = {name: term.value(x) for name, term in self.bonded_terms().items() if name in wanted}
        if "lj" in wanted or "coulomb" in wanted:
            lj, qq = self._nonbonded(x)
            values.update({name: value for name, value in (("lj", lj), ("coulomb", qq)) if name in wanted})
        return {name: self.weights[name] * values[name] for name in wanted}

    def exact_terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The same as :meth:`terms`: nothing is sampled in this energy."""
        return self.terms(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.compiled:
            return _CompiledEnergy.apply(x, self)
        return sum(self.terms(x).values())

    # ----------------------------------------------------------------- energy.compile

    def _weighted_total(self, x: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(Σ over structures, each structure's energy): every term in plain torch ops, for torch.compile.

        The weights come in as a tensor, so that changing them does not compile again."""
        bonded = self.bonded_terms()
        lj, qq = self._nonbonded(x, fused=False)
        values = [bonded["bond"].value(x), bonded["angle"].value(x), bonded["torsion"].value(x), lj, qq]
        energy = sum(weights[k] * value for k, value in enumerate(values))
        return energy.sum(), energy

    def term_weights(self, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """The weights in TERMS order as a tensor (0: the term is switched off)."""
        return torch.tensor([self.weights[name] for name in TERMS], dtype=dtype, device=device)

    def compiled_value_and_gradient(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """E(x) (shape (...)) and dE/dx by one compiled function; the first call per shape and dtype compiles
        (its time is added to ``compile_s``; inductor keeps the kernels in its on-disk cache for later runs)."""
        if self.cutoff_nm is not None:
            raise ValueError("energy.compile needs every pair (no cutoff): the neighbour list changes its size")
        started = time.perf_counter()
        if self._compiled_fn is None:
            self._compiled_fn = torch.compile(torch.func.grad_and_value(self._weighted_total, has_aux=True),
                                              dynamic=False)
            self._compiled_keys: set = set()
        key = (tuple(x.shape), x.dtype, x.device)
        gradient, (_, energies) = self._compiled_fn(x, self.term_weights(x.dtype, x.device))
        if key not in self._compiled_keys:
            self._compiled_keys.add(key)
            self.compile_s += time.perf_counter() - started
        return energies, gradient

    def describe(self) -> dict[str, object]:
        """Summary columns: nrep's torch terms of amber14, in vacuum (the cutoff, nm; the compile time)."""
        found = {"energy_engine": "torch", "energy_forcefield": "amber14-all.xml", "energy_solvent": "vacuum",
                 "energy_cutoff_nm": self.cutoff_nm}
        if self.compiled:
            found["time_compile_s"] = self.compile_s
        return found

    # ----------------------------------------------------------------- for the Hessian

    def pair_interactions(self) -> list[PairInteraction]:
        """Bonds and the non-bonded pairs as pair terms, each pair with its own parameters."""
        w = self.weights
        found = [self.bonded_terms()["bond"].interaction(w["bond"])] if w["bond"] else []
        if w["lj"] or w["coulomb"]:
            def nonbonded(r: torch.Tensor, sigma: torch.Tensor, epsilon: torch.Tensor, charges: torch.Tensor) -> torch.Tensor:
                return w["lj"] * lennard_jones(r, sigma, epsilon) + w["coulomb"] * coulomb(r, charges)

            if self.cutoff_nm is not None:
                if self._listed is None:
                    raise RuntimeError("a cutoff energy's Hessian pairs come from its neighbour list: evaluate it first")
                def cut(r: torch.Tensor, sigma: torch.Tensor, epsilon: torch.Tensor, charges: torch.Tensor) -> torch.Tensor:
                    rf = ONE_4PI_EPS0 * charges * (1 / r + self.k_rf * r**2 - self.c_rf)
                    return torch.where(r < self.cutoff_nm, w["lj"] * lennard_jones(r, sigma, epsilon) + w["coulomb"] * rf,
                                       torch.zeros_like(r))

                _, pairs, *params = self._listed
                found.append(PairTerm(pairs, cut, tuple(p.to(torch.float64) for p in params)).interaction())
            cutoff_free = () if self.cutoff_nm is not None else (
                (self.pairs, self.pair_sigma, self.pair_epsilon, self.pair_charge_product),)
            for pairs, *params in (
                *cutoff_free,
                (self.exceptions, self.exception_sigma, self.exception_epsilon, self.exception_charge_product),
            ):
                found.append(PairTerm(pairs, nonbonded, tuple(params)).interaction())
        return found

    def local_interactions(self) -> list[LocalInteraction]:
        """The angles and torsions, one group of 3 or 4 atoms at a time, for the Hessian."""
        terms = self.bonded_terms()
        return [terms[name].interaction(self.weights[name]) for name in ("angle", "torsion") if self.weights[name]]


class _CompiledEnergy(torch.autograd.Function):
    """E(x) whose backward is the gradient the compiled function already computed."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, energy: AmberEnergy) -> torch.Tensor:
        values, gradient = energy.compiled_value_and_gradient(x.detach())
        ctx.save_for_backward(gradient)
        return values

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        (gradient,) = ctx.saved_tensors
        return grad_output[..., None, None] * gradient, None


def angle_energy(x: torch.Tensor, triples: torch.Tensor, theta0: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """½ k (θ − θ0)² of each angle i-j-k, shape (..., m)."""
    return harmonic(bond_angle(x, triples), theta0, k)


def torsion_energy(x: torch.Tensor, quads: torch.Tensor, periodicity: torch.Tensor, phase: torch.Tensor,
                   k: torch.Tensor) -> torch.Tensor:
    """k (1 + cos(n φ − φ0)) of each torsion, shape (..., m)."""
    return k * (1 + torch.cos(periodicity * dihedral(x, quads) - phase))


def nonbonded_phi(r2: torch.Tensor, mask: torch.Tensor, sigma2: torch.Tensor, epsilon: torch.Tensor,
                  k_qq: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """LJ and Coulomb φ and dφ/dr² of a block of the dense matrices (excluded pairs give 0)."""
    r2 = torch.where(mask, r2, 1.0)
    return (*lj_phi(r2, sigma2, epsilon), *coulomb_phi(r2, k_qq))


def harmonic(value: torch.Tensor, rest: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """½ k (value − rest)², element-wise (OpenMM's convention, with the ½)."""
    return 0.5 * k * (value - rest) ** 2


def lennard_jones(r: torch.Tensor, sigma: torch.Tensor, epsilon: torch.Tensor) -> torch.Tensor:
    """4 ε ((σ/r)¹² − (σ/r)⁶), element-wise, in kJ/mol for r and σ in nm."""
    s6 = (sigma / r) ** 6
    return 4 * epsilon * (s6 * s6 - s6)


def coulomb(r: torch.Tensor, charge_product: torch.Tensor) -> torch.Tensor:
    """q_i q_j / (4π ε0 r) in vacuum, element-wise, in kJ/mol for r in nm and charges in e."""
    return ONE_4PI_EPS0 * charge_product / r
