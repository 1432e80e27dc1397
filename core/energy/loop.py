"""Energies of the synthetic loops, exactly as the authors' scripts define them (paper §3.2).

E(X) = sum over terms of  weight * reduce_{pairs of the term} f(r_ij)  +  E_rep

with ``reduce`` a mean over the pairs of the term's coupling matrix (the authors') or a
sum over unordered pairs. Two energies:

- ``bond_lj``: (r - r0)^2 on bonds (mean over bonds) + loop_strength * LJ on loop pairs
  (mean over loop pairs).
- ``pure_lj``: one coupling matrix A = A_bond + loop_strength * A_loop with LJ on every
  coupled pair, so the mean runs over bonds and loop pairs together. ``terms`` splits it
  into its bond and loop parts, which add up to the total.

E_rep is a weak repulsion between uncoupled beads over a random sample of pairs, redrawn
on a schedule; :meth:`LoopEnergy.exact_terms` evaluates it over all uncoupled pairs.
Units are reduced throughout.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import nn

from nrep.core.energy import potentials
from nrep.core.energy.neighbours import VerletList
from nrep.core.energy.pairs import PairInteraction, PairPotential, pair_distances, sum_over_all_pairs
from nrep.core.systems.loop import LoopSystem, n_log_n


@dataclass(frozen=True)
class PairTerm:
    """weight * sum_{(i, j) in pairs} f(r_ij) / denominator."""

    name: str
    pairs: torch.Tensor
    weight: float
    potential: PairPotential
    denominator: float


class SampledRepulsion(nn.Module):
    """strength * mean over sampled uncoupled pairs of 1 / (r^power + softening).

    With ``normalisation='sum'`` the sample mean is scaled by the number of uncoupled
    pairs, so it estimates the sum over all of them. Pairs are drawn with replacement
    from a generator seeded by ``seed``, so a run's samples are reproducible.

    With a ``cutoff`` (absolute length) the pairs are drawn among the uncoupled pairs of a
    Verlet list (:class:`VerletList`: those within cutoff + skin when it was built), each
    contributes f(r) while r < cutoff and nothing beyond, and the sample mean is scaled by
    the listed fraction of all uncoupled pairs. The value then estimates the quantity
    without a cutoff restricted to the pairs within it: Σ_{uncoupled, r < cutoff} f / N_u
    (``mean``) or that sum (``sum``). When the list holds no more uncoupled pairs than the
    sample size, the sample is the whole list, kept valid by rebuilding it whenever a bead
    has moved more than skin / 2, so the value is that quantity exactly. Either way the
    sample is drawn around the structure last evaluated, at the start and on each
    :meth:`resample`.
    """

    def __init__(
        self,
        n: int,
        coupled_pairs: torch.Tensor,
        n_samples: int,
        strength: float,
        power: float,
        softening: float,
        normalisation: str,
        seed: int,
        cutoff: float | None = None,
        skin: float = 0.5,
        x0: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.n = n
        self.n_samples = n_samples
        self.strength = strength
        self.potential = functools.partial(potentials.soft_inverse_power, power=power, softening=softening)
        i, j = coupled_pairs.min(dim=1).values, coupled_pairs.max(dim=1).values
        self.coupled_keys = torch.unique(i * n + j)
        self.n_uncoupled = n * (n - 1) // 2 - len(self.coupled_keys)
        if self.n_uncoupled <= 0:
            raise ValueError("every pair of beads is coupled: there is nothing for the repulsion to act on")
        self.scale = strength * (self.n_uncoupled if normalisation == "sum" else 1.0)
        self.generator = torch.Generator().manual_seed(seed)
        self.cutoff = cutoff
        self.neighbours = None if cutoff is None else VerletList(cutoff, skin)
        self.whole_list = False  # the sample is the whole neighbour list (kept valid at every evaluation)
        self.pair_weight = 1.0 / n_samples  # each sampled pair's share: value = scale * pair_weight * Σ f
        self._x_seen = x0
        self._drawn_shape: tuple[int, ...] | None = None  # the shape of the structures the sample was drawn for
        self.register_buffer("pairs", self.draw() if cutoff is None or x0 is not None else torch.zeros(0, 2, dtype=torch.long))

    def draw(self) -> torch.Tensor:
        """The next sample: ``n_samples`` uncoupled pairs (i < j), or with a cutoff the
        listed ones near the structure last evaluated (all of them, or a sample)."""
        if self.cutoff is not None:
            return self._draw_near(self._x_seen)
        chunks, found = [], 0
        while found < self.n_samples:
            candidates = torch.randint(0, self.n, (2 * self.n_samples + 16, 2), generator=self.generator)
            i, j = candidates.min(dim=1).values, candidates.max(dim=1).values
            keep = (i != j) & ~torch.isin(i * self.n + j, self.coupled_keys)
            chunk = torch.stack([i[keep], j[keep]], dim=1)
            chunks.append(chunk)
            found += len(chunk)
        return torch.cat(chunks)[: self.n_samples]

    def _uncoupled_listed(self, x: torch.Tensor) -> torch.Tensor:
        listed = self.neighbours.pairs(x).cpu()
        return listed[~torch.isin(listed[:, 0] * self.n + listed[:, 1], self.coupled_keys)]

    def _draw_near(self, x: torch.Tensor) -> torch.Tensor:
        self._drawn_shape = tuple(x.shape)
        uncoupled = self._uncoupled_listed(x)
        self.whole_list = len(uncoupled) <= self.n_samples
        if self.whole_list:
            self.pair_weight = 1.0 / self.n_uncoupled
            return uncoupled
        self.pair_weight = len(uncoupled) / self.n_uncoupled / self.n_samples
        return uncoupled[torch.randint(0, len(uncoupled), (self.n_samples,), generator=self.generator)]

    def local_interactions(self) -> list:
        """Loops are made of pair terms only."""
        return []

    def resample(self) -> None:
        self.pairs = self.draw().to(self.pairs.device)

    def sample_state(self) -> dict:
        """The current sample and the generator's state: what a resumed run needs."""
        state = {"pairs": self.pairs.cpu(), "generator": self.generator.get_state()}
        if self.neighbours is not None:
            state.update(pair_weight=self.pair_weight, whole_list=self.whole_list, drawn_shape=self._drawn_shape,
                         neighbours=self.neighbours.state_dict())
        return state

    def load_sample_state(self, state: dict) -> None:
        self.pairs = state["pairs"].to(self.pairs.device)
        self.generator.set_state(state["generator"])
        if self.neighbours is not None:
            self.pair_weight, self.whole_list = state["pair_weight"], state["whole_list"]
            self._drawn_shape = state["drawn_shape"]
            self.neighbours.load_state_dict(state["neighbours"])

    def cut_potential(self, r: torch.Tensor) -> torch.Tensor:
        """f(r) within the cutoff, 0 beyond it (f itself without a cutoff)."""
        if self.cutoff is None:
            return self.potential(r)
        return torch.where(r < self.cutoff, self.potential(r), torch.zeros_like(r))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.cutoff is not None:
            self._x_seen = x.detach()
            if self._drawn_shape != tuple(x.shape):  # other structures than those drawn for (a batch): draw for them
                self.resample()
            elif self.whole_list and self.neighbours.needs_rebuild(x):
                self.pairs = self._uncoupled_listed(x).to(self.pairs.device)
        values = self.cut_potential(pair_distances(x, self.pairs))
        if self.cutoff is None:  # the authors' sample mean, as they compute it
            return self.scale * values.mean(dim=-1)
        return self.scale * self.pair_weight * values.sum(dim=-1)

    def exact(self, x: torch.Tensor) -> torch.Tensor:
        """The quantity without a cutoff over every uncoupled pair instead of a sample (x of shape (n, 3))."""
        coupled = torch.stack([self.coupled_keys // self.n, self.coupled_keys % self.n], dim=1).to(x.device)
        total = sum_over_all_pairs(x, self.potential) - self.potential(pair_distances(x, coupled)).sum()
        return self.scale * total / self.n_uncoupled


class LoopEnergy(nn.Module):
    """Energy of a loop; ``forward(x)`` is the total, ``terms(x)`` its parts (reduced units)."""

    unit = "reduced"
    cutoff: float | None = None  # the repulsion's cutoff and skin in bond lengths (None: all pairs)
    skin: float | None = None

    def __init__(self, pair_terms: list[PairTerm], repulsion: SampledRepulsion | None) -> None:
        super().__init__()
        self.pair_terms = pair_terms
        for term in pair_terms:
            self.register_buffer(f"pairs_{term.name}", term.pairs)
        self.repulsion = repulsion

    def _pair_terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        values = {}
        for term in self.pair_terms:
            r = pair_distances(x, getattr(self, f"pairs_{term.name}"))
            values[term.name] = term.weight * term.potential(r).sum(dim=-1) / term.denominator
        return values

    def terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each term's energy for coordinates x of shape (..., n, 3); they add up to forward(x)."""
        values = self._pair_terms(x)
        if self.repulsion is not None:
            values["repulsion"] = self.repulsion(x)
        return values

    def exact_terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """As :meth:`terms`, with the repulsion over all uncoupled pairs (x of shape (n, 3))."""
        values = self._pair_terms(x)
        if self.repulsion is not None:
            values["repulsion"] = self.repulsion.exact(x)
        return values

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sum(self.terms(x).values())

    def pair_interactions(self) -> list[PairInteraction]:
        """The energy as a list of pair terms (with the current repulsion sample), for the Hessian."""
        found = [
            PairInteraction(getattr(self, f"pairs_{t.name}").cpu(), t.weight / t.denominator, t.potential)
            for t in self.pair_terms
        ]
        if self.repulsion is not None:
            rep = self.repulsion
            found.append(PairInteraction(rep.pairs.cpu(), rep.scale * rep.pair_weight, rep.cut_potential))
        return found

    def local_interactions(self) -> list:
        """Loops are made of pair terms only."""
        return []

    def describe(self) -> dict[str, float | None]:
        """The summary's record of the cutoff (bond lengths; None: every pair)."""
        return {"energy_cutoff": self.cutoff, "energy_skin": self.skin}

    def resample(self) -> None:
        """Redraw the repulsion pairs (a no-op without repulsion)."""
        if self.repulsion is not None:
            self.repulsion.resample()

    def sample_state(self) -> dict:
        return {} if self.repulsion is None else self.repulsion.sample_state()

    def load_sample_state(self, state: dict) -> None:
        if self.repulsion is not None:
            self.repulsion.load_sample_state(state)


def lj_potential(bond_length: float, softening: float, core_radius: float | None) -> PairPotential:
    """The loop LJ: the authors' soft form, or with a repulsive wall below ``core_radius``."""
    if core_radius is None:
        return functools.partial(potentials.lj_soft, r0=bond_length, softening=softening)
    return functools.partial(potentials.lj_wall, r0=bond_length, softening=softening, core_radius=core_radius)


def build_loop_energy(
    system: LoopSystem,
    name: str,
    normalisation: str = "mean",
    bond_length: float = 1.0,
    loop_strength: float = 0.1,
    lj_softening: float = 1e-2,
    lj_core_radius: float | None = None,
    repulsion: dict | None = None,
    seed: int = 0,
    cutoff: float | None = None,
    skin: float = 0.5,
) -> LoopEnergy:
    """The ``bond_lj`` or ``pure_lj`` energy of a loop.

    ``repulsion`` holds the keyword arguments of the repulsion (strength, power,
    softening, pair_factor); None leaves it out. ``cutoff`` and ``skin`` (in bond
    lengths; None: no cutoff) restrict the repulsion to pairs within the cutoff, drawn
    first around the system's start ``system.x0``.
    """
    lj = lj_potential(bond_length, lj_softening, lj_core_radius)
    n_bonds, n_loops = len(system.bonds), len(system.loops)
    mean = normalisation == "mean"
    if name == "bond_lj":
        bond = functools.partial(potentials.quadratic, r0=bond_length)
        terms = [
            PairTerm("bond", system.bonds, 1.0, bond, n_bonds if mean else 1.0),
            PairTerm("lj_loop", system.loops, loop_strength, lj, n_loops if mean else 1.0),
        ]
    elif name == "pure_lj":
        denominator = n_bonds + n_loops if mean else 1.0
        terms = [
            PairTerm("lj_bond", system.bonds, 1.0, lj, denominator),
            PairTerm("lj_loop", system.loops, loop_strength, lj, denominator),
        ]
    else:
        raise ValueError(f"unknown loop energy {name!r}; use bond_lj or pure_lj")

    sampled = None
    if repulsion is not None:
        sampled = SampledRepulsion(
            system.n,
            system.coupled_pairs,
            n_samples=max(1, round(repulsion["pair_factor"] * n_log_n(system.n))),
            strength=repulsion["strength"],
            power=repulsion["power"],
            softening=repulsion["softening"],
            normalisation=normalisation,
            seed=seed,
            cutoff=None if cutoff is None else cutoff * bond_length,
            skin=skin * bond_length,
            x0=None if cutoff is None else system.x0,
        )
    energy = LoopEnergy(terms, sampled)
    energy.cutoff, energy.skin = cutoff, (skin if cutoff is not None else None)
    return energy


def lj_minimum_distance(bond_length: float = 1.0, softening: float = 1e-2) -> float:
    """Where the loop LJ has its true minimum (1.132 r0 for the authors' softening)."""
    from scipy.optimize import brentq

    def slope(s: float) -> float:
        return float(potentials.lj_soft_derivative(torch.tensor(s, dtype=torch.float64), 1.0, softening))

    return bond_length * brentq(slope, 1.0, 2.0 ** (1.0 / 6.0) * 1.5, xtol=1e-12)

