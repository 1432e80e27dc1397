"""A batch of replicas follows the same trajectories as separate runs: GD, CG and GNN."""

from __future__ import annotations

import pytest
import torch

from nrep.core.energy.amber import AmberEnergy, AmberParameters
from nrep.core.engine.replicas import StackedReplicas, batch_plans, minimise_replicas, replica_stage
from nrep.core.engine.stages import Stage, minimise
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
    x_batch, e_batch = minimise_replicas(energy, starts, [replica_stage("coords", adam, 60, clamp_grad=0.01)])
    for b in range(3):
        (alone,) = minimise(energy, starts[b], [Stage("coords", Coordinates, adam, 60, 0.01)])
        torch.testing.assert_close(x_batch[b], alone.x, rtol=1e-6, atol=1e-9)
        assert e_batch[b].item() == pytest.approx(alone.energy, rel=1e-6)
    assert (e_batch < energy(starts)).all()  # every replica went down


def test_optimisers_that_couple_replicas_are_refused(peptide_energy):
    from nrep.core.optim.fire import FIRE

    energy, x = peptide_energy
    with pytest.raises(ValueError, match="couples the replicas"):
        replica_stage("coords", lambda p: FIRE(p, lr=1e-3), steps=1)
    with pytest.raises(ValueError, match=r"\(B, n, 3\)"):
        minimise_replicas(energy, x, [replica_stage("coords", adam, 1)])


def test_stacked_models_must_share_an_architecture():
    with pytest.raises(ValueError, match="one architecture"):
        StackedReplicas([Coordinates(torch.zeros(4, 3)), Coordinates(torch.zeros(5, 3))])


@pytest.mark.parametrize("method", ["cg", "gnn"])
def test_reparametrised_replicas_equal_separate_runs(method, peptide_file, compose_cfg, tmp_path):
    """B seeds' own CG maps / GNNs (own slow modes, own weights) stacked into one batch."""
    from nrep.core.energy.registry import build_energy
    from nrep.core.methods.registry import build_plan
    from nrep.core.run.build import build_system
    from nrep.core.runtime import configure

    steps = ["method.stop.max_steps=25", "stop.max_steps=15"]
    cfgs = [
        compose_cfg("system=protein", f"system.pdb={peptide_file}", "init=extended", f"init.cache_dir={tmp_path}",
                    "energy=amber", "energy.engine=torch", f"method={method}", f"method.modes.cache_dir={tmp_path}", "device.dtype=float64",
                    f"seed={seed}", *steps)
        for seed in (0, 1)
    ]
    runtime = configure("cpu", "float64", 1, True)
    system = build_system(cfgs[0])
    energy = build_energy(cfgs[0], system)
    plans = [build_plan(cfg, system, energy, runtime) for cfg in cfgs]
    x0 = system.x0.expand(2, -1, -1).clone()
    x_batch, e_batch = minimise_replicas(energy, x0, batch_plans(plans, x0))

    # The same runs one by one, from freshly built plans (the batch copied the models it stacked)
    for b, cfg in enumerate(cfgs):
        stages = build_plan(cfg, system, energy, runtime).stages
        for stage in stages:
            stage.callbacks = []  # a batch has no early stopping
        results = minimise(energy, system.x0, stages)
        assert [r.steps for r in results] == [25, 15]
        # Norm-wise: Adam divides near-zero gradients (the rigid-body components of Z, pure
        # rounding) by |g| + eps, so single entries can differ by ~1e-8 nm between batched
        # and separate matmuls while the structure agrees to rounding.
        x_alone = results[-1].x
        assert float((x_batch[b] - x_alone).norm() / x_alone.norm()) < 1e-6
        assert e_batch[b].item() == pytest.approx(results[-1].energy, rel=1e-6)
    assert not torch.allclose(x_batch[0], x_batch[1])  # the seeds differ (own modes / weights)
