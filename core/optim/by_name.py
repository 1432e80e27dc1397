"""Optimisers by name, built from the ``optim`` config group."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from nrep.configs.schema import AdamConfig, FIREConfig, LBFGSConfig, OptimConfig, SGDConfig
from nrep.core.optim.fire import FIRE
from nrep.core.optim.lbfgs import ScipyLBFGS

OptimizerFactory = Callable[[list[nn.Parameter]], "torch.optim.Optimizer | ScipyLBFGS"]


def optimizer_factory(cfg: OptimConfig, lr: float | None = None) -> OptimizerFactory:
    """A function that builds a fresh optimiser over given parameters.

    ``lr`` overrides cfg.lr (stage 1 of a reparametrised method); L-BFGS has no lr.
    """
    rate = getattr(cfg, "lr", None) if lr is None else lr
    if isinstance(cfg, AdamConfig):
        return lambda params: torch.optim.Adam(params, lr=rate, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps)
    if isinstance(cfg, SGDConfig):
        return lambda params: torch.optim.SGD(params, lr=rate, momentum=cfg.momentum, nesterov=cfg.nesterov)
    if isinstance(cfg, LBFGSConfig):
        return lambda params: ScipyLBFGS(params, history_size=cfg.history_size)
    if isinstance(cfg, FIREConfig):
        return lambda params: FIRE(
            params, lr=rate, max_step=cfg.max_step, n_delay=cfg.n_delay, f_inc=cfg.f_inc,
            f_dec=cfg.f_dec, alpha_start=cfg.alpha_start, f_alpha=cfg.f_alpha,
        )
    raise ValueError(f"no optimiser for optim={cfg.name!r}")
