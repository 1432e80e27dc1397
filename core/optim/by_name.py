"""Optimisers by name: ``optim=<name>`` -> a factory of fresh optimisers over given parameters.

A new optimiser is a module (a ``torch.optim.Optimizer``, or one that owns its loop like
:class:`ScipyLBFGS`), a config dataclass (``configs/schema/``) with its YAML, and a line
in OPTIMISERS; code outside nrep calls :func:`register_optimiser`.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from nrep.configs.schema import OptimConfig
from nrep.core.optim.fire import FIRE
from nrep.core.optim.lbfgs import ScipyLBFGS

OptimizerFactory = Callable[[list[nn.Parameter]], "torch.optim.Optimizer | ScipyLBFGS"]
# (its config, the learning rate to use or None) -> a factory
OptimiserBuilder = Callable[[OptimConfig, "float | None"], OptimizerFactory]

OPTIMISERS: dict[str, OptimiserBuilder] = {
    "adam": lambda cfg, rate: lambda params: torch.optim.Adam(params, lr=rate, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps),
    "sgd": lambda cfg, rate: lambda params: torch.optim.SGD(params, lr=rate, momentum=cfg.momentum, nesterov=cfg.nesterov),
    "lbfgs": lambda cfg, rate: lambda params: ScipyLBFGS(params, history_size=cfg.history_size),
    "fire": lambda cfg, rate: lambda params: FIRE(
        params, lr=rate, max_step=cfg.max_step, n_delay=cfg.n_delay, f_inc=cfg.f_inc,
        f_dec=cfg.f_dec, alpha_start=cfg.alpha_start, f_alpha=cfg.f_alpha,
    ),
}


def register_optimiser(name: str, builder: OptimiserBuilder) -> None:
    """Make ``optim=<name>`` build its optimisers with ``builder(cfg, lr)``."""
    OPTIMISERS[name] = builder


def optimizer_factory(cfg: OptimConfig, lr: float | None = None) -> OptimizerFactory:
    """A function that builds a fresh optimiser over given parameters.

    ``lr`` overrides cfg.lr (stage 1 of a reparametrised method); L-BFGS has no lr.
    """
    rate = getattr(cfg, "lr", None) if lr is None else lr
    try:
        builder = OPTIMISERS[cfg.name]
    except KeyError:
        raise ValueError(f"no optimiser registered as {cfg.name!r}; known: {', '.join(OPTIMISERS)}") from None
    return builder(cfg, rate)
