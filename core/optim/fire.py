"""FIRE 2.0 as a torch optimiser (Guénolé et al., Comput. Mater. Sci. 175, 109584, 2020).

The Fast Inertial Relaxation Engine runs damped dynamics with unit masses: velocities
follow the force, are mixed towards its direction, and the time step grows while the
power P = F·v stays positive; when P turns negative the step is halved, the system
steps back half a step and stops. This is the paper's semi-implicit Euler variant with
the initial delay; each displacement is capped at ``max_step`` per row (per particle
for coordinates), and the step back undoes half of the last displacement actually
taken (the paper's dt·v/2 ignores the cap, which throws stiff systems far away), so
one call moves a particle by at most 1.5 ``max_step``.
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch


class FIRE(torch.optim.Optimizer):
    """FIRE 2.0. ``lr`` is the initial time step; dt_max and dt_min default to 10 lr and 0.02 lr."""

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 0.1,
        dt_max: float | None = None,
        dt_min: float | None = None,
        n_delay: int = 5,
        f_inc: float = 1.1,
        f_dec: float = 0.5,
        alpha_start: float = 0.25,
        f_alpha: float = 0.99,
        max_step: float = 0.2,
    ) -> None:
        defaults = dict(
            lr=lr,
            dt_max=10 * lr if dt_max is None else dt_max,
            dt_min=0.02 * lr if dt_min is None else dt_min,
            n_delay=n_delay,
            f_inc=f_inc,
            f_dec=f_dec,
            alpha_start=alpha_start,
            f_alpha=f_alpha,
            max_step=max_step,
        )
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("FIRE moves all parameters as one system: pass a single parameter group")
        self.dt = lr
        self.alpha = alpha_start
        self.n_positive = 0
        self.steps = 0

    # Plain attributes that are part of the optimiser's state (for rollbacks and checkpoints).
    SCALARS = ("dt", "alpha", "n_positive", "steps")

    def state_dict(self) -> dict:
        state = super().state_dict()
        state["fire"] = {name: getattr(self, name) for name in self.SCALARS}
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        scalars = state_dict.pop("fire", {})
        super().load_state_dict(state_dict)
        for name, value in scalars.items():
            setattr(self, name, value)

    @staticmethod
    def _cap_rows(dx: torch.Tensor, max_step: float) -> torch.Tensor:
        rows = dx.reshape(dx.shape[0], -1) if dx.dim() > 1 else dx.reshape(-1, 1)
        norms = torch.linalg.vector_norm(rows, dim=1, keepdim=True)
        scale = torch.clamp(max_step / norms.clamp_min(1e-300), max=1.0)
        return (rows * scale).reshape(dx.shape)

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        group = self.param_groups[0]
        params = [p for p in group["params"] if p.grad is not None]
        velocities = [self.state[p].setdefault("velocity", torch.zeros_like(p)) for p in params]
        forces = [-p.grad for p in params]

        power = sum((f * v).sum() for f, v in zip(forces, velocities))
        if power > 0:
            self.n_positive += 1
            if self.n_positive > group["n_delay"]:
                self.dt = min(self.dt * group["f_inc"], group["dt_max"])
                self.alpha *= group["f_alpha"]
        else:
            self.n_positive = 0
            if self.steps >= group["n_delay"]:  # the initial delay: no slow-down at the start
                self.dt = max(self.dt * group["f_dec"], group["dt_min"])
                self.alpha = group["alpha_start"]
            for p, v in zip(params, velocities):
                # half of the last step actually taken back (x -= dt v / 2 would ignore the
                # cap, and v can be far larger than the capped step on stiff energies)
                p.sub_(0.5 * self.state[p].get("last_step", torch.zeros_like(p)))
                v.zero_()

        for v, f in zip(velocities, forces):
            v.add_(self.dt * f)
        v_norm = torch.sqrt(sum((v * v).sum() for v in velocities))
        f_norm = torch.sqrt(sum((f * f).sum() for f in forces))
        if f_norm > 0:
            for v, f in zip(velocities, forces):
                v.mul_(1 - self.alpha).add_(self.alpha * v_norm / f_norm * f)
        for p, v in zip(params, velocities):
            step = self._cap_rows(self.dt * v, group["max_step"])
            self.state[p]["last_step"] = step
            p.add_(step)
        self.steps += 1
        return loss
