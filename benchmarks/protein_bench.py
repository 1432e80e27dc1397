"""The protein benchmark: every method, optimiser and variant on real proteins at equal wall time, per seed.

Each run is an ordinary ``nrep fold`` run (its own directory with summary, trace and
structures), started from a random coil drawn from its seed (the extended chain is one
deterministic start: ``--init extended`` runs it instead), one torch thread, capped at the
protein's wall time (slow modes included). The runs of one (energy, variant, protein) are
one ``nrep fold -m seed=...`` sweep, so ``--launcher slurm_cpu`` (or any hydra/launcher)
sends them to a cluster; ``--jobs`` sweeps run side by side.

The tables give, per energy model and protein, each variant's final energy, RMS force and
CA RMSD as mean ± std over the seeds, where its time went (slow modes, stage 1, stage 2),
and the time it took to reach the best baseline's final energy from the same start (the
lowest of GD-Adam, GD-L-BFGS, GD-FIRE and OpenMM's minimiser for that seed), with a
per-seed table and a verdict per protein.

    python benchmarks/protein_bench.py --quick          # 5AWL and 2JOF, 2 seeds, 3 energies: < 30 min on 2 cores
    python benchmarks/protein_bench.py                  # 6 proteins, 3 seeds (hours: a cluster's job)
    python benchmarks/protein_bench.py --launcher slurm_cpu --launch-args hydra.launcher.partition=debug --jobs 64
    python benchmarks/protein_bench.py --collect results/benchmarks/proteins/<stamp>   # tables again from the runs

Needs ``$NREP_PDB_DIR`` (or network) for the proteins.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path


@dataclass(frozen=True)
class Variant:
    """One way of minimising: what it is, its overrides, its kind and the energy models it applies to."""

    description: str
    overrides: tuple[str, ...]
    kind: str  # "baseline" (no reparametrisation), "paper" (the paper's CG or GNN), "variant" (beyond the paper)
    energies: tuple[str, ...] | None = None  # None: every energy model

    @property
    def reparametrised(self) -> bool:
        return self.kind != "baseline"


# energy model -> overrides (the OpenMM engine for AMBER: the faster one for one protein on a CPU)
ENERGIES: dict[str, tuple[str, ...]] = {
    "amber": ("energy=amber", "energy.solvent=vacuum"),
    "gbn2": ("energy=amber", "energy.solvent=gbn2"),
    "simple": ("energy=simple",),
}
AMBER_ONLY = ("amber", "gbn2")
# the trace's energy column, named after the unit (proteins in kJ/mol, model A reduced)
ENERGY_COLUMNS = ("energy_kJ_mol", "energy_reduced")
RMS_FORCE_KEYS = ("rms_force_kJ_mol_nm", "rms_force_reduced_nm")
VARIANTS: dict[str, Variant] = {
    "gd-adam": Variant("GD, Adam lr 1e-3 (the paper's baseline)", ("method=gd", "optim=adam"), "baseline"),
    "gd-lbfgs": Variant("GD, L-BFGS (scipy L-BFGS-B)", ("method=gd", "optim=lbfgs"), "baseline"),
    "gd-fire": Variant("GD, FIRE 2.0", ("method=gd", "optim=fire"), "baseline"),
    "openmm-min": Variant("OpenMM's LocalEnergyMinimizer (L-BFGS), tolerance 10 kJ/mol/nm",
                          ("method=openmm_min",), "baseline", AMBER_ONLY),
    "cg-adam": Variant("CG (k = 3 x residues), Adam in both stages", ("method=cg", "optim=adam"), "paper"),
    "gnn-adam": Variant("GNN (slow-mode graph), Adam in both stages", ("method=gnn", "optim=adam"), "paper"),
    "cg-lbfgs": Variant("CG with L-BFGS on Z, then L-BFGS on X", ("method=cg", "optim=lbfgs"), "variant"),
    "gnn-lbfgs": Variant("GNN with L-BFGS on its weights and latent, then L-BFGS on X",
                         ("method=gnn", "optim=lbfgs"), "variant"),
    "cg-adam+lbfgs": Variant("CG with Adam, then L-BFGS on X", ("method=cg", "optim=lbfgs", "method.optim=adam"),
                             "variant"),
    "gnn-adam+lbfgs": Variant("GNN with Adam, then L-BFGS on X",
                              ("method=gnn", "optim=lbfgs", "method.optim=adam"), "variant"),
    "cg-lbfgs-rounds3": Variant("adaptive CG: L-BFGS on Z in 3 rounds, the slow modes computed again at the "
                                "structure each round reached, then L-BFGS on X",
                                ("method=cg", "optim=lbfgs", "method.rounds=3"), "variant"),
    "cg-adam+lbfgs-rounds3": Variant("adaptive CG: Adam on Z in 3 rounds (modes recomputed), then L-BFGS on X",
                                     ("method=cg", "optim=lbfgs", "method.optim=adam", "method.rounds=3"), "variant"),
    "gnn-knn-adam+lbfgs": Variant("GNN over the 8-nearest-neighbour graph of the start (no slow modes), "
                                  "Adam, then L-BFGS on X",
                                  ("method=gnn", "method.graph=knn", "optim=lbfgs", "method.optim=adam"), "variant"),
}
BASELINES = [name for name, v in VARIANTS.items() if v.kind == "baseline"]
# measured and dropped (the README has their numbers): left out unless named with --variants
DROPPED = {"gnn-knn-adam+lbfgs": "far above every other variant on every energy (2026-12-03 QUICK run)"}
DEFAULT_VARIANTS = [name for name in VARIANTS if name not in DROPPED]
# protein -> wall-time cap per run (s): the full benchmark and QUICK
FULL_PROTEINS = {"1PLW": 60.0, "5AWL": 90.0, "2JOF": 180.0, "2MGO": 180.0, "1UNC": 240.0, "2WXC": 300.0}
QUICK_PROTEINS = {"5AWL": 10.0, "2JOF": 25.0}
FULL_SEEDS, QUICK_SEEDS = 3, 2
# every run: one thread, no per-term trace evaluations (each costs an OpenMM call), no checkpoints
COMMON = ("threads=1", "output.trace_terms_every=0", "output.trace_every=10", "output.checkpoint_every_s=0")
# a traced energy at most this far above a target (relative) counts as reaching it: the trace is
# the minimised energy, the target another run's final one, and float32 sums differ in the last bits
REACH_RTOL = 1e-6
COLUMNS = [
    "energy_model", "pdb", "variant", "seed", "status", "stop_reason", "energy_final", "rms_force", "rmsd_ca_A",
    "time_method_s", "time_modes_s", "time_stage1_s", "time_stage2_s", "steps_stage1", "steps_stage2",
    "time_to_target_s", "target", "run_dir",
]


@dataclass(frozen=True)
class Sweep:
    """One ``nrep fold -m`` command: the seeds of one (energy model, variant, protein)."""

    energy_model: str
    variant: str
    pdb: str
    cap_s: float
    seeds: int
    out: Path

    def argv(self, init: str, launcher: str | None, launch_args: list[str], extra: list[str]) -> list[str]:
        seeds = ",".join(str(s) for s in range(self.seeds))
        return [
            "fold", "-m", f"system.pdb={self.pdb}", f"seed={seeds}", f"init={init}", f"time_budget_s={self.cap_s:g}",
            *COMMON, *ENERGIES[self.energy_model], *VARIANTS[self.variant].overrides,
            *([f"hydra/launcher={launcher}", *launch_args] if launcher else []), *extra, "--out", str(self.out),
        ]


def label(pdb: str) -> str:
    """A protein's name in the tables: its id, or a file's name without its suffixes (as nrep's run folders)."""
    return Path(pdb).name.split(".")[0] if ("/" in pdb or "." in pdb) else pdb


def plan(proteins: dict[str, float], energies: list[str], variants: list[str], seeds: int, runs_dir: Path) -> list[Sweep]:
    """Every sweep to run, the slowest proteins first (so two side by side finish together)."""
    sweeps = [
        Sweep(e, v, pdb, cap, seeds, runs_dir / e / label(pdb) / v)
        for pdb, cap in sorted(proteins.items(), key=lambda item: -item[1])
        for e in energies for v in variants
        if VARIANTS[v].energies is None or e in VARIANTS[v].energies
    ]
    return sweeps


def nrep_executable() -> str:
    local = Path(sys.executable).with_name("nrep")
    return str(local) if local.exists() else "nrep"


def log_file(sweep: Sweep) -> Path:
    return sweep.out.with_name(sweep.out.name + ".log")


def run_sweep(sweep: Sweep, argv: list[str]) -> int:
    """One sweep in a subprocess (one thread per run); its output goes to ``<out>.log``."""
    sweep.out.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "COLUMNS": "160"}
    with open(log_file(sweep), "w") as log:
        return subprocess.run([nrep_executable(), *argv], env=env, stdout=log, stderr=subprocess.STDOUT).returncode


def read_curve(run_dir: Path) -> list[tuple[float, float]]:
    """(time_s, energy) of every trace row: time since the method started, slow modes included (none
    when the run left no trace: it failed before its first step)."""
    trace = run_dir / "trace.csv"
    lines = trace.read_text().splitlines() if trace.exists() else []
    if len(lines) < 2:
        return []
    header = lines[0].split(",")
    energy_at = next(header.index(name) for name in ENERGY_COLUMNS if name in header)
    time_at = header.index("time_s")
    curve = []
    for line in lines[1:]:
        cells = line.split(",")
        if cells[energy_at]:
            curve.append((float(cells[time_at]), float(cells[energy_at])))
    return curve


def run_row(summary: dict, run_dir: Path, energy_model: str, pdb: str, variant: str) -> dict:
    """The benchmark's columns of one finished run (stage 1 = the reparametrisation, stage 2 = the coordinates);
    a failed run's results are NaN or empty."""
    # a failed run's summary holds its config (cfg.*) but no results
    stage2 = "openmm" if summary.get("method", summary.get("cfg.method.name")) == "openmm_min" else "coords"
    # stage 1 and its later rounds (adaptive CG: reparam_2, ...)
    stage1 = ["reparam", *(f"reparam_{r}" for r in range(2, summary.get("modes_rounds", 1) + 1))]
    return {
        "energy_model": energy_model, "pdb": summary.get("pdb", pdb), "variant": variant,
        "seed": summary.get("seed", summary.get("cfg.seed")),
        "status": summary.get("status"), "stop_reason": summary.get("stop_reason"),
        "energy_final": summary.get("energy_final", math.nan),
        "rms_force": next((summary[k] for k in RMS_FORCE_KEYS if k in summary), None),
        "rmsd_ca_A": summary.get("rmsd_ca_A"), "time_method_s": summary.get("time_method_s", 0.0),
        "time_modes_s": summary.get("time_modes_s", 0.0) + summary.get("time_init_s", 0.0),
        "time_stage1_s": sum(summary.get(f"time_{name}_s", 0.0) for name in stage1),
        "time_stage2_s": summary.get(f"time_{stage2}_s", 0.0),
        "steps_stage1": sum(summary.get(f"steps_{name}", 0) for name in stage1),
        "steps_stage2": summary.get(f"steps_{stage2}", 0),
        "run_dir": str(run_dir), "curve": read_curve(run_dir),
    }


def collect(runs_dir: Path) -> tuple[list[dict], list[str]]:
    """Every finished run under ``runs_dir`` (``<energy>/<pdb>/<variant>/<job>/summary.json``), and the
    sweeps that left a job without a summary (failed or not started)."""
    rows, missing = [], []
    for sweep_dir in sorted(p for p in runs_dir.glob("*/*/*") if p.is_dir()):
        energy_model, pdb, variant = sweep_dir.relative_to(runs_dir).parts
        for job in sorted(p for p in sweep_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
            summary_file = job / "summary.json"
            if not summary_file.exists():
                missing.append(str(job))
                continue
            rows.append(run_row(json.loads(summary_file.read_text()), job, energy_model, pdb, variant))
    order = {name: i for i, name in enumerate(VARIANTS)}
    rows.sort(key=lambda r: (r["energy_model"], r["pdb"], order.get(r["variant"], 99), r["seed"]))
    return rows, missing


def time_to(curve: list[tuple[float, float]], target: float) -> float | None:
    """First time (s, slow modes included) at which the traced energy reaches ``target``."""
    slack = REACH_RTOL * abs(target)
    return next((t for t, e in curve if e <= target + slack), None)


def add_targets(rows: list[dict]) -> None:
    """Per (energy model, protein, seed), the best baseline's final energy, and each run's time to it."""
    targets: dict[tuple, float] = {}
    for r in rows:
        if r["variant"] in BASELINES and r["status"] == "ok" and math.isfinite(r["energy_final"]):
            key = (r["energy_model"], r["pdb"], r["seed"])
            targets[key] = min(targets.get(key, math.inf), r["energy_final"])
    for r in rows:
        target = targets.get((r["energy_model"], r["pdb"], r["seed"]))
        r["target"] = target
        r["time_to_target_s"] = time_to(r["curve"], target) if target is not None else None


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def aggregate(rows: list[dict]) -> list[dict]:
    """Per (energy model, protein, variant): mean ± std over seeds, time split, time to target."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["energy_model"], r["pdb"], r["variant"]), []).append(r)
    out = []
    for (energy_model, pdb, variant), members in groups.items():
        reached = [m["time_to_target_s"] for m in members if m["time_to_target_s"] is not None]
        entry = {"energy_model": energy_model, "pdb": pdb, "variant": variant, "runs": len(members),
                 "kind": VARIANTS[variant].kind if variant in VARIANTS else "variant",
                 "reached_target": len(reached), "ok": sum(1 for m in members if m["status"] == "ok"),
                 "time_to_target_median_s": statistics.median(reached) if reached else None,
                 "budget_hit": sum(1 for m in members if m["stop_reason"] == "time_budget")}
        for column in ("energy_final", "rms_force", "rmsd_ca_A", "time_method_s"):
            values = [m[column] for m in members if m[column] is not None]
            entry[f"{column}_mean"], entry[f"{column}_std"] = mean_std(values) if values else (None, None)
        for column in ("time_modes_s", "time_stage1_s", "time_stage2_s"):
            entry[f"{column}_mean"] = statistics.fmean(m[column] for m in members)
        entry["energy_final_best"] = min(m["energy_final"] for m in members)
        out.append(entry)
    return out


def is_reparametrised(variant: str) -> bool:
    """A variant not in VARIANTS (a run added by hand) counts as reparametrised unless it is a baseline."""
    return VARIANTS[variant].reparametrised if variant in VARIANTS else True


def verdicts(summary: list[dict], rows: list[dict]) -> list[dict]:
    """Per (energy model, protein): the lowest mean final energy at equal wall time, the first to the
    best baseline's energy, and whether a reparametrised variant ends below both GD-L-BFGS and
    OpenMM's minimiser on every seed (the issue's goal on a physical energy)."""
    out = []
    for energy_model, pdb in sorted({(s["energy_model"], s["pdb"]) for s in summary}):
        group = [s for s in summary if (s["energy_model"], s["pdb"]) == (energy_model, pdb)]
        # a variant with a failed run (diverged, interrupted) is in the table, not among the winners
        lowest = min((s for s in group if s["ok"] == s["runs"]), key=lambda s: s["energy_final_mean"], default=None)
        timed = [s for s in group if s["reached_target"] == s["runs"]]
        first = min(timed, key=lambda s: s["time_to_target_median_s"]) if timed else None
        per_seed = {}
        for r in rows:
            if (r["energy_model"], r["pdb"]) == (energy_model, pdb):
                per_seed.setdefault(r["seed"], {})[r["variant"]] = r["energy_final"]
        rivals = [b for b in ("gd-lbfgs", "openmm-min") if any(b in v for v in per_seed.values())]
        winners = sorted(
            s["variant"] for s in group if s["ok"] == s["runs"] and is_reparametrised(s["variant"])
            and rivals and all(s["variant"] in v and all(v[s["variant"]] < v[b] for b in rivals if b in v)
                               for v in per_seed.values())
        )
        out.append({"energy_model": energy_model, "pdb": pdb, "lowest": lowest and lowest["variant"],
                    "lowest_is_reparametrised": bool(lowest) and is_reparametrised(lowest["variant"]),
                    "first_to_target": first["variant"] if first else None,
                    "first_to_target_s": first["time_to_target_median_s"] if first else None,
                    "beats_lbfgs_and_openmm_every_seed": winners, "rivals": rivals})
    return out


def _num(value: float | None, fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


def markdown(meta: dict, rows: list[dict], summary: list[dict], verdict: list[dict]) -> str:
    lines = [
        f"# Protein benchmark ({meta['date']}, {meta['machine']}, {meta['cores']} cores, torch {meta['torch']}, "
        f"{meta['jobs']} sweeps side by side, 1 thread per run, start: {meta['init']}, seeds 0-{meta['seeds'] - 1})",
        "",
        "Energies in kJ/mol (`simple`: reduced units), as minimised, at the end of each run; each run is capped at",
        "the protein's wall time (slow modes included). Mean ± std over seeds (the std is the noise). Target: per",
        "seed, the lowest final energy of the baselines (" + ", ".join(BASELINES) + ") from the same start; time to",
        "target is the median over the seeds that reached it. Time split: slow modes (and the network's set-up),",
        "stage 1 (the reparametrisation), stage 2 (the coordinates, or OpenMM's minimiser).",
        "",
    ]
    caps = {label(pdb): cap for pdb, cap in meta["proteins"].items()}
    for v in verdict:
        energy_model, pdb = v["energy_model"], v["pdb"]
        lines += [
            f"## {energy_model}, {pdb} (cap {caps.get(pdb, 0):g} s per run)",
            "",
            "| variant | kind | final energy | best | RMS force (per nm) | CA RMSD (Å) | time (s) | modes / stage 1 / "
            "stage 2 (s) | to target (s) | budget hit |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for s in (s for s in summary if (s["energy_model"], s["pdb"]) == (energy_model, pdb)):
            to_target = (f"{s['time_to_target_median_s']:.2f} ({s['reached_target']}/{s['runs']})"
                         if s["time_to_target_median_s"] is not None else f"not reached (0/{s['runs']})")
            lines.append(
                f"| {s['variant']} | {s['kind']} | {s['energy_final_mean']:.2f} ± {s['energy_final_std']:.2f} | "
                f"{s['energy_final_best']:.2f} | {_num(s['rms_force_mean'], '.1f')} | {_num(s['rmsd_ca_A_mean'], '.2f')} | "
                f"{s['time_method_s_mean']:.1f} | {s['time_modes_s_mean']:.2f} / {s['time_stage1_s_mean']:.1f} / "
                f"{s['time_stage2_s_mean']:.1f} | {to_target} | {s['budget_hit']} |"
            )
        first = (f"`{v['first_to_target']}` ({v['first_to_target_s']:.2f} s)" if v["first_to_target"]
                 else "none on every seed")
        beats = ", ".join(f"`{w}`" for w in v["beats_lbfgs_and_openmm_every_seed"]) or "none"
        lines += ["", f"Lowest at equal wall time (every run ok): `{v['lowest']}` "
                      f"({'reparametrised' if v['lowest_is_reparametrised'] else 'a baseline'}); first to the target "
                      f"on every seed: {first}; below {' and '.join(v['rivals']) or 'the baselines'} on every seed: "
                      f"{beats}.", ""]
    lines += ["## Per seed", "",
              "| energy | protein | variant | seed | final energy | RMS force | CA RMSD | time (s) | to target (s) | stop |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['energy_model']} | {r['pdb']} | {r['variant']} | {r['seed']} | {r['energy_final']:.2f} | "
            f"{_num(r['rms_force'], '.1f')} | {_num(r['rmsd_ca_A'], '.2f')} | {r['time_method_s']:.1f} | "
            f"{_num(r['time_to_target_s'], '.2f')} | {r['stop_reason']} |"
        )
    if meta.get("failed_sweeps"):
        lines += ["", f"Sweeps that failed: {len(meta['failed_sweeps'])}"] + [f"- {f}" for f in meta["failed_sweeps"]]
    if meta.get("missing"):
        lines += ["", f"Runs without a summary (failed or not started; see the sweep's .log): {len(meta['missing'])}"]
        lines += [f"- {m}" for m in meta["missing"]]
    lines += ["", "Variants:", ""] + [f"- `{name}` ({VARIANTS[name].kind}): {VARIANTS[name].description}"
                                      for name in meta["variants"] if name in VARIANTS]
    return "\n".join(lines) + "\n"


def write_tables(out: Path, meta: dict) -> Path:
    """Read every run under ``out/runs`` and write protein_bench.json and protein_bench.md next to it."""
    from nrep.core.io.files import atomic_write_text, write_json

    rows, missing = collect(out / "runs")
    add_targets(rows)
    summary = aggregate(rows)
    verdict = verdicts(summary, rows)
    meta = {**meta, "missing": missing, "columns": COLUMNS}
    runs = [{k: v for k, v in r.items() if k != "curve"} for r in rows]
    write_json(out / "protein_bench.json", {"meta": meta, "runs": runs, "summary": summary, "verdicts": verdict})
    atomic_write_text(out / "protein_bench.md", markdown(meta, runs, summary, verdict))
    return out / "protein_bench.md"


def parse_proteins(items: list[str] | None, quick: bool) -> dict[str, float]:
    """``PDB`` or ``PDB:CAP_S`` entries, ids or files (the cap defaults to the benchmark's, else 60 s)."""
    if not items:
        return dict(QUICK_PROTEINS if quick else FULL_PROTEINS)
    proteins = {}
    for item in items:
        pdb, _, cap = item.rpartition(":") if item.rpartition(":")[2].replace(".", "", 1).isdigit() else (item, "", "")
        proteins[pdb] = float(cap) if cap else (QUICK_PROTEINS if quick else FULL_PROTEINS).get(pdb, 60.0)
    return proteins


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5AWL (10 s per run) and 2JOF (25 s), 2 seeds")
    parser.add_argument("--proteins", nargs="+", help="PDB or PDB:CAP_S (default: the six, or QUICK's two)")
    parser.add_argument("--energies", nargs="+", default=list(ENERGIES), choices=list(ENERGIES))
    parser.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS, choices=list(VARIANTS),
                        help="default: all but the dropped ones (" + ", ".join(DROPPED) + ")")
    parser.add_argument("--seeds", type=int, help=f"seeds 0..N-1 (default {FULL_SEEDS}, QUICK {QUICK_SEEDS})")
    parser.add_argument("--init", default="random", choices=["random", "extended"])
    parser.add_argument("--jobs", type=int, default=2, help="sweeps side by side (one thread per run)")
    parser.add_argument("--launcher", help="hydra/launcher for every sweep (basic: one run after another)")
    parser.add_argument("--launch-args", nargs="*", default=[], help="e.g. hydra.launcher.partition=debug")
    parser.add_argument("--extra", nargs="*", default=[], help="overrides for every run")
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/proteins"))
    parser.add_argument("--collect", type=Path, help="only write the tables again from this benchmark's runs")
    args = parser.parse_args(argv)
    if args.seeds is not None and args.seeds < 1:
        parser.error("--seeds must be >= 1")

    proteins = parse_proteins(args.proteins, args.quick)
    seeds = args.seeds or (QUICK_SEEDS if args.quick else FULL_SEEDS)
    import torch

    meta = {
        "date": date.today().isoformat(), "machine": platform.processor() or platform.machine(),
        "cores": multiprocessing.cpu_count(), "torch": torch.__version__, "python": platform.python_version(),
        "jobs": args.jobs, "init": args.init, "seeds": seeds, "proteins": proteins, "energies": args.energies,
        "variants": args.variants, "quick": args.quick, "launcher": args.launcher or "basic",
    }
    if args.collect is not None:
        if not (args.collect / "runs").is_dir():
            print(f"{args.collect} holds no runs/ folder of a protein benchmark", file=sys.stderr)
            return 2
        meta_file = args.collect / "protein_bench.json"
        if meta_file.exists():
            meta = {**json.loads(meta_file.read_text())["meta"], "collected": date.today().isoformat()}
        print(write_tables(args.collect, meta).read_text())
        return 0

    out = args.out / (time.strftime("%Y-%m-%d_%H-%M-%S") + ("-quick" if args.quick else ""))
    if out.exists():
        print(f"{out} exists; not overwriting", file=sys.stderr)
        return 2
    sweeps = plan(proteins, args.energies, args.variants, seeds, out / "runs")
    started = time.perf_counter()
    failed: list[str] = []

    def launch(sweep: Sweep) -> tuple[Sweep, int]:
        return sweep, run_sweep(sweep, sweep.argv(args.init, args.launcher, args.launch_args, args.extra))

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for done, (sweep, code) in enumerate(pool.map(launch, sweeps), start=1):
            if code != 0:
                failed.append(f"{sweep.energy_model} {label(sweep.pdb)} {sweep.variant}: exit {code}, see {log_file(sweep)}")
            finals = [json.loads(p.read_text()).get("energy_final", math.nan)
                      for p in sorted(sweep.out.glob("*/summary.json"))]
            print(f"[{done}/{len(sweeps)}] {sweep.energy_model} {sweep.pdb} {sweep.variant}: "
                  f"{' '.join(f'{e:.1f}' for e in finals) or 'no run finished'}"
                  f"{'' if code == 0 else f' (exit {code}: see {log_file(sweep)})'}"
                  f" [{time.perf_counter() - started:.0f} s]", flush=True)
    meta["wall_time_s"] = time.perf_counter() - started
    meta["failed_sweeps"] = failed
    table = write_tables(out, meta)
    print(table.read_text())
    print(f"written {out / 'protein_bench.json'} and {table} ({meta['wall_time_s']:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
