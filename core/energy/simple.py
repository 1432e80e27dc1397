"""The paper's simplified protein model (model A: paper §4.2 and App. A), in reduced units.

    E = k_bond Σ (r − r0)² + k_angle Σ (θ − θ0)²
        + ε_vdW Σ V₁₂,₆(r / σ_vdW) + ε_H Σ V₆,₄(r / σ_H) + ε_hp Σ V₆,₄(r / σ_hp)

with the softened V_p,q(s) = 1/(s^p + ζ) − 1/(s^q + ζ), ζ = 0.65, and lengths in Å
(coordinates come in nm, as everywhere in nrep, and are converted here). The paper leaves
most numbers open; nrep's choices (paper.md §7) are:

- r0 and θ0 from the AMBER parameters of each bond and angle; k_bond = 1 per Å²,
  k_angle = 1 per rad², ε = 1 for every pair term.
- vdW between all pairs that are not 1-2 or 1-3 bonded, σ_vdW = a_i + a_j with the
  radius a_i = σ_i · 2^(1/6) / 2 from the atom's AMBER Lennard-Jones σ_i.
- H-bond between a polar hydrogen (bonded to N or O) and an acceptor (N or O), σ_H = 1.5 Å.
- hydrophobic between atoms that both belong to hydrophobic residues, σ_hp = c_i + c_j
  with c = 2 Å (4 Å).
- terms summed (``normalisation="mean"``: each term is a mean over its bonds, angles or pairs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from nrep.core.energy.amber import AmberParameters, bond_angle
from nrep.core.energy.pairs import LocalInteraction, LocalTerm, PairInteraction, PairTerm

if TYPE_CHECKING:
    from collections.abc import Collection

    import openmm.app

NM_TO_A = 10.0
TERMS = ("bond", "angle", "vdw", "hbond", "hydrophobic")
HYDROPHOBIC_RESIDUES = ("ALA", "VAL", "LEU", "ILE", "MET", "PHE", "TRP", "PRO")


def soft_pq(s: torch.Tensor, p: int, q: int, softening: float) -> torch.Tensor:
    """The softened V_p,q(s) = 1/(s^p + ζ) − 1/(s^q + ζ) of the paper's eq. 12."""
    return 1.0 / (s**p + softening) - 1.0 / (s**q + softening)


@dataclass
class SimpleParameters:
    """What model A needs about a protein: bonded geometry and three atom classes (float64, CPU)."""

    bonds: torch.Tensor  # (nb, 2)
    bond_r0_A: torch.Tensor
    angles: torch.Tensor  # (na, 3)
    angle_theta0: torch.Tensor  # rad
    radius_A: torch.Tensor  # (n,) vdW radius a_i
    polar_h: torch.Tensor  # (n,) bool: hydrogen bonded to N or O
    acceptor: torch.Tensor  # (n,) bool: N or O
    hydrophobic: torch.Tensor  # (n,) bool: in a hydrophobic residue

    @property
    def n(self) -> int:
        return len(self.radius_A)

    @classmethod
    def from_protein(
        cls, topology: openmm.app.Topology, amber: AmberParameters, hydrophobic_residues: Collection[str] = HYDROPHOBIC_RESIDUES
    ) -> "SimpleParameters":
        """From an OpenMM topology and the AMBER parameters of the same atoms."""
        atoms = list(topology.atoms())
        symbol = [a.element.symbol if a.element is not None else "" for a in atoms]
        polar_h = torch.zeros(len(atoms), dtype=torch.bool)
        for a, b in topology.bonds():
            for h, other in ((a, b), (b, a)):
                if symbol[h.index] == "H" and symbol[other.index] in ("N", "O"):
                    polar_h[h.index] = True
        return cls(
            bonds=amber.bonds,
            bond_r0_A=NM_TO_A * amber.bond_r0,
            angles=amber.angles,
            angle_theta0=amber.angle_theta0,
            radius_A=NM_TO_A * amber.sigma * 2.0 ** (1.0 / 6.0) / 2.0,
            polar_h=polar_h,
            acceptor=torch.tensor([s in ("N", "O") for s in symbol]),
            hydrophobic=torch.tensor([a.residue.name in hydrophobic_residues for a in atoms]),
        )


def close_pairs(n: int, bonds: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """(n, n) bool: the 1-2 (bonded) and 1-3 (angle ends) pairs, both ways, and the diagonal."""
    close = torch.eye(n, dtype=torch.bool)
    for i, j in (bonds.T, angles[:, [0, 2]].T):
        close[i, j] = True
        close[j, i] = True
    return close


class SimpleEnergy(nn.Module):
    """Model A for coordinates x (..., n, 3) in nm; ``terms`` gives bond, angle, vdw, hbond, hydrophobic."""

    unit = "reduced"

    def __init__(
        self,
        params: SimpleParameters,
        k_bond: float = 1.0,
        k_angle: float = 1.0,
        eps_vdw: float = 1.0,
        eps_hbond: float = 1.0,
        eps_hydrophobic: float = 1.0,
        softening: float = 0.65,
        hbond_sigma_A: float = 1.5,
        hydrophobic_radius_A: float = 2.0,
        normalisation: str = "sum",
    ) -> None:
        super().__init__()
        if normalisation not in ("sum", "mean"):
            raise ValueError(f"unknown normalisation {normalisation!r}; use sum or mean")
        self.softening = softening
        self.weights = {"bond": k_bond, "angle": k_angle, "vdw": eps_vdw, "hbond": eps_hbond,
                        "hydrophobic": eps_hydrophobic}
        self.mean = normalisation == "mean"
        self.register_buffer("bonds", params.bonds)
        self.register_buffer("bond_r0_A", params.bond_r0_A)
        self.register_buffer("angles", params.angles)
        self.register_buffer("angle_theta0", params.angle_theta0)

        n = params.n
        i, j = torch.triu_indices(n, n, offset=1)
        far = ~close_pairs(n, params.bonds, params.angles)[i, j]
        vdw_sigma = params.radius_A[i] + params.radius_A[j]
        hbond = (params.polar_h[i] & params.acceptor[j]) | (params.acceptor[i] & params.polar_h[j])
        both_hydrophobic = params.hydrophobic[i] & params.hydrophobic[j]
        self.pair_terms = {  # name -> (p, q)
            "vdw": (12, 6),
            "hbond": (6, 4),
            "hydrophobic": (6, 4),
        }
        for name, keep, sigma in (
            ("vdw", far & (vdw_sigma > 0), vdw_sigma),
            ("hbond", far & hbond, torch.full_like(vdw_sigma, hbond_sigma_A)),
            ("hydrophobic", far & both_hydrophobic, torch.full_like(vdw_sigma, 2 * hydrophobic_radius_A)),
        ):
            self.register_buffer(f"{name}_pairs", torch.stack([i[keep], j[keep]], dim=1))
            self.register_buffer(f"{name}_sigma_A", sigma[keep])

    def _count(self, name: str) -> int:
        if name == "bond":
            return len(self.bonds)
        if name == "angle":
            return len(self.angles)
        return len(getattr(self, f"{name}_pairs"))

    def _denominator(self, name: str) -> float:
        return max(1, self._count(name)) if self.mean else 1.0

    def term_units(self) -> dict[str, PairTerm | LocalTerm]:
        """Each term as a unit (its value for the energy, its form for the Hessian) in Å, over the current buffers."""
        units: dict[str, PairTerm | LocalTerm] = {
            "bond": PairTerm(self.bonds, squared_deviation, (self.bond_r0_A,)),
            "angle": LocalTerm(self.angles, angle_deviation, (self.angle_theta0,)),
        }
        for name, (p, q) in self.pair_terms.items():
            def potential(r_A: torch.Tensor, sigma_A: torch.Tensor, p: int = p, q: int = q) -> torch.Tensor:
                return soft_pq(r_A / sigma_A, p, q, self.softening)

            units[name] = PairTerm(getattr(self, f"{name}_pairs"), potential, (getattr(self, f"{name}_sigma_A"),))
        return units

    def terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The weighted terms (those with weight 0 left out) for x (..., n, 3) in nm."""
        x_A = NM_TO_A * x
        units = self.term_units()
        return {name: self.weights[name] * units[name].value(x_A) / self._denominator(name)
                for name in TERMS if self.weights[name] != 0}

    def exact_terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The same as :meth:`terms`: nothing is sampled in this energy."""
        return self.terms(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sum(self.terms(x).values())

    # ----------------------------------------------------------------- for the Hessian

    def pair_interactions(self) -> list[PairInteraction]:
        """Bonds and the three pair terms, as functions of the distance in nm."""
        units = self.term_units()
        return [units[name].interaction(self.weights[name] / self._denominator(name), length_scale=NM_TO_A)
                for name in ("bond", *self.pair_terms)
                if self.weights[name] and (name == "bond" or self._count(name))]

    def local_interactions(self) -> list[LocalInteraction]:
        """The angles, one triple at a time (an angle does not depend on the length unit)."""
        if not self.weights["angle"]:
            return []
        return [self.term_units()["angle"].interaction(self.weights["angle"] / self._denominator("angle"))]


def squared_deviation(value: torch.Tensor, rest: torch.Tensor) -> torch.Tensor:
    """(value − rest)², element-wise (model A's bonds, without AMBER's ½ k)."""
    return (value - rest) ** 2


def angle_deviation(x: torch.Tensor, triples: torch.Tensor, theta0: torch.Tensor) -> torch.Tensor:
    """(θ − θ0)² of each angle i-j-k, shape (..., m)."""
    return (bond_angle(x, triples) - theta0) ** 2
