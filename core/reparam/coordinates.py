"""The identity parametrisation: X itself is the parameter (GD, and stage 2 of CG/GNN)."""

from __future__ import annotations

import torch
from torch import nn


class Coordinates(nn.Module):
    """X = x, with x an (n, 3) parameter initialised to a copy of ``x0``."""

    def __init__(self, x0: torch.Tensor) -> None:
        super().__init__()
        self.x = nn.Parameter(x0.detach().clone())

    def forward(self) -> torch.Tensor:
        return self.x
