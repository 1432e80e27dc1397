"""Several replicas (seeds) of one system minimised together: a leading batch dimension B.

Replicas do not interact. The batch minimises the sum of the replicas' energies, whose
gradient with respect to replica b's parameters is replica b's own gradient; Adam, SGD
and the gradient clamp act element by element, so each replica follows the trajectory a
run of its own would (to rounding), while the energy is evaluated once per step for the
whole batch. Whatever couples the replicas through that sum is refused: early stopping
on the total, line searches (L-BFGS) and FIRE's global power. A batch runs a fixed
number of steps per stage.

The reparametrisations batch as they are: B copies of one model (one CG map or GNN per
seed, with its own slow modes and weights) become one module whose parameters are
stacked on a leading axis (``torch.func.stack_module_state``) and whose forward is
vmapped, so stage 1 of CG and GNN runs as one batch too.
"""

from __future__ import annotations

import copy
from typing import Callable, Sequence

import torch
from torch import nn

from nrep.core.engine.stages import OptimizerFactory, Stage, minimise
from nrep.core.optim.capabilities import is_elementwise
from nrep.core.reparam.coordinates import Coordinates


class StackedReplicas(nn.Module):
    """B modules of one architecture as one: ``forward()`` returns X (B, n, 3).

    Each model's ``forward()`` takes no input and returns its X (n, 3). Parameters and
    buffers are stacked (copied), so the originals are left as they were.
    """

    def __init__(self, models: Sequence[nn.Module]) -> None:
        super().__init__()
        from torch.func import stack_module_state

        if not models:
            raise ValueError("StackedReplicas needs at least one model")
        shapes = {tuple((name, tuple(p.shape)) for name, p in m.named_parameters()) for m in models}
        if len(shapes) != 1:
            raise ValueError("replicas must share one architecture (the same parameter names and shapes)")
        params, buffers = stack_module_state(list(models))
        self.names = list(params)
        self.stacked = nn.ParameterList(nn.Parameter(params[name].detach()) for name in self.names)
        for i, value in enumerate(buffers.values()):
            self.register_buffer(f"buffer_{i}", value)
        self.buffer_names = list(buffers)
        # The template only lends its forward(); its own tensors are replaced at every call.
        self.template = [copy.deepcopy(models[0])]  # a list, so it is not a submodule

    def _one(self, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor]) -> torch.Tensor:
        from torch.func import functional_call

        return functional_call(self.template[0], (params, buffers), ())

    def forward(self) -> torch.Tensor:
        params = dict(zip(self.names, self.stacked))
        buffers = {name: getattr(self, f"buffer_{i}") for i, name in enumerate(self.buffer_names)}
        return torch.func.vmap(self._one)(params, buffers)


def replica_stage(
    name: str,
    make_optimizer: OptimizerFactory,
    steps: int,
    clamp_grad: float | None = None,
    models: Sequence[nn.Module] | None = None,
) -> Stage:
    """A stage over B replicas: the stacked ``models`` (stage 1 of CG/GNN), or the coordinates.

    The optimiser must act element by element (Adam, SGD); others are refused here,
    before anything runs.
    """
    probe = make_optimizer([nn.Parameter(torch.zeros(1))])
    if not is_elementwise(probe):
        raise ValueError(f"{type(probe).__name__} couples the replicas of a batch; use Adam or SGD")
    if models is None:
        return Stage(name, Coordinates, make_optimizer, steps, clamp_grad)
    return Stage(name, lambda x: StackedReplicas(models), make_optimizer, steps, clamp_grad)


def minimise_replicas(
    energy: Callable[[torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    stages: Sequence[Stage],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Minimise B structures x0 (B, n, 3) through ``stages`` (see :func:`replica_stage`).

    ``energy`` maps (B, n, 3) to the B energies. Returns (X (B, n, 3), E (B,)).
    """
    if x0.dim() != 3:
        raise ValueError(f"replicas need coordinates of shape (B, n, 3), got {tuple(x0.shape)}")
    results = minimise(lambda x: energy(x).sum(), x0, stages)
    x = results[-1].x
    with torch.no_grad():
        return x, energy(x)


def batch_plans(plans: Sequence, x0: torch.Tensor) -> list[Stage]:  # plans: MethodPlan per seed
    """One batch's stages from B runs' method plans (one per seed) and their starts x0 (B, n, 3).

    Stage 1 of CG/GNN stacks each run's own model (built from its own start); every stage
    keeps the optimiser and step count of the plans, without their early stopping (a
    batch runs each stage's ``max_steps``).
    """
    stages = []
    for i, stage in enumerate(plans[0].stages):
        models = None
        if stage.model_from is not Coordinates:
            models = [plan.stages[i].model_from(x0[b]) for b, plan in enumerate(plans)]
        stages.append(replica_stage(stage.name, stage.make_optimizer, stage.max_steps, stage.clamp_grad, models))
    return stages
