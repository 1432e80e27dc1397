"""What a loop's set-up will cost, estimated before it starts, and the size this build takes.

A loop's exact energy sums all n(n-1)/2 pairs (the steps use a sample; the exact values
at the start and at the end do not), and the slow modes of CG and the GNN
solve a dense n x n eigenproblem for the default k = n // 3. Both grow faster than n, so
a large ``system.n`` would otherwise sit silent for minutes or exhaust the memory. The
constants were measured on the reference machine (2 cores, one torch thread per run):
``python benchmarks/loop_sizes.py`` measures them again beside these values; this module
only scales them.
"""

from __future__ import annotations

from dataclasses import dataclass

from nrep.configs.schema import NrepConfig
from nrep.configs.schema.choices import GNN_MODE_GRAPHS
from nrep.core.runtime import default_threads

PAIR_S = 10e-9  # one pair of a loop's exact all-pair energy, one CPU thread (n = 8000-24000: 8.8-10.7 ns, 2026-12-03)
DENSE_MODES_S_PER_N3 = 11.9 / 4000**3  # scipy's evr for the lowest n // 3 modes, one thread (n = 4000: 11.9 s)
BASE_BYTES = 0.6e9  # torch, Hydra and the rest before the system (a GD loop of n = 4000 peaks at 0.52 GB)
LOOP_MAX_N = 100_000  # the largest loop whose repulsion runs over all pairs (energy.cutoff=0); with a cutoff, any
LOUD_SETUP_S = 10.0  # a set-up expected to take longer is announced with its estimate


@dataclass(frozen=True)
class SizeEstimate:
    """The expected cost of a loop run's set-up (seconds on its threads, bytes at its peak)."""

    n: int
    exact_energy_s: float  # one exact all-pair evaluation
    modes_s: float  # the slow modes (0: none, or the sparse solver, not estimated)
    memory_bytes: float
    what: str  # what dominates, in words

    @property
    def setup_s(self) -> float:
        return 2 * self.exact_energy_s + self.modes_s  # the exact energy at the start and at the end

    def describe(self) -> str:
        return (f"about {duration(self.setup_s)} of set-up and evaluation ({self.what}) and "
                f"{self.memory_bytes / 1e9:.1f} GB of memory")


def estimate_loop(cfg: NrepConfig, threads: int | None = None) -> SizeEstimate | None:
    """The estimate for a loop run (None for other systems, or on a GPU, where these constants do not hold)."""
    if cfg.system.name != "loop" or not cfg.device.name.startswith("cpu"):
        return None
    n = int(cfg.system.n)
    threads = max(1, threads or cfg.threads or default_threads(n))
    pairs = n * (n - 1) / 2
    exact_s = pairs * PAIR_S / threads
    what = [f"{pairs:.2g} pairs per exact energy, about {duration(exact_s)} each"]
    modes_s, memory = 0.0, BASE_BYTES + 200.0 * n  # coordinates, gradients, optimiser state: O(n)
    modes = getattr(cfg.method, "modes", None)
    graph_for = getattr(cfg.method, "graph_for", None)  # the GNN's: some graphs need no slow modes
    if graph_for is not None and graph_for(n) not in GNN_MODE_GRAPHS:
        modes = None  # its graph needs no slow modes
    if modes is not None:
        k = modes.k if modes.k is not None else (max(1, round(modes.fraction * n)) if modes.fraction is not None
                                                 else n // 3)
        dense = modes.solver == "dense" or (modes.solver == "auto" and (n <= modes.dense_max_n or k > n // 4))
        memory += 8.0 * n * k  # the modes themselves, float64
        if dense:
            modes_s = DENSE_MODES_S_PER_N3 * n**3
            memory += 16.0 * n * n  # the dense n x n matrix and LAPACK's copy
            what.append(f"{k} slow modes by a dense {n} x {n} solve, about {duration(modes_s)}")
        if cfg.method.name == "gnn":
            memory += 8.0 * n * n  # the mode graph's n x n propagator
    return SizeEstimate(n, exact_s, modes_s, memory, "; ".join(what))


def check_loop_size(cfg: NrepConfig) -> SizeEstimate | None:
    """Refuse a loop beyond this build's size or this machine's memory, in one line with the estimate."""
    from nrep.core.errors import NrepError

    found = estimate_loop(cfg)
    if found is None:
        return None
    if found.n > LOOP_MAX_N and cfg.energy.cutoff_for(found.n) is None:
        raise NrepError(f"system.n={found.n} is above this build's limit of {LOOP_MAX_N} beads for a loop "
                        f"(all-pair repulsion, no cutoff): it would need {found.describe()}; choose system.n <= {LOOP_MAX_N} "
                        "or a cutoff (energy.cutoff=2.5, or leave it unset)")
    free = available_memory_bytes()
    if free is not None and found.memory_bytes > free:
        raise NrepError(f"system.n={found.n} with method={cfg.method.name} would need {found.describe()}, more than the "
                        f"{free / 1e9:.1f} GB this machine has free; choose a smaller system.n, fewer modes "
                        "(method.modes.k) or method=gd")
    return found


def available_memory_bytes() -> float | None:
    """MemAvailable from /proc/meminfo (Linux), else None (not checked)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def duration(seconds: float) -> str:
    """12 s, 7 min, 3.2 h, 17 days."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"
