"""The two costs core/run/sizes.py scales to estimate a loop's set-up, measured again here.

    python benchmarks/loop_sizes.py        # one torch thread; about 30 s

Prints ns per pair of a loop's exact all-pair energy (pure_lj, float32, n = 8000..24000)
and the dense slow modes of a CG set-up at n = 4000, beside the constants the
estimate uses (PAIR_S, DENSE_MODES_S_PER_N3). A ratio far from 1 on this machine kind
means the constants should be measured again.
"""

from __future__ import annotations

import time

import torch

from nrep.configs import load
from nrep.core.energy.registry import build_energy
from nrep.core.methods.mode_setup import compute_slow_modes
from nrep.core.run import sizes
from nrep.core.run.build import build_system
from nrep.core.run.record import exact_terms


def main() -> None:
    torch.set_num_threads(1)
    for n in (8000, 16000, 24000):
        cfg = load([f"system.n={n}", "method=gd", "threads=1"])
        system = build_system(cfg)
        energy = build_energy(cfg, system)
        started = time.perf_counter()
        exact_terms(energy, system.x0.to(torch.float32))
        per_pair = (time.perf_counter() - started) / (n * (n - 1) / 2)
        print(f"n={n}: {per_pair * 1e9:.1f} ns per pair (estimate uses {sizes.PAIR_S * 1e9:.1f}; "
              f"ratio {per_pair / sizes.PAIR_S:.2f})")
    n = 4000
    cfg = load([f"system.n={n}", "method=cg", "method.modes.cache=false", "threads=1"])
    system = build_system(cfg)
    modes = compute_slow_modes(cfg, build_energy(cfg, system), system)
    expected = sizes.DENSE_MODES_S_PER_N3 * n**3
    print(f"n={n}: {modes.k} dense slow modes in {modes.compute_time_s:.1f} s (estimate {expected:.1f} s; "
          f"ratio {modes.compute_time_s / expected:.2f})")


if __name__ == "__main__":
    main()
