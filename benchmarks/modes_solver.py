"""Dense LAPACK vs shift-invert Lanczos for the slow modes of loop backbones.

Times the eigen-solve only (the backbone is built once per size), side by side in one
process, and prints the ratio sparse / dense. This is what ``method.modes.solver=auto``
and ``dense_max_n`` are chosen from.

    python benchmarks/modes_solver.py                 # n = 500 .. 4000
    python benchmarks/modes_solver.py --sizes 10000   # larger (dense takes minutes)
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Callable

import torch

from nrep.core.energy.loop import build_loop_energy
from nrep.core.modes import slow_modes as slow
from nrep.core.systems.loop import cloud_std, gaussian_cloud, make_loop

REPULSION = {"strength": 2.5e-3, "power": 1.0, "softening": 1e-2, "pair_factor": 1.0}


def timed(fn: Callable[[], object], repeats: int = 2) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 2000, 4000])
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/modes_solver.json"))
    args = parser.parse_args()

    rows = []
    for n in args.sizes:
        system = make_loop(n, 10, gaussian_cloud(n, cloud_std(n), seed=0))
        energy = build_loop_energy(system, "pure_lj", repulsion=REPULSION)
        samples = slow.cloud_samples(n, [0.01, 0.1, 0.2], base_std=n ** (1 / 3) / 2, seed=0)
        started = time.perf_counter()
        lap = slow.laplacian(slow.backbone(samples, energy.pair_interactions()))
        backbone_s = time.perf_counter() - started
        for k in sorted({20, n // 10, n // 3}):
            dense = timed(lambda: slow.lowest_eigenpairs(lap, k, "dense"))  # noqa: B023 - called at once
            sparse = timed(lambda: slow.lowest_eigenpairs(lap, k, "sparse"))  # noqa: B023 - called at once
            rows.append({"n": n, "k": k, "backbone_s": backbone_s, "dense_s": dense, "sparse_s": sparse,
                         "sparse_over_dense": sparse / dense})
            print(f"n={n:6d} k={k:5d}  backbone {backbone_s:7.3f} s  dense {dense:8.3f} s  sparse {sparse:8.3f} s  "
                  f"sparse/dense {sparse / dense:6.2f}", flush=True)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"machine": platform.processor() or platform.machine(), "threads": torch.get_num_threads(), "torch": torch.__version__}
    args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
