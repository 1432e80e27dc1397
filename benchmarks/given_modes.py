"""What the slow modes of an energy given from Python cost (``nrep.minimise``): autograd Hessian blocks
against the analytic pair blocks of the same energy, in the same process.

The energy is Lennard-Jones over every pair of an n-particle cluster, once as a plain
function (its blocks from 3n Hessian-vector products) and once with ``pair_interactions()``
(nrep's analytic blocks, paper eq. 20); both give the same backbone, which is checked.

    python benchmarks/given_modes.py                     # n = 100 and 1000, one sample each
    python benchmarks/given_modes.py --sizes 100 300 --threads 1
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import scipy.sparse.linalg
import torch

from nrep.core.energy.pairs import PairInteraction
from nrep.core.modes import slow_modes as slow


def lj_pair(r: torch.Tensor) -> torch.Tensor:
    return 4 * (r**-12 - r**-6)


def lj_energy(x: torch.Tensor) -> torch.Tensor:
    i, j = torch.triu_indices(x.shape[0], x.shape[0], 1)
    return lj_pair(torch.linalg.vector_norm(x[i] - x[j], dim=-1)).sum()


def timed(fn: Callable[..., object], *args: object, **kwargs: object) -> tuple[float, object]:
    started = time.perf_counter()
    value = fn(*args, **kwargs)
    return time.perf_counter() - started, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{'n':>6} {'autograd s/sample':>18} {'analytic s/sample':>18} {'ratio':>7} {'10 samples (default)':>21}")
    for n in args.sizes:
        x = torch.randn(n, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * n ** (1 / 3)
        pairs = torch.triu_indices(n, n, 1).T.contiguous()
        slow.hessian_block_norms(x[:10], [], other=lj_energy)  # warm up vmap
        autograd_s, by_autograd = timed(slow.hessian_block_norms, x, [], other=lj_energy)
        analytic_s, by_pairs = timed(slow.hessian_block_norms, x, [PairInteraction(pairs, 1.0, lj_pair)])
        difference = scipy.sparse.linalg.norm(by_autograd - by_pairs) / scipy.sparse.linalg.norm(by_pairs)
        assert difference < 1e-8, f"the two backbones differ by {difference:.2e}"
        print(f"{n:>6} {autograd_s:>18.2f} {analytic_s:>18.3f} {autograd_s / analytic_s:>7.0f} {10 * autograd_s:>19.0f} s")


if __name__ == "__main__":
    main()
