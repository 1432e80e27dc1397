"""Several replicas (seeds) of one system minimised together: a leading batch dimension B.

Replicas do not interact. The batch minimises the sum of the replicas' energies, whose
gradient with respect to replica b's coordinates is replica b's own gradient; Adam, SGD
and the gradient clamp act element by element, so each replica follows the trajectory a
run of its own would (to rounding), while the energy is evaluated once per step for the
whole batch. Whatever couples the replicas through that sum is refused: early stopping
on the total, line searches (L-BFGS) and FIRE's global power. A batch runs a fixed
number of steps.
"""

from __future__ import annotations

from typing import Callable

import torch

from nrep.core.optimize import OptimizerFactory, Stage, minimise
from nrep.core.reparam.coordinates import Coordinates

ELEMENTWISE = (torch.optim.Adam, torch.optim.SGD)


def minimise_replicas(
    energy: Callable[[torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    make_optimizer: OptimizerFactory,
    steps: int,
    clamp_grad: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Minimise B structures x0 (B, n, 3) for ``steps`` steps; returns (X (B, n, 3), E (B,)).

    ``energy`` maps (B, n, 3) to the B energies.
    """
    if x0.dim() != 3:
        raise ValueError(f"replicas need coordinates of shape (B, n, 3), got {tuple(x0.shape)}")
    probe = make_optimizer([torch.nn.Parameter(torch.zeros(1))])
    if not isinstance(probe, ELEMENTWISE):
        raise ValueError(f"{type(probe).__name__} couples the replicas of a batch; use Adam or SGD")
    stage = Stage("coords", Coordinates, make_optimizer, steps, clamp_grad)
    (result,) = minimise(lambda x: energy(x).sum(), x0, [stage])
    with torch.no_grad():
        return result.x, energy(result.x)
