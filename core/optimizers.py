"""Optimisers by name, built from the ``optim`` config group."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from nrep.configs.schema import AdamConfig, OptimConfig, SGDConfig


def optimizer_factory(cfg: OptimConfig, lr: float | None = None) -> Callable[[list[nn.Parameter]], torch.optim.Optimizer]:
    """A function that builds a fresh optimiser over given parameters (``lr`` overrides cfg.lr)."""
    rate = cfg.lr if lr is None else lr
    if isinstance(cfg, AdamConfig):
        return lambda params: torch.optim.Adam(params, lr=rate, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps)
    if isinstance(cfg, SGDConfig):
        return lambda params: torch.optim.SGD(params, lr=rate, momentum=cfg.momentum, nesterov=cfg.nesterov)
    raise ValueError(f"no optimiser for optim={cfg.name!r}")
