"""`make bench`: nrep's energies against OpenMM's CPU platform, slow-mode cost, time to target.

Every number is a ratio against a baseline measured in the same process, with the same
thread count and dtype (stated in the output), never an absolute-time claim:

- energy: one energy + gradient of all-pairs Lennard-Jones on n particles (a jittered
  grid at the LJ spacing): plain autograd (the naive torch version), nrep's fused blocked
  sum, and a cutoff with a Verlet list, each against OpenMM's NonbondedForce (NoCutoff /
  CutoffNonPeriodic) on the same particles; and AMBER (2JOF, 1UNC, 2WXC) in vacuum, nrep
  against OpenMM. The fused sums also through torch.compile (its one-off compilation is
  done in the warm-up call, not timed). Peak memory of each, measured in a child process.
- engine: the OpenMM engine (2JOF, 1UNC, 2WXC in vacuum): raw OpenMM Context calls
  against the autograd bridge, a whole GD step on it, and the torch engine.
- hessian: slow modes of 2JOF and 1UNC from the torch terms (vacuum) against finite
  differences of OpenMM's forces (vacuum, GBn2): time and subspace overlap.
- openmm-target: 2JOF from the extended chain in GBn2, openmm_min against GD-L-BFGS and
  GD-Adam on the OpenMM engine: final energy, RMS force, time to openmm_min's energy.
- threads: a GD step of 2JOF (both engines), 2WXC (torch engine) and a 4,000-bead loop, each
  run alone and beside a busy neighbour (another process keeping one core busy), with the
  default thread count (threads=null), one thread and every core.
- large-protein: a 320-residue chain built from a sequence (a helix, 4,499 atoms with
  hydrogens; no shared file has 300+ residues): the whole set-up of a GD run (fresh start
  cache), and one AMBER energy + gradient of nrep's torch terms (all pairs; the 1 nm
  cutoff that energy.cutoff_nm=null takes at this size) against OpenMM (NoCutoff;
  CutoffNonPeriodic 1 nm).
- modes: slow-mode set-up time as a share of a whole CG and GNN run (pure-LJ loop).
- replicas: runs per hour of 8 seeds of 2JOF (GD, CG, GNN with Adam) as one batch against
  one after another and against a process per seed.
- target: time for GD/CG/GNN (Adam), GD-L-BFGS and GD-FIRE to reach GD-Adam's final energy
  on the pure-LJ loop, each run capped (and, with --full, on 2JOF from the extended chain,
  with OpenMM's minimiser too).

    make bench                     # ~7 min on 2 cores
    make bench FULL=1              # adds n = 10000 and n = 1000 loops with longer caps
    python benchmarks/bench.py --only energy --threads 2
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from nrep.core.runtime import available_cores

if TYPE_CHECKING:
    from collections.abc import Callable

    import openmm

ARTEFACTS = Path("results/benchmarks/bench")


def grid(n: int, spacing: float = 1.12, seed: int = 0) -> np.ndarray:
    side = int(np.ceil(n ** (1 / 3)))
    points = np.array(list(itertools.product(range(side), repeat=3)), dtype=np.float64)[:n] * spacing
    return points + 0.05 * np.random.default_rng(seed).normal(size=points.shape)


def per_call_ms(fn: Callable[[], object], seconds: float = 1.5, at_least: int = 3) -> float:
    """Median time of one call (ms), after a warm-up call."""
    fn()
    times, started = [], time.perf_counter()
    while len(times) < at_least or time.perf_counter() - started < seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= 200:
            break
    return 1000 * float(np.median(times))


# ------------------------------------------------------------------ energy + gradient


def lj_callables(n: int, dtype: torch.dtype, cutoff: float) -> dict:
    from nrep.core.energy import fused
    from nrep.core.energy.neighbours import VerletList, lj_within_cutoff

    x = torch.tensor(grid(n), dtype=dtype, requires_grad=True)
    neighbours = VerletList(cutoff, skin=0.3)
    neighbours.pairs(x)

    def run(energy: Callable[[], torch.Tensor]) -> Callable[[], tuple[torch.Tensor, ...]]:
        return lambda: torch.autograd.grad(energy(), x)

    found = {
        "nrep fused": run(lambda: fused.lj_all_pairs(x)),
        "nrep fused + torch.compile": run(lambda: fused.lj_all_pairs(x, compiled=True)),
        f"nrep cutoff {cutoff}": run(lambda: lj_within_cutoff(x, neighbours.pairs(x), cutoff)),
    }
    if n <= 4000:
        found["torch autograd"] = run(lambda: fused.lj_all_pairs_autograd(x))
    return found


def openmm_lj(n: int, cutoff: float | None, threads: int) -> Callable[[], openmm.State]:
    import openmm

    system = openmm.System()
    force = openmm.NonbondedForce()
    for _ in range(n):
        system.addParticle(1.0)
        force.addParticle(0.0, 1.0, 1.0)
    if cutoff is None:
        force.setNonbondedMethod(openmm.NonbondedForce.NoCutoff)
    else:
        force.setNonbondedMethod(openmm.NonbondedForce.CutoffNonPeriodic)
        force.setCutoffDistance(cutoff)
        force.setUseDispersionCorrection(False)
    system.addForce(force)
    return openmm_evaluator(system, grid(n), threads)


def openmm_evaluator(system: openmm.System, positions: np.ndarray, threads: int) -> Callable[[], openmm.State]:
    import openmm

    platform_ = openmm.Platform.getPlatformByName("CPU")
    context = openmm.Context(system, openmm.VerletIntegrator(0.001), platform_, {"Threads": str(threads)})
    context.setPositions(positions)
    return lambda: context.getState(getEnergy=True, getForces=True)


def energy_rows(sizes: list[int], threads: int, cutoff: float) -> list[dict]:
    rows = []
    for n in sizes:
        base = {None: per_call_ms(openmm_lj(n, None, threads)), cutoff: per_call_ms(openmm_lj(n, cutoff, threads))}
        for name, fn in lj_callables(n, torch.float32, cutoff).items():
            reference = base[cutoff] if "cutoff" in name else base[None]
            ours = per_call_ms(fn)
            rows.append({"system": f"LJ n={n}", "method": name, "ms": ours, "openmm_ms": reference,
                         "ratio_to_openmm": ours / reference,
                         "openmm": "CutoffNonPeriodic" if "cutoff" in name else "NoCutoff"})
    return rows


def amber_rows(pdbs: list[str], threads: int) -> list[dict]:
    from nrep.core.energy.amber import AmberEnergy, AmberParameters
    from nrep.core.systems.protein import locate_and_prepare

    rows = []
    for pdb in pdbs:
        _, protein = locate_and_prepare(pdb)
        reference = per_call_ms(openmm_evaluator(protein.system, protein.positions_nm, threads))
        energy = AmberEnergy(AmberParameters.from_openmm(protein.system))
        x = torch.tensor(protein.positions_nm, dtype=torch.float32, requires_grad=True)
        for name, fused, compiled in (("nrep fused", True, False), ("nrep compiled (energy + gradient)", True, True),
                                      ("torch autograd", False, False)):
            energy.fused, energy.compiled = fused, compiled
            ours = per_call_ms(lambda: torch.autograd.grad(energy(x), x))  # noqa: B023 - timed here, in this pass
            rows.append({"system": f"{pdb} AMBER ({len(x)} atoms)", "method": name, "ms": ours, "openmm_ms": reference,
                         "ratio_to_openmm": ours / reference, "openmm": "NoCutoff, vacuum"})
    return rows


LARGE_SEQUENCE = "DAYAQWLKDGGPSSGRPPPS" * 16  # 2JOF's sequence 16 times: 320 residues


def large_protein_file(folder: Path) -> Path:
    """The 320-residue chain as a helix (PeptideBuilder), written as a PDB file."""
    from nrep.core.systems.extended import peptide_pdb

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "H320.pdb"
    path.write_text(peptide_pdb(LARGE_SEQUENCE))
    return path


def large_protein_rows(threads: int, out: Path) -> list[dict]:
    """Set-up and one energy + gradient of a 320-residue chain, nrep against OpenMM with the same cutoff."""
    import copy
    import time

    import openmm

    from nrep.configs.schema.choices import AMBER_CUTOFF_NM
    from nrep.core.energy.amber import AmberEnergy, AmberParameters
    from nrep.core.systems.protein import locate_and_prepare

    path = large_protein_file(out / "large")
    started = time.perf_counter()
    summary = run_summary(["system=protein", f"system.pdb={path}", "method=gd", "stop.max_total_steps=20",
                           f"threads={threads}", f"init.cache_dir={out / 'large' / 'starts'}"], out / "large" / "run", "fold")
    rows = [{"system": f"H320 set-up ({summary['n_particles']} atoms)", "method": "nrep fold method=gd, 20 steps",
             "ms": 1e3 * (time.perf_counter() - started), "openmm": "-", "openmm_ms": float("nan"),
             "ratio_to_openmm": float("nan")}]
    _, protein = locate_and_prepare(str(path))
    cut_system = copy.deepcopy(protein.system)
    for force in cut_system.getForces():
        if isinstance(force, openmm.NonbondedForce):
            force.setNonbondedMethod(openmm.NonbondedForce.CutoffNonPeriodic)
            force.setCutoffDistance(AMBER_CUTOFF_NM)
    x = torch.tensor(protein.positions_nm, dtype=torch.float32, requires_grad=True)
    label = f"H320 AMBER ({len(x)} atoms)"
    for cutoff, system, name in ((None, protein.system, "NoCutoff, vacuum"),
                                 (AMBER_CUTOFF_NM, cut_system, f"CutoffNonPeriodic {AMBER_CUTOFF_NM} nm")):
        reference = per_call_ms(openmm_evaluator(system, protein.positions_nm, threads))
        energy = AmberEnergy(AmberParameters.from_openmm(protein.system), cutoff_nm=cutoff)
        ours = per_call_ms(lambda: torch.autograd.grad(energy(x), x))  # noqa: B023 - timed here, in this pass
        rows.append({"system": label, "method": "nrep all pairs" if cutoff is None else f"nrep cutoff {cutoff} nm",
                     "ms": ours, "openmm": name, "openmm_ms": reference, "ratio_to_openmm": ours / reference})
    return rows


def engine_rows(pdbs: list[str], threads: int, out: Path) -> list[dict]:
    """The OpenMM engine's cost: raw Context calls vs the autograd bridge vs a whole GD step, and the torch engine.

    Raw: setPositions + getState(energy, forces) from a plain array, the values read
    without unit conversion (the leanest Python call). Bridge: OpenMMEnergy forward +
    backward from a float32 torch tensor. GD step: a run of method=gd (Adam) on
    energy.engine=openmm, its coordinate stage's time per step, with the trace's RMSD rows
    every 20 steps (the default) and every 1000.
    """
    from nrep.core.energy.amber import AmberEnergy, AmberParameters
    from nrep.core.energy.openmm_engine import OpenMMEnergy
    from nrep.core.systems.openmm_contexts import openmm_system
    from nrep.core.systems.protein import locate_and_prepare

    rows = []
    for pdb in pdbs:
        _, protein = locate_and_prepare(pdb)
        n = protein.positions_nm.shape[0]
        engine = OpenMMEnergy(protein.system, "CPU", threads)

        def raw(context: openmm.Context = engine.context, positions: np.ndarray = protein.positions_nm) -> None:
            context.setPositions(positions)
            state = context.getState(getEnergy=True, getForces=True)
            state.getPotentialEnergy()._value, state.getForces(asNumpy=True)._value

        base = per_call_ms(raw)
        x = torch.tensor(protein.positions_nm, dtype=torch.float32, requires_grad=True)
        bridge = per_call_ms(lambda: torch.autograd.grad(engine(x), x))  # noqa: B023 - timed in this pass
        answer = engine.evaluate(protein.positions_nm)
        stubbed = OpenMMEnergy(protein.system, "CPU", threads)
        stubbed.evaluate = lambda x_nm, answer=answer: answer  # the bridge's own cost: no OpenMM call
        alone = per_call_ms(lambda: torch.autograd.grad(stubbed(x), x))  # noqa: B023
        solvated, _, _ = openmm_system(protein.topology, solvent="gbn2")
        implicit = OpenMMEnergy(solvated, "CPU", threads)
        gbn2 = per_call_ms(lambda: implicit.evaluate(protein.positions_nm))  # noqa: B023
        amber = AmberEnergy(AmberParameters.from_openmm(protein.system))
        torch_ms = per_call_ms(lambda: torch.autograd.grad(amber(x), x))  # noqa: B023
        label = f"{pdb} ({n} atoms, vacuum)"
        rows += [
            {"system": label, "how": "OpenMM Context (raw)", "ms": base, "ratio_to_raw": 1.0},
            {"system": label, "how": "engine=openmm bridge (E + grad)", "ms": bridge, "ratio_to_raw": bridge / base},
            {"system": label, "how": "the bridge alone (OpenMM call stubbed)", "ms": alone, "ratio_to_raw": alone / base},
            {"system": label, "how": "OpenMM call in GBn2", "ms": gbn2, "ratio_to_raw": gbn2 / base},
        ]
        for every in (20, 1000):
            s = run_summary(["system=protein", f"system.pdb={pdb}", "method=gd", "stop.max_steps=1000",
                             f"output.trace_every={every}", f"threads={threads}", "output.progress=off"],
                            out / f"engine-gd-{pdb}-{every}", "fold")
            step_ms = 1000 * s["time_coords_s"] / max(1, s["steps_coords"])
            rows.append({"system": label, "how": f"engine=openmm, one GD (Adam) step, trace every {every}",
                         "ms": step_ms, "ratio_to_raw": step_ms / base})
        rows.append({"system": label, "how": "engine=torch (E + grad)", "ms": torch_ms, "ratio_to_raw": torch_ms / base})
    return rows


def subspace_overlap(a: torch.Tensor, b: torch.Tensor) -> float:
    """|A^T B|_F^2 / k for two (n, k) orthonormal bases: 1 when they span the same subspace, k/n at random."""
    return float((a.T @ b).square().sum() / a.shape[1])


# (protein, solvent, samples): GBn2 costs OpenMM's CPU platform ~17x vacuum per evaluation (14 ms
# for 2JOF), so its finite differences are measured on 2JOF with 3 samples only
HESSIAN_CASES = (("2JOF", "vacuum", 10), ("1UNC", "vacuum", 10), ("2JOF", "gbn2", 3))


def hessian_rows(threads: int) -> list[dict]:
    """Slow modes from the torch terms (amber14 in vacuum, analytic) vs finite differences of OpenMM's forces.

    Samples: perturbations of the native structure (the default kind), k = 3 x residues;
    the overlap of the two k-dimensional subspaces (1 = the same; k/n for random ones).
    """
    from nrep.configs.compose import compose, validate
    from nrep.core.energy.registry import build_energy
    from nrep.core.methods.mode_setup import compute_slow_modes
    from nrep.core.run.build import build_system

    rows = []
    for pdb, solvent, samples in HESSIAN_CASES:
        found = {}
        for hessian in ("terms", "differences"):
            cfg = validate(compose(["system=protein", f"system.pdb={pdb}", "init=native", "method=cg",
                                    f"energy.solvent={solvent}", f"method.modes.hessian={hessian}",
                                    f"method.modes.n_samples={samples}", f"threads={threads}"], command="fold"))
            system = build_system(cfg)
            found[hessian] = compute_slow_modes(cfg, build_energy(cfg, system), system)
        terms, differences = found["terms"], found["differences"]
        n = terms.psi.shape[0]
        rows.append({"system": f"{pdb} ({n} atoms, k={terms.k}), {solvent}, {samples} samples",
                     "terms_s": terms.compute_time_s, "differences_s": differences.compute_time_s,
                     "overlap": subspace_overlap(terms.psi, differences.psi), "random_overlap": terms.k / n})
    return rows


def peak_growth_mb(kind: str, n: int, cutoff: float) -> float:
    """In this process: growth of the peak resident memory (MB) over one energy + gradient."""
    torch.set_num_threads(1)
    before = peak_rss_mb()
    if kind == "openmm":
        openmm_lj(n, None, 1)()
    else:
        lj_callables(n, torch.float32, cutoff)[kind]()
    return peak_rss_mb() - before


def peak_rss_mb() -> float:
    """This process's peak resident memory: VmHWM (Linux; getrusage's maxrss survives exec)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_memory_mb(kind: str, n: int, cutoff: float) -> float:
    """The same, measured in a fresh Python process (so earlier work does not hide it)."""
    done = subprocess.run([sys.executable, __file__, "--peak", kind, str(n), str(cutoff)],
                          capture_output=True, text=True, timeout=900, check=True)
    return float(done.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ whole runs


def run_summary(overrides: list[str], out: Path, command: str = "loop") -> dict:
    from nrep.configs.compose import compose, validate
    from nrep.core.run.single import execute

    cfg = validate(compose(overrides, command=command))
    return execute(cfg, out)


def modes_rows(n: int, threads: int, out: Path) -> list[dict]:
    rows = []
    for method in ("cg", "gnn"):
        s = run_summary([f"method={method}", f"system.n={n}", f"threads={threads}", "output.snapshot=false",
                         "time_budget_s=120", "output.progress=off"], out / f"modes-{method}-{n}")
        rows.append({"system": f"pure-LJ loop n={n}", "method": method, "modes_s": s["time_modes_s"],
                     "run_s": s["time_method_s"], "share": s["time_modes_s"] / s["time_method_s"], "k": s.get("modes_k")})
    return rows


def time_to(trace: Path, column: str, target: float) -> float | None:
    import pandas as pd

    rows = pd.read_csv(trace)
    reached = rows[rows[column] <= target]
    return float(reached["time_s"].iloc[0]) if len(reached) else None


TARGET_VARIANTS = {"gd-adam": ["method=gd"], "cg-adam": ["method=cg"], "gnn-adam": ["method=gnn"],
                   "gd-lbfgs": ["method=gd", "optim=lbfgs"], "gd-fire": ["method=gd", "optim=fire"]}


def target_rows(system: list[str], label: str, cap_s: float, threads: int, out: Path, command: str = "loop") -> list[dict]:
    """Each variant capped at ``cap_s``; the target is GD-Adam's final energy."""
    variants = dict(TARGET_VARIANTS) | ({"openmm_min": ["method=openmm_min"]} if command == "fold" else {})
    summaries = {}
    for name, overrides in variants.items():
        cap = [] if name == "openmm_min" else [f"time_budget_s={cap_s}"]
        summaries[name] = run_summary([*system, *overrides, *cap, f"threads={threads}", "output.progress=off"]
                                      + (["output.snapshot=false"] if command == "loop" else []),
                                      out / f"target-{label}-{name}", command)
    target = summaries["gd-adam"]["energy_final"]
    column = "energy_" + summaries["gd-adam"]["energy_unit"].replace("/", "_")
    rows = []
    for name, s in summaries.items():
        reached = time_to(Path(s["run_dir"]) / "trace.csv", column, target)
        rows.append({"system": label, "variant": name, "energy_final": s["energy_final_exact"],
                     "time_s": s["time_method_s"], "time_to_target_s": reached, "target": target})
    return rows


def openmm_target_rows(pdb: str, threads: int, out: Path, cap_s: float = 120.0) -> list[dict]:
    """From the extended chain in GBn2: OpenMM's minimiser against nrep's L-BFGS (and Adam) on the OpenMM engine.

    The target is openmm_min's final energy; each nrep run is capped at ``cap_s``.
    """
    common = ["system=protein", f"system.pdb={pdb}", "energy.solvent=gbn2", f"threads={threads}", "output.progress=off"]
    variants = {"openmm_min": ["method=openmm_min"],
                "gd-lbfgs (engine=openmm)": ["method=gd", "optim=lbfgs", f"time_budget_s={cap_s}"],
                "gd-adam (engine=openmm)": ["method=gd", f"time_budget_s={cap_s}"]}
    summaries = {name: run_summary([*common, *overrides], out / f"openmm-target-{i}", "fold")
                 for i, (name, overrides) in enumerate(variants.items())}
    target = summaries["openmm_min"]["energy_final"]
    rows = []
    for name, s in summaries.items():
        rows.append({"system": f"{pdb} extended, GBn2", "variant": name, "energy_final": s["energy_final"],
                     "rms_force": s["rms_force_kJ_mol_nm"], "evaluations": sum(
                         v for k, v in s.items() if k.startswith("evaluations_")),
                     "time_s": s["time_method_s"],
                     "time_to_target_s": time_to(Path(s["run_dir"]) / "trace.csv", "energy_kJ_mol", target)})
    return rows


def replica_rows(pdb: str, replicas: int, steps: int, methods: tuple[str, ...] = ("gd", "cg", "gnn")) -> list[dict]:
    """Runs per hour: B seeds of one protein as one batch vs one after another, per method.

    Each seed has its own plan (its own slow modes and GNN weights; GD starts from the
    extended chain jittered by 0.01 nm per seed, since GD from the same start is the same
    run). CG and GNN split ``steps`` between their two stages. Both ways run in this
    process without early stopping, so the separate runs do not pay the start-up a process
    per seed would; that start-up (Python, torch and nrep imports plus the system's set-up,
    measured in a child) is added for the third figure.
    """
    from nrep.configs.compose import compose, validate
    from nrep.core.energy.registry import build_energy
    from nrep.core.engine.replicas import batch_plans, minimise_replicas
    from nrep.core.engine.stages import minimise
    from nrep.core.methods.registry import build_plan
    from nrep.core.run.build import build_system
    from nrep.core.runtime import configure

    timing = "import time; t = time.perf_counter(); import torch, nrep.core.run.single; print(time.perf_counter() - t)"
    startup = subprocess.run([sys.executable, "-c", timing], capture_output=True, text=True, check=True)
    import_s = float(startup.stdout.strip())
    runtime = configure("cpu", "float32", torch.get_num_threads(), True)
    rows = []
    for method in methods:
        split = ([f"stop.max_steps={steps}"] if method == "gd"
                 else [f"method.stop.max_steps={steps // 2}", f"stop.max_steps={steps - steps // 2}"])
        base = ["system=protein", f"system.pdb={pdb}", f"method={method}", "optim=adam", "energy.engine=torch", *split]
        cfgs = [validate(compose([*base, f"seed={seed}"], command="fold")) for seed in range(replicas)]
        started = time.perf_counter()
        system = build_system(cfgs[0])
        energy = build_energy(cfgs[0], system)
        setup_s = time.perf_counter() - started
        plans = [build_plan(cfg, system, energy, runtime) for cfg in cfgs]
        x0 = system.x0.to(torch.float32)
        jitter = 0.01 if method == "gd" else 0.0
        starts = torch.stack([x0 + jitter * torch.randn(x0.shape, generator=torch.Generator().manual_seed(b)) for b in range(replicas)])
        t0 = time.perf_counter()
        minimise_replicas(energy, starts, batch_plans(plans, starts))
        batched_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for b, plan in enumerate(plans):
            for stage in plan.stages:
                stage.callbacks = []
            minimise(energy, starts[b], plan.stages)
        separate_s = time.perf_counter() - t0
        process_s = import_s + setup_s + plans[0].setup_s
        label = f"{pdb} {method} ({replicas} seeds x {steps} steps)"
        rows += [
            {"system": label, "how": "one batch", "seconds": batched_s, "runs_per_hour": 3600 * replicas / batched_s},
            {"system": label, "how": "one after another", "seconds": separate_s, "runs_per_hour": 3600 * replicas / separate_s},
            {"system": label, "how": "a process per seed (+ start-up)", "seconds": separate_s + replicas * process_s,
             "runs_per_hour": 3600 * replicas / (separate_s + replicas * process_s)},
        ]
    return rows


# A neighbour that keeps one core busy: single-threaded matrix products, as another run would
BUSY_NEIGHBOUR = ("import torch\ntorch.set_num_threads(1)\na = torch.randn(384, 384)\n"
                  "while True:\n    a = torch.tanh(a @ a)\n")
THREAD_CASES = {  # label -> the nrep command of a GD run (its coordinate steps are timed)
    "2JOF gd (OpenMM engine)": ["fold", "--pdb", "2JOF", "method=gd", "stop.max_total_steps=300"],
    "2JOF gd (torch engine)": ["fold", "--pdb", "2JOF", "method=gd", "energy.engine=torch", "stop.max_total_steps=300"],
    "2WXC gd (torch engine)": ["fold", "--pdb", "2WXC", "method=gd", "energy.engine=torch", "stop.max_total_steps=100"],
    "loop n=4000 gd": ["loop", "system.n=4000", "method=gd", "stop.max_total_steps=100"],
}


def gd_step_ms(command: list[str], out: Path) -> tuple[float, int]:
    """(ms per coordinate step, threads the run used) of an nrep GD run in its own process."""
    exe = Path(sys.executable).with_name("nrep")
    subprocess.run([str(exe), *command, "output.snapshot=false", "output.progress=off", "--out", str(out), "--overwrite"],
                   check=True, capture_output=True, text=True)
    summary = json.loads((out / "summary.json").read_text())
    return 1000.0 * summary["time_coords_s"] / max(summary["steps_coords"], 1), int(summary["threads"])


def thread_rows(cores: int, out: Path, cases: dict[str, list[str]] | None = None) -> list[dict]:
    """One run alone vs beside a busy neighbour (one core kept busy by another process), for the
    default thread count (threads=null), one thread and every core."""
    rows = []
    for label, command in (cases or THREAD_CASES).items():
        for name, setting in (("default", []), ("1", ["threads=1"]), (f"all ({cores})", [f"threads={cores}"])):
            alone_ms, used = gd_step_ms([*command, *setting], out / "threads")
            neighbour = subprocess.Popen([sys.executable, "-c", BUSY_NEIGHBOUR])
            try:
                time.sleep(1.0)  # let it start working
                beside_ms, _ = gd_step_ms([*command, *setting], out / "threads")
            finally:
                neighbour.kill()
                neighbour.wait()
            rows.append({"system": label, "threads": f"{name}: {used}" if name == "default" else name,
                         "alone_ms": alone_ms, "beside_busy_ms": beside_ms, "ratio": beside_ms / alone_ms})
    return rows


# ------------------------------------------------------------------ report


ENGINE_COLUMNS = ["system", "how", "ms", "ratio_to_raw"]
HESSIAN_COLUMNS = ["system", "terms_s", "differences_s", "overlap", "random_overlap"]
OPENMM_TARGET_COLUMNS = ["system", "variant", "energy_final", "rms_force", "evaluations", "time_s", "time_to_target_s"]
THREAD_COLUMNS = ["system", "threads", "alone_ms", "beside_busy_ms", "ratio"]


def table(rows: list[dict], columns: list[str]) -> str:
    def cell(v: object) -> str:
        return "–" if v is None else f"{v:.3g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def find_proteins(ids: list[str]) -> str | None:
    """None when every protein is at hand (file, $NREP_PDB_DIR, cache or download), else the first problem, one line."""
    from nrep.core.errors import NrepError
    from nrep.core.systems.sources import locate_structure

    for pdb in dict.fromkeys(ids):
        try:
            locate_structure(pdb)
        except NrepError as error:
            return str(error)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="add n = 10000 and longer runs")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", choices=["energy", "engine", "large-protein", "hessian", "openmm-target", "threads",
                                           "modes", "target", "protein-target", "replicas"], action="append",
                        help="run only these sections (protein-target: 2JOF from the extended chain, 300 s caps)")
    parser.add_argument("--out", type=Path, default=ARTEFACTS)
    parser.add_argument("--peak", nargs=3, metavar=("KIND", "N", "CUTOFF"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.peak:  # a child of peak_memory_mb
        print(peak_growth_mb(args.peak[0], int(args.peak[1]), float(args.peak[2])))
        return 0
    torch.set_num_threads(args.threads)
    sections = args.only or ["energy", "engine", "large-protein", "hessian", "openmm-target", "threads", "modes", "target",
                             "replicas"]
    proteins = (["2JOF", "1UNC", "2WXC"] if {"energy", "engine"} & set(sections) else []) + (
        ["2JOF", "1UNC"] if {"replicas", "protein-target", "hessian", "openmm-target", "threads"} & set(sections) else [])
    missing = find_proteins(proteins)
    if missing:
        print(f"bench: {missing}", file=sys.stderr)
        return 2
    out = args.out / dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    out.mkdir(parents=True, exist_ok=False)
    meta = {"date": dt.date.today().isoformat(), "machine": f"{platform.machine()} {platform.processor()}".strip(),
            "threads": args.threads, "dtype": "float32", "torch": torch.__version__}
    result: dict = {"meta": meta}
    cutoff = 2.5
    if "energy" in sections:
        sizes = [400, 1000, 4000] + ([10000] if args.full else [])
        result["energy"] = energy_rows(sizes, args.threads, cutoff) + amber_rows(["2JOF", "1UNC", "2WXC"], args.threads)
        result["memory"] = [{"n": 4000, "method": kind, "peak_mb": peak_memory_mb(kind, 4000, cutoff)}
                            for kind in ("torch autograd", "nrep fused", f"nrep cutoff {cutoff}", "openmm")]
        print(table(result["energy"], ["system", "method", "ms", "openmm", "openmm_ms", "ratio_to_openmm"]))
    if "engine" in sections:
        result["engine"] = engine_rows(["2JOF", "1UNC", "2WXC"], args.threads, out / "runs")
        print(table(result["engine"], ENGINE_COLUMNS))
    if "large-protein" in sections:
        result["large-protein"] = large_protein_rows(args.threads, out / "runs")
        print(table(result["large-protein"], ["system", "method", "ms", "openmm", "openmm_ms", "ratio_to_openmm"]))
    if "hessian" in sections:
        result["hessian"] = hessian_rows(args.threads)
        print(table(result["hessian"], HESSIAN_COLUMNS))
    if "openmm-target" in sections:
        result["openmm-target"] = openmm_target_rows("2JOF", args.threads, out / "runs")
        print(table(result["openmm-target"], OPENMM_TARGET_COLUMNS))
    if "threads" in sections:
        result["threads"] = thread_rows(available_cores(), out / "runs")
        print(table(result["threads"], THREAD_COLUMNS))
    if "modes" in sections:
        result["modes"] = modes_rows(1000, args.threads, out / "runs")
        print(table(result["modes"], ["system", "method", "k", "modes_s", "run_s", "share"]))
    if "target" in sections:
        n, cap = (1000, 120.0) if args.full else (400, 30.0)
        result["target"] = target_rows([f"system.n={n}"], f"pure-LJ loop n={n}", cap, args.threads, out / "runs")
        print(table(result["target"], ["system", "variant", "energy_final", "time_s", "time_to_target_s"]))
    if "protein-target" in sections or (args.full and "target" in sections):  # minutes per run: only when asked
        result["protein-target"] = target_rows(["system=protein", "system.pdb=2JOF"], "2JOF extended", 300.0,
                                               args.threads, out / "runs", command="fold")
        print(table(result["protein-target"], ["system", "variant", "energy_final", "time_s", "time_to_target_s"]))
    if "replicas" in sections:
        result["replicas"] = replica_rows("2JOF", 8, 500)
        print(table(result["replicas"], ["system", "how", "seconds", "runs_per_hour"]))
    (out / "bench.json").write_text(json.dumps(result, indent=2) + "\n")
    parts = [f"# nrep bench {meta['date']}", "", f"{meta['machine']}, torch {meta['torch']}, {meta['dtype']}, {args.threads} thread(s)", ""]
    for key, columns in {"energy": ["system", "method", "ms", "openmm", "openmm_ms", "ratio_to_openmm"],
                         "engine": ENGINE_COLUMNS,
                         "large-protein": ["system", "method", "ms", "openmm", "openmm_ms", "ratio_to_openmm"],
                         "hessian": HESSIAN_COLUMNS, "openmm-target": OPENMM_TARGET_COLUMNS,
                         "threads": THREAD_COLUMNS,
                         "memory": ["n", "method", "peak_mb"], "modes": ["system", "method", "k", "modes_s", "run_s", "share"],
                         "target": ["system", "variant", "energy_final", "time_s", "time_to_target_s"],
                         "protein-target": ["system", "variant", "energy_final", "time_s", "time_to_target_s"],
                         "replicas": ["system", "how", "seconds", "runs_per_hour"]}.items():
        if key in result:
            parts += [f"## {key}", "", table(result[key], columns), ""]
    (out / "bench.md").write_text("\n".join(parts))
    print(f"written: {out}/bench.json, bench.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
