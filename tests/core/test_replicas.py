"""A batch of replicas follows the same trajectories as separate runs."""

from __future__ import annotations

import pytest
import torch

from nrep.core.energy.amber import AmberEnergy, AmberParameters
from nrep.core.optimize import Stage, minimise
from nrep.core.replicas import minimise_replicas
from nrep.core.reparam.coordinates import Coordinates


def adam(params):
    return torch.optim.Adam(params, lr=1e-3)


@pytest.fixture
def peptide_energy():
    from tests.core.energy.test_amber import small_peptide

    system, positions = small_peptide("AKWD")
    return AmberEnergy(AmberParameters.from_openmm(system)), torch.tensor(positions, dtype=torch.float64)


def test_a_batch_equals_separate_runs(peptide_energy):
    energy, x = peptide_energy
    starts = torch.stack([x + 0.02 * torch.randn(x.shape, generator=torch.Generator().manual_seed(s), dtype=x.dtype) for s in range(3)])
    x_batch, e_batch = minimise_replicas(energy, starts, adam, steps=60, clamp_grad=0.01)
    for b in range(3):
        (alone,) = minimise(energy, starts[b], [Stage("coords", Coordinates, adam, 60, 0.01)])
        torch.testing.assert_close(x_batch[b], alone.x, rtol=1e-6, atol=1e-9)
        assert e_batch[b].item() == pytest.approx(alone.energy, rel=1e-6)
    assert (e_batch < energy(starts)).all()  # every replica went down


def test_optimisers_that_couple_replicas_are_refused(peptide_energy):
    from nrep.core.fire import FIRE

    energy, x = peptide_energy
    with pytest.raises(ValueError, match="couples the replicas"):
        minimise_replicas(energy, x[None], lambda p: FIRE(p, lr=1e-3), steps=1)
    with pytest.raises(ValueError, match=r"\(B, n, 3\)"):
        minimise_replicas(energy, x, adam, steps=1)
