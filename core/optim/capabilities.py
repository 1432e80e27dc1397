"""What an optimiser can do, asked of the optimiser itself rather than of its class name.

Two kinds run in nrep's stage loop: a ``torch.optim.Optimizer`` (Adam, SGD, FIRE), which
the loop calls once per step, and a :class:`LoopOwner` (L-BFGS from scipy), which drives
its own iterations and calls the loop's hook after each. An optimiser is *element-wise*
when each parameter entry steps on its own gradient alone (Adam, SGD): only those keep the
replicas of a batch apart. A new optimiser declares it with a class attribute
``elementwise = True``; torch's own are listed here.
"""

from __future__ import annotations

from typing import Callable, Protocol, runtime_checkable

import torch

# torch's optimisers that step each entry on its own gradient (a plug-in sets ``elementwise``)
ELEMENTWISE_TORCH = (torch.optim.Adam, torch.optim.SGD)


@runtime_checkable
class LoopOwner(Protocol):
    """An optimiser that runs its own iterations (a line search evaluates several times per step)."""

    evaluations: int

    def run(
        self,
        evaluate: Callable[[], tuple[torch.Tensor, torch.Tensor]],
        on_iteration: Callable[[torch.Tensor, torch.Tensor], str | None],
        max_steps: int,
        model: torch.nn.Module,
    ) -> str:
        """Minimise until ``on_iteration`` returns a stop reason or after ``max_steps``; return the reason."""
        ...


def is_elementwise(optimizer: object) -> bool:
    """True when each parameter entry steps on its own gradient alone (so replicas stay apart)."""
    return bool(getattr(optimizer, "elementwise", isinstance(optimizer, ELEMENTWISE_TORCH)))
