"""The loop benchmark: every method and optimiser on pure LJ and Bond+LJ loops, per seed.

Each run is an ordinary nrep run (its own directory with summary, trace and picture),
capped at a wall-time budget. The tables give, per energy and size, the final energy
(exact repulsion) as mean ± std over seeds and the best seed, loop closure, stuck pairs,
wall time with the slow-mode time shown apart, and the time each variant needs to reach
the median final energy of GD with Adam. "Noise" is the std over seeds.

    python benchmarks/loop_bench.py                        # n = 400, 5 seeds, ~25 min on 2 cores
    python benchmarks/loop_bench.py --sizes 1000 --budget-s 120   # the paper's size
    python benchmarks/loop_bench.py --seeds 2 --sizes 50 --budget-s 5 --variants gd-adam gnn-adam
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from nrep.configs.schema import NrepConfig

# name -> (what it is, overrides)
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "gd-adam": ("GD, Adam lr 0.02 (the paper's baseline)", ["method=gd", "optim=adam"]),
    "cg-adam": ("CG, Adam, stage-1 lr 0.02 (lr_cg = lr)", ["method=cg", "optim=adam"]),
    "cg-adam-lr0.2": ("CG, Adam, stage-1 lr 0.2 (lr_cg = 10 lr)", ["method=cg", "optim=adam", "method.lr=0.2"]),
    "gnn-adam": ("GNN, Adam, stage-1 lr 0.002 (lr_gnn = lr/10)", ["method=gnn", "optim=adam"]),
    "gnn-adam-lr0.02": ("GNN, Adam, stage-1 lr 0.02 (lr_gnn = lr)", ["method=gnn", "optim=adam", "method.lr=0.02"]),
    "gd-lbfgs": ("GD, L-BFGS (scipy L-BFGS-B)", ["method=gd", "optim=lbfgs"]),
    "gd-fire": ("GD, FIRE 2.0", ["method=gd", "optim=fire"]),
    "gnn-adam+lbfgs": ("GNN with Adam (lr 0.002), then L-BFGS on X", ["method=gnn", "optim=lbfgs", "method.optim=adam"]),
    "gd-lbfgs-wall": ("GD, L-BFGS, on the LJ with a repulsive wall below 0.8 (no trap at r = 0)",
                      ["method=gd", "optim=lbfgs", "energy.lj_core_radius=0.8"]),
    "gnn-adam+lbfgs-wall": ("GNN with Adam, then L-BFGS, on the LJ with the wall",
                            ["method=gnn", "optim=lbfgs", "method.optim=adam", "energy.lj_core_radius=0.8"]),
}
DEFAULT_VARIANTS = list(VARIANTS)
COLUMNS = [
    "energy", "n", "variant", "seed", "status", "stop_reason", "energy_paper", "energy_final_exact", "energy_final",
    "loop_closure", "stuck_pairs", "steps_total", "evaluations_total", "time_modes_s", "time_method_s",
    "time_to_target_s", "run_dir",
]


def paper_energy(cfg: NrepConfig, x_final: np.ndarray) -> float:
    """The final structure's exact energy under the paper's form of the energy (soft LJ, no wall),
    so that variants that optimise another form are scored on the same scale."""
    import dataclasses

    import torch

    from nrep.core.energy.registry import build_energy
    from nrep.core.run.build import build_system
    from nrep.core.run.record import exact_terms

    paper = dataclasses.replace(cfg, energy=dataclasses.replace(cfg.energy, lj_core_radius=None))
    energy = build_energy(paper, build_system(paper))
    return sum(exact_terms(energy, torch.as_tensor(x_final)).values())


def run_one(job: dict) -> dict:
    """One benchmark run in a worker process (one torch thread)."""
    import numpy as np

    from nrep.configs.compose import compose, validate
    from nrep.core.run.single import execute

    overrides = [
        f"energy={job['energy']}", f"system.n={job['n']}", f"seed={job['seed']}", "threads=1",
        f"time_budget_s={job['budget_s']}", *VARIANTS[job["variant"]][1], *job["extra"],
    ]
    run_dir = Path(job["run_dir"])
    cfg = validate(compose(overrides))
    summary = execute(cfg, run_dir, command="loop_bench " + " ".join(overrides))
    trace = (run_dir / "trace.csv").read_text().splitlines()
    header = trace[0].split(",")
    energy_at = header.index("energy_reduced")
    time_at = header.index("time_s")
    curve = [(float(r.split(",")[time_at]), float(r.split(",")[energy_at])) for r in trace[1:]]
    row = {key: summary.get(key) for key in COLUMNS if key in summary}
    row.update(energy=job["energy"], n=job["n"], variant=job["variant"], seed=job["seed"], run_dir=str(run_dir))
    row["evaluations_total"] = sum(v for k, v in summary.items() if k.startswith("evaluations_"))
    row["energy_paper"] = (
        summary["energy_final_exact"] if cfg.energy.lj_core_radius is None
        else paper_energy(cfg, np.load(run_dir / "final.npy"))
    )
    row["curve"] = curve
    return row


def time_to(curve: list[tuple[float, float]], target: float) -> float | None:
    """First time (s, slow modes included) at which the traced energy is at or below target."""
    return next((t for t, e in curve if e <= target), None)


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def aggregate(rows: list[dict]) -> list[dict]:
    """Per (energy, n, variant): mean ± std over seeds, best, closure, stuck, times."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["energy"], row["n"], row["variant"]), []).append(row)
    out = []
    def order(item: tuple) -> tuple:
        (energy, n, variant), _ = item
        return energy, n, DEFAULT_VARIANTS.index(variant) if variant in DEFAULT_VARIANTS else 99

    for (energy, n, variant), members in sorted(groups.items(), key=order):
        finals = [m["energy_paper"] for m in members]
        e_mean, e_std = mean_std(finals)
        t_mean, _ = mean_std([m["time_method_s"] for m in members])
        reached = [m["time_to_target_s"] for m in members if m["time_to_target_s"] is not None]
        out.append({
            "energy": energy, "n": n, "variant": variant, "runs": len(members),
            "energy_mean": e_mean, "energy_std": e_std, "energy_best": min(finals),
            "closure_mean": statistics.fmean(m["loop_closure"] for m in members),
            "stuck_pairs_total": sum(m["stuck_pairs"] for m in members),
            "seeds_with_stuck_pairs": sum(1 for m in members if m["stuck_pairs"] > 0),
            "time_method_mean_s": t_mean,
            "time_modes_mean_s": statistics.fmean(m["time_modes_s"] for m in members),
            "budget_hit": sum(1 for m in members if m["stop_reason"] == "time_budget"),
            "reached_target": len(reached),
            "time_to_target_median_s": statistics.median(reached) if reached else None,
        })
    return out


def markdown(meta: dict, rows: list[dict], summary: list[dict]) -> str:
    lines = [
        f"# Loop benchmark ({meta['date']}, {meta['machine']}, {meta['cores']} cores, torch {meta['torch']}, "
        f"{meta['jobs']} runs side by side with 1 thread each, budget {meta['budget_s']} s per run)",
        "",
        "Final energy with the exact repulsion (reduced units) under the paper's energy (soft LJ; the",
        "-wall variants optimise another form and are scored on this one): mean ± std over seeds (the",
        "std is the noise), and the best seed. Target = the median final energy of gd-adam; time to target is the",
        "median over the seeds that reached it, slow modes included. Closure = fraction of loop pairs",
        "within 10 % of the LJ minimum distance; stuck = coupled pairs closer than 0.5 (all seeds).",
        "",
    ]
    for (energy, n) in sorted({(s["energy"], s["n"]) for s in summary}):
        target = meta["targets"].get(f"{energy}/{n}")
        target_text = f"{target:.5f}" if target is not None else "n/a"
        lines += [
            f"## {energy}, n = {n} (target {target_text})",
            "",
            "| variant | final energy (mean ± std) | best | closure | stuck pairs (seeds) | time (s) | of which slow modes "
            "| to target (s) | budget hit |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for s in (s for s in summary if (s["energy"], s["n"]) == (energy, n)):
            to_target = (f"{s['time_to_target_median_s']:.1f} ({s['reached_target']}/{s['runs']})"
                         if s["time_to_target_median_s"] is not None else f"not reached (0/{s['runs']})")
            lines.append(
                f"| {s['variant']} | {s['energy_mean']:.5f} ± {s['energy_std']:.5f} | {s['energy_best']:.5f} | "
                f"{s['closure_mean']:.2f} | {s['stuck_pairs_total']} ({s['seeds_with_stuck_pairs']}) | "
                f"{s['time_method_mean_s']:.1f} | {s['time_modes_mean_s']:.2f} | {to_target} | {s['budget_hit']} |"
            )
        lines.append("")
    lines += ["## Per seed", "", "| energy | n | variant | seed | final energy | closure | stuck | time (s) | stop |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['energy']} | {r['n']} | {r['variant']} | {r['seed']} | {r['energy_paper']:.5f} | "
            f"{r['loop_closure']:.2f} | {r['stuck_pairs']} | {r['time_method_s']:.1f} | {r['stop_reason']} |"
        )
    lines += ["", "Variants:", ""] + [f"- `{name}`: {VARIANTS[name][0]}" for name in meta["variants"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[400])
    parser.add_argument("--energies", nargs="+", default=["pure_lj", "bond_lj"])
    parser.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS, choices=list(VARIANTS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget-s", type=float, default=45.0, help="wall-time cap of each run (slow modes included)")
    parser.add_argument("--jobs", type=int, default=2, help="runs side by side, one torch thread each")
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/loop"))
    parser.add_argument("--extra", nargs="*", default=["output.snapshot=false"], help="overrides for every run")
    args = parser.parse_args(argv)

    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    out = args.out / stamp
    if out.exists():
        print(f"{out} exists; not overwriting", file=sys.stderr)
        return 2
    jobs = [
        {"energy": e, "n": n, "variant": v, "seed": s, "budget_s": args.budget_s, "extra": args.extra,
         "run_dir": str(out / "runs" / f"{e}_n{n}" / v / f"seed{s}")}
        for e in args.energies for n in args.sizes for v in args.variants for s in range(args.seeds)
    ]
    started = time.perf_counter()
    rows = []
    pool = None
    if args.jobs > 1:
        pool = ProcessPoolExecutor(max_workers=args.jobs, mp_context=multiprocessing.get_context("spawn"))
    try:
        for done, row in enumerate((pool.map if pool else map)(run_one, jobs), start=1):
            rows.append(row)
            print(f"[{done}/{len(jobs)}] {row['energy']} n={row['n']} {row['variant']} seed={row['seed']}: "
                  f"E={row['energy_paper']:.5f} closure={row['loop_closure']:.2f} stuck={row['stuck_pairs']} "
                  f"{row['time_method_s']:.1f} s ({row['stop_reason']})", flush=True)
    finally:
        if pool is not None:
            pool.shutdown()

    targets = {}
    for e in args.energies:
        for n in args.sizes:
            baseline = [r["energy_final"] for r in rows if (r["energy"], r["n"], r["variant"]) == (e, n, "gd-adam")]
            targets[f"{e}/{n}"] = statistics.median(baseline) if baseline else None
    for row in rows:
        target = targets[f"{row['energy']}/{row['n']}"]
        row["time_to_target_s"] = time_to(row.pop("curve"), target) if target is not None else None

    import torch

    meta = {
        "date": date.today().isoformat(), "machine": platform.processor() or platform.machine(),
        "cores": multiprocessing.cpu_count(), "torch": torch.__version__, "python": platform.python_version(),
        "jobs": args.jobs, "budget_s": args.budget_s, "seeds": args.seeds, "sizes": args.sizes,
        "energies": args.energies, "variants": args.variants, "targets": targets,
        "wall_time_s": time.perf_counter() - started, "columns": COLUMNS,
    }
    summary = aggregate(rows)
    from nrep.core.io.files import atomic_write_text, write_json

    write_json(out / "loop_bench.json", {"meta": meta, "runs": rows, "summary": summary})
    atomic_write_text(out / "loop_bench.md", markdown(meta, rows, summary))
    print(markdown(meta, rows, summary))
    print(f"written {out / 'loop_bench.json'} and {out / 'loop_bench.md'} ({meta['wall_time_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
