"""Why optim=lbfgs is scipy's L-BFGS-B and not torch.optim.LBFGS: both on the same problems.

1. The default pure-LJ loop (n = 400, seed 0, GD on the coordinates): energy and wall
   time after at most --steps iterations (early stopping as in a run).
2. Two soft-LJ beads started 1.6 apart: the final distance (the minimum is at 1.132).

    python benchmarks/lbfgs_choice.py
"""

from __future__ import annotations

import argparse
import time

import torch

from nrep.configs.compose import compose, validate
from nrep.core.energy.potentials import lj_soft
from nrep.core.energy.registry import build_energy
from nrep.core.engine.callbacks import EarlyStopping
from nrep.core.engine.stages import Stage, minimise
from nrep.core.optim.lbfgs import ScipyLBFGS
from nrep.core.reparam.coordinates import Coordinates
from nrep.core.run.build import build_system

CANDIDATES = {
    "scipy L-BFGS-B": lambda params: ScipyLBFGS(params, history_size=10),
    "torch LBFGS (strong Wolfe)": lambda params: torch.optim.LBFGS(
        params, lr=1.0, max_iter=1, history_size=10, line_search_fn="strong_wolfe"
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5000)
    args = parser.parse_args()
    torch.set_num_threads(1)

    cfg = validate(compose(["method=gd", "optim=lbfgs", "seed=0"]))
    system = build_system(cfg)
    energy = build_energy(cfg, system)  # repulsion pairs drawn once, as with optim=lbfgs
    x0 = system.x0.to(torch.float32)
    print(f"pure-LJ loop, n={system.n}, seed 0, start E={float(energy(x0)):.5f}")
    for name, factory in CANDIDATES.items():
        stage = Stage("coords", Coordinates, factory, args.steps, callbacks=[EarlyStopping(20, 20, 1e-6)])
        started = time.perf_counter()
        [result] = minimise(energy, x0, [stage])
        print(f"  {name:28s} E={result.energy:.5f} after {result.steps} iterations, "
              f"{result.evaluations} evaluations, {time.perf_counter() - started:.1f} s")

    beads = torch.tensor([[0.0, 0.0, 0.0], [1.6, 0.3, -0.2]], dtype=torch.float64)
    two_beads = lambda x: lj_soft(torch.linalg.vector_norm(x[0] - x[1]))  # noqa: E731
    print("two soft-LJ beads from r = 1.63 (minimum at r = 1.1322)")
    for name, factory in CANDIDATES.items():
        stage = Stage("coords", Coordinates, factory, 1000, callbacks=[EarlyStopping(10, 5, 0.0)])
        [result] = minimise(two_beads, beads, [stage])
        print(f"  {name:28s} r={torch.linalg.vector_norm(result.x[0] - result.x[1]).item():.4f}")


if __name__ == "__main__":
    main()
