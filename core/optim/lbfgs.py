"""L-BFGS-B from scipy, driven by torch gradients, as a stage "optimiser".

scipy's L-BFGS-B (with the MINPACK-2 line search) runs its own iteration loop, so this
is not a ``torch.optim.Optimizer``: :meth:`ScipyLBFGS.run` takes the stage's energy
evaluation and a per-iteration hook and drives the parameters itself. The parameters
travel as one float64 vector on the CPU; the energy is evaluated on the run's device.

Why not ``torch.optim.LBFGS`` (``benchmarks/lbfgs_choice.py``): on the default pure-LJ loop (n = 400, seed 0) it
stalls at E = -0.0066 after a dozen iterations (its strong-Wolfe search returns a zero
step once a pair enters the soft-LJ core, and the next steps repeat it), where this
one reaches -0.086; on two LJ beads started 1.64 apart it stops at r = 1.305 instead of
the minimum at 1.132.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from scipy.optimize import OptimizeResult, minimize
from torch.nn.utils import parameters_to_vector, vector_to_parameters

Evaluate = Callable[[], tuple[torch.Tensor, torch.Tensor]]  # energy (with .grad filled), X
OnIteration = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], "str | None"]  # (energy, X, dE/dX) -> stop


def _gradient_of(x: torch.Tensor) -> torch.Tensor | None:
    return x.grad.detach().clone() if x.grad is not None else None


class ScipyLBFGS:
    """scipy L-BFGS-B over ``params``; ``history_size`` is its ``maxcor``.

    scipy's own stopping tests are off (ftol = gtol = 0): the stage's callbacks (early
    stopping, max steps) decide, as for every other optimiser. A failed line search ends
    the stage with "converged" (no further decrease can be found).
    """

    def __init__(self, params: Sequence[torch.nn.Parameter], history_size: int = 10, max_line_search: int = 20) -> None:
        self.params = list(params)
        self.history_size = history_size
        self.max_line_search = max_line_search
        self.evaluations = 0

    def _load(self, vector: np.ndarray) -> None:
        reference = self.params[0]
        with torch.no_grad():
            vector_to_parameters(torch.from_numpy(vector).to(reference.device, reference.dtype), self.params)

    def run(self, evaluate: Evaluate, on_iteration: OnIteration, max_steps: int, model: torch.nn.Module) -> str:
        """Minimise until a hook asks to stop or after ``max_steps`` iterations; returns the stop reason.

        ``on_iteration`` sees the energy and X at the start and after every iteration but
        the last allowed one, as in the torch loop.
        """
        if max_steps == 0:
            return "max_steps"
        energy0, x0 = evaluate()
        first_reason = on_iteration(energy0.detach(), x0.detach(), _gradient_of(x0))
        if first_reason is not None:
            return first_reason

        state = {"iterations": 0, "reason": None}
        last: dict = {}  # the last evaluation: its point and dE/dX (the forces the callbacks see)

        def fun(vector: np.ndarray) -> tuple[float, np.ndarray]:
            self._load(vector)
            energy, x = evaluate()
            last.update(vector=vector.copy(), gradient=_gradient_of(x))
            grad = torch.cat([p.grad.reshape(-1) for p in self.params])
            return float(energy.detach()), grad.detach().to(torch.float64).cpu().numpy()

        def callback(intermediate_result: OptimizeResult) -> None:
            state["iterations"] += 1
            if state["iterations"] >= max_steps:
                reason = "max_steps"
            else:
                self._load(intermediate_result.x)
                with torch.no_grad():
                    x = model().detach()
                # scipy reports the point it evaluated last (the accepted step of the line search)
                same = "vector" in last and np.array_equal(last["vector"], intermediate_result.x)
                reason = on_iteration(torch.as_tensor(intermediate_result.fun), x, last["gradient"] if same else None)
            if reason is not None:
                state["reason"] = reason
                raise StopIteration

        start = parameters_to_vector(self.params).detach().to(torch.float64).cpu().numpy()
        result = minimize(
            fun, start, jac=True, method="L-BFGS-B", callback=callback,
            options={"maxcor": self.history_size, "ftol": 0.0, "gtol": 0.0, "maxiter": max_steps + 1,
                     "maxfun": 10**9, "maxls": self.max_line_search},
        )
        self._load(result.x)
        self.evaluations = int(result.nfev) + 1
        return state["reason"] or "converged"
