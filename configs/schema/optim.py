"""optim=...: the optimisers (core/optim), each declaring what it can do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

from omegaconf import MISSING

from nrep.configs.schema.checks import require, require_positive


@dataclass
class OptimConfig:
    """Optimiser of the coordinate stage (and of stage 1 unless the method overrides it).

    What an optimiser can do is declared on its config, for the checks that span groups
    (``rules.py``): ``elementwise`` when each parameter entry steps on its own gradient
    alone (so a batch of replicas follows each replica's own trajectory), and
    ``line_search`` when it evaluates the energy several times per step (which then must
    be a fixed function: no resampled pairs).
    """

    name: str = MISSING
    elementwise: ClassVar[bool] = False
    line_search: ClassVar[bool] = False


@dataclass
class StepOptimConfig(OptimConfig):
    """An optimiser that takes a step of size ``lr`` along (a transform of) the gradient.

    clamp_grad: every gradient entry is clamped to +-clamp_grad before a step (the
    authors' 0.1 for loops); null turns clamping off.
    """

    lr: float = 2e-2
    clamp_grad: Optional[float] = 0.1

    def __post_init__(self) -> None:
        require_positive("optim.lr", self.lr)
        require(
            self.clamp_grad is None or self.clamp_grad > 0,
            f"optim.clamp_grad must be > 0 or null (got {self.clamp_grad})",
        )


@dataclass
class AdamConfig(StepOptimConfig):
    elementwise: ClassVar[bool] = True
    name: str = "adam"
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self) -> None:
        super().__post_init__()
        for key in ("beta1", "beta2"):
            value = getattr(self, key)
            require(0 <= value < 1, f"optim.{key} must lie in [0, 1) (got {value})")
        require(self.eps > 0, f"optim.eps must be > 0 (got {self.eps})")


@dataclass
class SGDConfig(StepOptimConfig):
    elementwise: ClassVar[bool] = True
    name: str = "sgd"
    momentum: float = 0.0
    nesterov: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        require(0 <= self.momentum < 1, f"optim.momentum must lie in [0, 1) (got {self.momentum})")
        require(
            not self.nesterov or self.momentum > 0,
            "optim.nesterov=true needs optim.momentum > 0",
        )


@dataclass
class LBFGSConfig(OptimConfig):
    """L-BFGS: scipy's L-BFGS-B (MINPACK-2 line search) on torch gradients, one iteration per step.

    history_size: the number of correction pairs kept (scipy's maxcor). The parameters
    pass through the CPU in float64 at every evaluation. Clamping is off (the line
    search needs the true gradient), and the sampled repulsion pairs of loops stay fixed
    for the whole run (the line search needs a fixed function). It has no learning rate
    and no gradient clamping.
    """

    line_search: ClassVar[bool] = True
    name: str = "lbfgs"
    history_size: int = 10

    def __post_init__(self) -> None:
        require(self.history_size >= 1, f"optim.history_size must be >= 1 (got {self.history_size})")


@dataclass
class FIREConfig(StepOptimConfig):
    """FIRE 2.0 (Guénolé et al. 2020): damped dynamics with an adaptive time step.

    lr: the initial time step (dt_max = 10 lr, dt_min = 0.02 lr); max_step caps the
    displacement of each particle (each row of a parameter) per step.
    """

    name: str = "fire"
    lr: float = 0.1
    clamp_grad: Optional[float] = None
    max_step: float = 0.2
    n_delay: int = 5
    f_inc: float = 1.1
    f_dec: float = 0.5
    alpha_start: float = 0.25
    f_alpha: float = 0.99

    def __post_init__(self) -> None:
        super().__post_init__()
        require_positive("optim.max_step", self.max_step)
        require(self.n_delay >= 0, f"optim.n_delay must be >= 0 (got {self.n_delay})")
        require(self.f_inc >= 1, f"optim.f_inc must be >= 1 (got {self.f_inc})")
        require(0 < self.f_dec < 1, f"optim.f_dec must lie in (0, 1) (got {self.f_dec})")
        require(0 <= self.alpha_start < 1, f"optim.alpha_start must lie in [0, 1) (got {self.alpha_start})")
        require(0 < self.f_alpha <= 1, f"optim.f_alpha must lie in (0, 1] (got {self.f_alpha})")


# optim=<name> -> its dataclass; the same dict as SCHEMAS["optim"], so plug-ins land here too
OPTIM_OPTIONS: dict[str, type[OptimConfig]] = {"adam": AdamConfig, "sgd": SGDConfig, "lbfgs": LBFGSConfig, "fire": FIREConfig}
