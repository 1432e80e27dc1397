"""The loop repulsion with a cutoff against brute force over every pair of beads (float64)."""

import pytest
import torch

from nrep.core.energy.loop import build_loop_energy
from nrep.core.systems.loop import cloud_std, gaussian_cloud, make_loop

REPULSION = {"strength": 2.5e-3, "power": 1.0, "softening": 1e-2, "pair_factor": 1.0}
WHOLE = {**REPULSION, "pair_factor": 50.0}  # a sample larger than the list: the whole list is used
CUTOFF = 2.5


def cloud_loop(n: int = 120, seed: int = 0):
    return make_loop(n, 10, gaussian_cloud(n, cloud_std(n), seed=seed).double())


def restricted(energy, x: torch.Tensor, within: float) -> tuple[torch.Tensor, int]:
    """scale · Σ f(r) / N_u over uncoupled pairs closer than ``within`` (all pairs, by brute force),
    and how many such pairs there are."""
    rep = energy.repulsion
    n = x.shape[0]
    i, j = torch.triu_indices(n, n, 1)
    uncoupled = ~torch.isin(i * n + j, rep.coupled_keys)
    r = torch.linalg.vector_norm(x[i] - x[j], dim=-1)
    inside = uncoupled & (r < within)
    return rep.scale * rep.potential(r[inside]).sum() / rep.n_uncoupled, int(inside.sum())


@pytest.mark.parametrize("normalisation", ["mean", "sum"])
def test_cutoff_repulsion_equals_all_pairs_restricted_to_the_cutoff(normalisation):
    system = cloud_loop()
    energy = build_loop_energy(system, "pure_lj", normalisation=normalisation, repulsion=WHOLE, cutoff=CUTOFF)
    assert energy.repulsion.whole_list
    x = system.x0.clone().requires_grad_(True)
    ours = energy.terms(x)["repulsion"]
    reference, inside = restricted(energy, x, CUTOFF)
    assert inside > 100  # the test means something: many pairs inside, many outside
    assert torch.allclose(ours, reference, rtol=1e-10, atol=0)
    (grad,) = torch.autograd.grad(ours, x)
    (grad_reference,) = torch.autograd.grad(reference, x)
    assert torch.allclose(grad, grad_reference, rtol=1e-10, atol=1e-16)
    # the bond and loop terms are untouched by the cutoff
    plain = build_loop_energy(system, "pure_lj", normalisation=normalisation, repulsion=WHOLE)
    for name in ("lj_bond", "lj_loop"):
        assert torch.equal(energy.terms(system.x0)[name], plain.terms(system.x0)[name])


def test_cutoff_energy_stays_exact_across_rebuilds_during_a_run():
    system = cloud_loop(seed=1)
    energy = build_loop_energy(system, "pure_lj", repulsion=WHOLE, cutoff=CUTOFF, skin=0.2)
    x = system.x0.clone().requires_grad_(True)
    optimiser = torch.optim.Adam([x], lr=0.05)
    for _ in range(60):
        optimiser.zero_grad()
        value = energy.terms(x)["repulsion"]
        reference, _ = restricted(energy, x.detach(), CUTOFF)
        assert torch.allclose(value.detach(), reference, rtol=1e-10, atol=0)
        (10.0 * energy(x) / energy.repulsion.scale).backward()  # strong enough steps to move beads past skin / 2
        optimiser.step()
    assert energy.repulsion.neighbours.builds >= 3
    assert energy.repulsion.whole_list


def test_sampled_pairs_lie_within_the_list_and_estimate_the_restricted_sum():
    system = cloud_loop(200, seed=2)
    energy = build_loop_energy(system, "pure_lj", repulsion=REPULSION, cutoff=CUTOFF, skin=0.5)
    rep = energy.repulsion
    x = system.x0
    assert not rep.whole_list  # n ln n = 1060 samples, more listed pairs
    _, listed = restricted(energy, x, CUTOFF + 0.5)
    assert rep.pair_weight == pytest.approx(listed / rep.n_uncoupled / rep.n_samples, rel=1e-12)
    pairs = rep.pairs
    assert len(pairs) == rep.n_samples
    assert torch.all(torch.linalg.vector_norm(x[pairs[:, 0]] - x[pairs[:, 1]], dim=-1) < CUTOFF + 0.5)
    assert not torch.isin(pairs[:, 0] * 200 + pairs[:, 1], rep.coupled_keys).any()
    reference, _ = restricted(energy, x, CUTOFF)
    draws = []
    for _ in range(100):
        rep.resample()
        draws.append(float(rep(x)))
    mean = torch.tensor(draws).mean()
    assert float(mean) == pytest.approx(float(reference), rel=0.02)  # unbiased: the mean of 100 draws
    assert torch.tensor(draws).std() > 0  # and each draw is a sample


def test_sample_state_resumes_the_same_draws():
    system = cloud_loop(200, seed=3)
    a = build_loop_energy(system, "pure_lj", repulsion=REPULSION, cutoff=CUTOFF, seed=5)
    b = build_loop_energy(system, "pure_lj", repulsion=REPULSION, cutoff=CUTOFF, seed=9)
    x = system.x0 + 0.3
    a(x)
    a.resample()
    b.load_sample_state(a.sample_state())
    assert torch.equal(a(x), b(x))
    a.resample()
    b.resample()
    assert torch.equal(a.repulsion.pairs, b.repulsion.pairs)
    assert torch.equal(a(x), b(x))


def test_a_batch_gets_one_list_valid_for_every_structure():
    system = cloud_loop(seed=4)
    energy = build_loop_energy(system, "pure_lj", repulsion=WHOLE, cutoff=CUTOFF)
    batch = torch.stack([system.x0, 1.3 * system.x0.flip(0)])
    values = energy.terms(batch)["repulsion"]
    for k in range(2):
        reference, _ = restricted(energy, batch[k], CUTOFF)
        assert torch.allclose(values[k], reference, rtol=1e-10, atol=0)


def test_exact_terms_stay_all_pairs_with_a_cutoff():
    system = cloud_loop(seed=5)
    cut = build_loop_energy(system, "pure_lj", repulsion=WHOLE, cutoff=CUTOFF)
    plain = build_loop_energy(system, "pure_lj", repulsion=WHOLE)
    everything, _ = restricted(cut, system.x0, float("inf"))
    assert torch.allclose(cut.exact_terms(system.x0)["repulsion"], everything, rtol=1e-10)
    assert torch.equal(cut.exact_terms(system.x0)["repulsion"], plain.exact_terms(system.x0)["repulsion"])
    assert cut.describe() == {"energy_cutoff": CUTOFF, "energy_skin": 0.5}
    assert plain.describe() == {"energy_cutoff": None, "energy_skin": None}
