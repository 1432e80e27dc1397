"""Every path of nrep on one device, timed against the CPU and run twice: ``make gpu-check``.

    python benchmarks/gpu_check.py                          # device=cuda, the full sizes (<= ~4 min on a GPU)
    python benchmarks/gpu_check.py --device cpu --small     # the same paths at toy sizes (the test suite's way)

Rows: loop GD, CG and GNN (n = 10^3; 200 with --small), loop GD with the repulsion's
cutoff (n = 10^5; 3000), loop CG and GNN with the cutoff and 8 sparse slow modes
(n = 10^4; full only: at 10^5 the slow modes alone take minutes), a protein on the torch engine with GD, CG and GNN (2JOF from
``--pdb`` or $NREP_PDB_DIR, else a peptide built in code), GD on the OpenMM engine on
the device's platform (CUDA, or CPU with --device cpu), a batch of replicas (64; 4), and
``energy.compile=true`` (full only). Each row runs twice with the same seed on the device
(``deterministic``: the same final energy to the bit) and, when the device is not the CPU,
once on the CPU for ``cpu_ratio`` = device step time / CPU step time. On CUDA, one more
row counts the host synchronisations of a GD run with ``torch.cuda.set_sync_debug_mode``.

A row is ``ok``, ``failed`` (with the error), ``not available`` (OpenMM or its CUDA
platform missing: the torch rows still run) or ``skipped`` (with the reason). The table
goes to stdout and the rows to ``--out`` (JSON); the exit status is 1 when any row failed
(on the CPU a row whose two runs differ fails too: the CPU promises the same bits).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
import traceback
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

DEFAULT_OUT = Path("results/benchmarks/gpu_check")


@dataclass
class Check:
    """One row: an nrep command's overrides, and how many steps it takes."""

    name: str
    command: str  # loop or fold
    overrides: list[str]
    small_overrides: list[str]
    full_only: bool = False
    needs_openmm: bool = False


@dataclass
class Row:
    name: str
    device: str
    status: str = "ok"
    step_ms: float = math.nan
    cpu_step_ms: float = math.nan
    cpu_ratio: float = math.nan
    deterministic: bool | None = None
    energy_final: float = math.nan
    seconds: float = 0.0
    note: str = ""
    extra: dict = field(default_factory=dict)


LOOP_GD = ["method=gd"]
CUTOFF = ["energy.cutoff=2.5"]
SPARSE = ["method.modes.k=8", "method.modes.solver=sparse"]
PROTEIN_TORCH = ["energy.engine=torch"]
CHECKS = [
    Check("loop gd", "loop", [*LOOP_GD, "system.n=1000", "stop.max_total_steps=300"],
          [*LOOP_GD, "system.n=200", "stop.max_total_steps=40"]),
    Check("loop cg", "loop", ["method=cg", "system.n=1000", "stop.max_total_steps=300"],
          ["method=cg", "system.n=200", "stop.max_total_steps=40", "method.stop.max_steps=20"]),
    Check("loop gnn", "loop", ["method=gnn", "system.n=1000", "stop.max_total_steps=300"],
          ["method=gnn", "system.n=200", "stop.max_total_steps=40", "method.stop.max_steps=20"]),
    Check("loop gd cutoff", "loop", [*LOOP_GD, *CUTOFF, "system.n=100000", "stop.max_total_steps=100"],
          [*LOOP_GD, *CUTOFF, "system.n=3000", "stop.max_total_steps=30"]),
    # n = 10^4, not 10^5: the sparse slow modes (scipy, on the CPU whatever the device) of a 10^5-bead
    # loop took over 5 minutes here even for k = 8; the modes cache makes the repeat runs free
    Check("loop cg cutoff", "loop", ["method=cg", *CUTOFF, *SPARSE, "system.n=10000", "stop.max_total_steps=200"],
          [], full_only=True),
    Check("loop gnn cutoff", "loop", ["method=gnn", *CUTOFF, *SPARSE, "system.n=10000", "stop.max_total_steps=200"],
          [], full_only=True),
    Check("protein gd torch", "fold", [*PROTEIN_TORCH, "method=gd", "stop.max_total_steps=200"],
          [*PROTEIN_TORCH, "method=gd", "stop.max_total_steps=20"]),
    Check("protein cg torch", "fold", [*PROTEIN_TORCH, "method=cg", "stop.max_total_steps=200"],
          [*PROTEIN_TORCH, "method=cg", "stop.max_total_steps=20", "method.stop.max_steps=10"]),
    Check("protein gnn torch", "fold", [*PROTEIN_TORCH, "method=gnn", "stop.max_total_steps=200"],
          [*PROTEIN_TORCH, "method=gnn", "stop.max_total_steps=20", "method.stop.max_steps=10"]),
    Check("protein gd openmm", "fold", ["energy.engine=openmm", "method=gd", "stop.max_total_steps=200"],
          ["energy.engine=openmm", "method=gd", "stop.max_total_steps=20"], needs_openmm=True),
    Check("protein gd replicas", "fold", [*PROTEIN_TORCH, "method=gd", "replicas=64", "stop.max_total_steps=100"],
          [*PROTEIN_TORCH, "method=gd", "replicas=4", "stop.max_total_steps=10"]),
    Check("protein gd compile", "fold", [*PROTEIN_TORCH, "method=gd", "energy.compile=true",
                                         "stop.max_total_steps=200"], [], full_only=True),
]


def protein_source(pdb: str | None, folder: Path) -> tuple[str | None, str]:
    """The protein the fold rows use, and what it is: --pdb, $NREP_PDB_DIR/2JOF.pdb or a built peptide."""
    if pdb:
        return pdb, Path(pdb).name
    shared = Path(os.environ.get("NREP_PDB_DIR", ""), "2JOF.pdb")
    if os.environ.get("NREP_PDB_DIR") and shared.is_file():
        return str(shared), "2JOF"
    from nrep.core.systems.extended import peptide_pdb

    try:
        text = peptide_pdb("AKWD")
    except ImportError:
        return None, "no protein (no --pdb, no $NREP_PDB_DIR/2JOF.pdb, no PeptideBuilder)"
    path = folder / "AKWD.pdb"
    path.write_text(text)
    return str(path), "AKWD peptide"


def openmm_platforms() -> list[str]:
    try:
        import openmm
    except ImportError:
        return []
    return [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())]


def step_ms(summary: dict) -> float:
    """Milliseconds per optimiser step over the run's stages (set-up and slow modes left out)."""
    stages = [k.removeprefix("steps_") for k in summary if k.startswith("steps_") and k != "steps_total"]
    steps = sum(summary[f"steps_{s}"] for s in stages)
    seconds = sum(summary.get(f"time_{s}_s", 0.0) for s in stages)
    return 1e3 * seconds / steps if steps else math.nan


def run_once(check: Check, overrides: list[str], device: str, folder: Path, protein: str | None) -> dict:
    """One nrep run in this process; its summary (the first replica's for a batch)."""
    from nrep.configs import load
    from nrep.core.run.batch import execute_replicas
    from nrep.core.run.single import execute

    args = [*overrides, f"device={device.split(':')[0]}", "seed=0", "output.snapshot=false", "output.progress=off"]
    if device.startswith("cuda:"):
        args.append(f"device.name={device}")
    if check.command == "fold":
        args += [f"system.pdb={protein}", f"init.cache_dir={folder / 'starts'}"]
        if "energy.engine=openmm" in args:
            args.append(f"energy.platform={'CUDA' if device.startswith('cuda') else 'CPU'}")
    cfg = load(args, check.command)
    run_dir = folder / f"{check.name.replace(' ', '_')}_{device.replace(':', '')}_{time.monotonic_ns()}"
    if cfg.replicas > 1:
        return execute_replicas(cfg, run_dir)[0]
    return execute(cfg, run_dir)


def run_check(check: Check, device: str, small: bool, folder: Path, protein: str | None) -> Row:
    row = Row(check.name, device)
    if small and check.full_only:
        row.status, row.note = "skipped", "full sizes only"
        return row
    if check.command == "fold" and protein is None:
        row.status, row.note = "not available", "no protein file"
        return row
    platforms = openmm_platforms()
    if check.needs_openmm and (not platforms or (device.startswith("cuda") and "CUDA" not in platforms)):
        row.status = "not available"
        row.note = "OpenMM is not installed" if not platforms else f"OpenMM has no CUDA platform ({', '.join(platforms)})"
        return row
    overrides = check.small_overrides if small else check.overrides
    started = time.perf_counter()
    try:
        first = run_once(check, overrides, device, folder, protein)
        second = run_once(check, overrides, device, folder, protein)
        if first["status"] != "ok":
            raise RuntimeError(f"status {first['status']} ({first.get('stop_reason')})")
        row.step_ms, row.energy_final = step_ms(first), first["energy_final"]
        row.deterministic = first["energy_final"] == second["energy_final"]
        if device != "cpu":
            row.cpu_step_ms = step_ms(run_once(check, overrides, "cpu", folder, protein))
            row.cpu_ratio = row.step_ms / row.cpu_step_ms
        if device == "cpu" and not row.deterministic:
            row.status, row.note = "failed", "the same seed gave two different energies on the CPU"
    except Exception as error:  # noqa: BLE001 - every failure becomes a row; the exit status says it
        row.status, row.note = "failed", f"{type(error).__name__}: {error}"
        row.extra["traceback"] = traceback.format_exc()
    row.seconds = time.perf_counter() - started
    return row


def sync_count_row(device: str, small: bool, folder: Path) -> Row:
    """On CUDA: the host synchronisations torch reports during a loop GD run (set_sync_debug_mode)."""
    row = Row("host syncs, loop gd", device)
    if not device.startswith("cuda"):
        row.status, row.note = "not available", "CUDA only (the CPU count is a test: tests/core/engine/test_host_reads.py)"
        return row
    import torch

    check = CHECKS[0]
    overrides = check.small_overrides if small else check.overrides
    started = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                summary = run_once(check, overrides, device, folder, None)
            finally:
                torch.cuda.set_sync_debug_mode("default")
        syncs = sum("synchroniz" in str(w.message) for w in caught)
        row.extra.update(syncs=syncs, steps=summary["steps_total"])
        row.note = f"{syncs} synchronisations in {summary['steps_total']} steps (set-up and end included)"
    except Exception as error:  # noqa: BLE001
        row.status, row.note = "failed", f"{type(error).__name__}: {error}"
    row.seconds = time.perf_counter() - started
    return row


def table(rows: list[Row]) -> str:
    lines = ["| check | device | status | step ms | CPU step ms | device / CPU | same seed, same energy | s | note |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cells = [r.name, r.device, r.status, f"{r.step_ms:.3g}", f"{r.cpu_step_ms:.3g}", f"{r.cpu_ratio:.3g}",
                 {None: "–", True: "yes", False: "no"}[r.deterministic], f"{r.seconds:.0f}", r.note]
        lines.append("| " + " | ".join("–" if c == "nan" else c for c in cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    parser.add_argument("--small", action="store_true", help="toy sizes (seconds on a CPU)")
    parser.add_argument("--pdb", default=None, help="the protein of the fold rows (default: 2JOF from $NREP_PDB_DIR)")
    parser.add_argument("--out", type=Path, default=None, help=f"the JSON file (default: {DEFAULT_OUT}/<date>/)")
    args = parser.parse_args(argv)

    import torch

    from nrep.core.runtime import versions

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"--device {args.device}: torch sees no CUDA device here; use --device cpu")
        return 2
    out = args.out or DEFAULT_OUT / time.strftime("%Y-%m-%d") / "gpu_check.json"
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        protein, protein_name = protein_source(args.pdb, folder)
        rows = []
        for check in CHECKS:
            rows.append(run_check(check, args.device, args.small, folder, protein))
            print(f"{rows[-1].name}: {rows[-1].status} {rows[-1].note}", flush=True)
        rows.append(sync_count_row(args.device, args.small, folder))
    about = {
        "device": args.device,
        "device_name": torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "cpu",
        "small": args.small,
        "protein": protein_name,
        "date": time.strftime("%Y-%m-%d"),
        "seconds": time.perf_counter() - started,
        "versions": versions(),
        "openmm_platforms": openmm_platforms(),
    }
    print(f"\n{about['device_name']}, {about['date']}, protein: {protein_name}, {about['seconds']:.0f} s\n")
    print(table(rows))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"about": about, "rows": [asdict(r) for r in rows]}, indent=1, default=str) + "\n")
    print(f"\nwrote {out}")
    return 1 if any(r.status == "failed" for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
