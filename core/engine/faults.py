"""What keeps a step safe: rollback of failed steps to the last good state, and a smaller step on retry.

A step whose energy or gradient is NaN or infinite, or whose energy explodes, is undone:
the parameters and optimiser state go back to the copies taken before it
(:class:`LastGood`), the step size shrinks by ``step_factor`` (:func:`shrink_step_`)
and the step is tried again, at most ``retries`` times per run (:class:`FaultPolicy`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn


@dataclass(frozen=True)
class FaultPolicy:
    """Rollback and retry of failed steps (see configs.schema.FaultConfig)."""

    retries: int = 3
    step_factor: float = 0.5
    explosion_factor: float | None = 1.0e4


def shrink_step_(optimizer: torch.optim.Optimizer, factor: float) -> None:
    """Multiply an optimiser's step size by ``factor``: lr, and FIRE's time steps."""
    for group in optimizer.param_groups:
        for key in ("lr", "dt_max", "dt_min"):
            if key in group:
                group[key] *= factor
    if hasattr(optimizer, "dt"):
        optimizer.dt *= factor


class LastGood:
    """The parameters and optimiser state at the last good step, in preallocated copies.

    Taken at every step, so it must be cheap: tensors are copied into buffers of the same
    shape (no allocation once the optimiser's state exists); plain values (learning rates,
    FIRE's scalars) are copied as values.
    """

    def __init__(self, parameters: Sequence[nn.Parameter], optimizer: torch.optim.Optimizer) -> None:
        self.parameters, self.optimizer = list(parameters), optimizer
        self.keys: list[tuple[int, str]] = []
        self.buffers: list[torch.Tensor] = []
        self.energy = math.nan
        self.taken = False

    def _tensors(self) -> tuple[list[tuple[int, str]], list[torch.Tensor]]:
        keys, tensors = [], []
        for i, p in enumerate(self.parameters):
            keys.append((i, "")), tensors.append(p)
            for key, value in self.optimizer.state.get(p, {}).items():
                if isinstance(value, torch.Tensor):
                    keys.append((i, key)), tensors.append(value)
        return keys, tensors

    @torch.no_grad()
    def take(self, energy: float, rollbacks: int) -> None:
        keys, tensors = self._tensors()
        if keys != self.keys:  # the first step, or the optimiser has just created its state
            self.keys, self.buffers = keys, [t.detach().clone() for t in tensors]
        else:
            torch._foreach_copy_(self.buffers, [t.detach() for t in tensors])
        self.scalars = {name: getattr(self.optimizer, name) for name in getattr(self.optimizer, "SCALARS", ())}
        self.groups = [{k: v for k, v in g.items() if k != "params"} for g in self.optimizer.param_groups]
        self.energy, self.taken, self.rollbacks = energy, True, rollbacks

    @torch.no_grad()
    def restore(self) -> None:
        saved = dict(zip(self.keys, self.buffers))
        for i, p in enumerate(self.parameters):
            p.copy_(saved[(i, "")])
            state = self.optimizer.state.get(p, {})
            for key in list(state):
                if isinstance(state[key], torch.Tensor):
                    if (i, key) in saved:
                        state[key].copy_(saved[(i, key)])
                    else:  # created by the failed step: the optimiser had no state yet
                        del state[key]
            if not state:
                self.optimizer.state.pop(p, None)
        for name, value in self.scalars.items():
            setattr(self.optimizer, name, value)
        for group, saved_group in zip(self.optimizer.param_groups, self.groups):
            group.update(saved_group)


class FaultBudget:
    """The run's fault policy and the retries it has used (shared by its stages)."""

    def __init__(self, policy: FaultPolicy) -> None:
        self.policy, self.used = policy, 0
