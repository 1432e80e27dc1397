"""Large loops with and without the repulsion's cutoff: time per GD step, memory, energy.

    python benchmarks/loop_cutoff.py                       # n = 1e3, 1e4, 1e5; about 6 min alone
    python benchmarks/loop_cutoff.py --sizes 1000 300000   # any sizes

Each row is one ``nrep loop method=gd threads=1`` run in its own process (so its peak
memory is its own), once with every pair (``energy.cutoff=0``) and once with the cutoff
(``energy.cutoff=2.5``), from the same start and seed. ``step_ms`` is the GD stage's time
per step, ``ratio`` the cutoff's step time over the all-pairs one at the same n, and
``energy_final_exact`` the all-pairs energy of the final structure for both (what the
summary reports). ``setup_s`` holds the two exact all-pair energies (start and end).
The table goes to stdout and, with ``--out``, to a JSON file.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from nrep.configs.schema.choices import LOOP_CUTOFF

SIZES = (1_000, 10_000, 100_000)


def steps_for(n: int) -> int:
    """Enough steps for a stable per-step time, few enough for the largest loops."""
    return 300 if n <= 10_000 else 60


def one_run(n: int, cutoff: float, steps: int, seed: int, workdir: Path) -> dict:
    """One GD run as a user types it; its summary and its process's peak memory."""
    out = workdir / f"n{n}_cut{cutoff:g}_seed{seed}"
    command = [sys.executable, "-m", "nrep.cli.main", "loop", "--out", str(out), f"system.n={n}", "method=gd",
               f"seed={seed}", "threads=1", f"energy.cutoff={cutoff}", f"stop.max_total_steps={steps}",
               "output.progress=off"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if done.returncode != 0:
        raise SystemExit(f"n={n} cutoff={cutoff} failed:\n{done.stderr[-2000:]}")
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    summary = json.loads((out / "summary.json").read_text())
    return {
        "n": n,
        "cutoff": cutoff or None,
        "seed": seed,
        "steps": summary["steps_coords"],
        "step_ms": 1e3 * summary["time_coords_s"] / max(summary["steps_coords"], 1),
        "energy_final_exact": summary["energy_final_exact"],
        "loop_closure": summary["loop_closure"],
        "setup_s": summary["time_setup_s"],
        "total_s": summary["time_total_s"],
        # the largest child so far: sizes run in increasing order, so this is this run's
        "peak_rss_gb": (peak_kb if peak_kb > before else before) / 1e6,
    }


def print_means(rows: list[dict]) -> None:
    """Mean over seeds of each (n, cutoff): step time, final all-pairs energy, closure."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["n"], row["cutoff"]), []).append(row)
    print("mean over seeds: n cutoff step_ms energy_final_exact loop_closure")
    for (n, cutoff), group in groups.items():
        means = [sum(r[k] for r in group) / len(group) for k in ("step_ms", "energy_final_exact", "loop_closure")]
        print(f"{n} {cutoff} " + " ".join(f"{m:.4g}" for m in means))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--steps", type=int, default=None, help="GD steps per run (default: by size)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sorted(args.sizes):
            steps = args.steps or steps_for(n)
            for seed in args.seeds:
                pair = [one_run(n, cutoff, steps, seed, Path(tmp)) for cutoff in (0.0, LOOP_CUTOFF)]
                pair[1]["ratio"] = pair[1]["step_ms"] / pair[0]["step_ms"]
                rows.extend(pair)
                for row in pair:
                    print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()),
                          flush=True)
    print_means(rows)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
