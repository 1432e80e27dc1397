"""Fixed-seed runs whose numbers a behaviour-preserving change must not move.

A handful of short runs (loops and proteins; GD, CG and GNN; Adam, L-BFGS and FIRE; one
torch thread, CPU) whose ``energy_final_exact``, step counts and stop reasons are kept in
``benchmarks/fixed_seeds.json``:

    python benchmarks/fixed_seeds.py            # run them, compare with the file (exit 1 on any change)
    python benchmarks/fixed_seeds.py --write    # record the numbers (after a change that means to move them)
    python benchmarks/fixed_seeds.py --only loop-gd-adam protein-cg-adam

A change that moves a number says which and why (in its commit and note); the file is
then rewritten with ``--write``. Proteins are a peptide built in code (AKWD) and, when
``$NREP_PDB_DIR`` holds it, 2JOF.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

REFERENCE = Path(__file__).with_name("fixed_seeds.json")
LOOP = ["system.n=120", "stop.max_steps=300", "threads=1", "output.snapshot=false"]
PEPTIDE = ["system=protein", "stop.max_steps=80", "threads=1"]
# AMBER on the torch engine: these numbers were recorded on it (the OpenMM engine has its own tests)
AMBER = [*PEPTIDE, "energy.engine=torch"]
REPARAM_STAGE = ["method.stop.max_steps=80"]
# name -> (overrides; "{peptide}" is replaced by the built peptide's path, "{pdb_dir}" by $NREP_PDB_DIR)
CASES: dict[str, list[str]] = {
    "loop-gd-adam": [*LOOP, "method=gd"],
    "loop-cg-adam": [*LOOP, "method=cg", "method.stop.max_steps=100"],
    "loop-gnn-adam": [*LOOP, "method=gnn", "method.stop.max_steps=100"],
    "loop-gd-lbfgs": [*LOOP, "method=gd", "optim=lbfgs", "energy=bond_lj"],
    "loop-gd-fire": [*LOOP, "method=gd", "optim=fire"],
    "loop-gd-sgd-float64": [*LOOP, "method=gd", "optim=sgd", "device.dtype=float64"],
    "loop-gnn-adam-float64": [*LOOP, "method=gnn", "method.stop.max_steps=60", "device.dtype=float64"],
    "protein-gd-adam": [*AMBER, "system.pdb={peptide}", "method=gd"],
    "protein-cg-adam": [*AMBER, "system.pdb={peptide}", "method=cg", *REPARAM_STAGE],
    "protein-gnn-adam": [*AMBER, "system.pdb={peptide}", "method=gnn", *REPARAM_STAGE],
    "protein-gd-lbfgs": [*AMBER, "system.pdb={peptide}", "method=gd", "optim=lbfgs"],
    "protein-gd-fire-float64": [*AMBER, "system.pdb={peptide}", "method=gd", "optim=fire", "device.dtype=float64"],
    "protein-simple-cg": [*PEPTIDE, "system.pdb={peptide}", "energy=simple", "method=cg", *REPARAM_STAGE],
    "2JOF-gnn-adam": [*AMBER, "system.pdb={pdb_dir}/2JOF.pdb", "method=gnn", *REPARAM_STAGE],
}
RECORDED = ("energy_final_exact", "steps_total", "stop_reason", "status")


def peptide_file(folder: Path) -> Path:
    """A 4-residue helical peptide (AKWD, heavy atoms, PeptideBuilder), as the tests build it."""
    from nrep.core.systems.extended import peptide_pdb

    path = folder / "AKWD.pdb"
    path.write_text(peptide_pdb("AKWD"))
    return path


def run_case(name: str, folder: Path) -> dict:
    """One case in this process; its recorded numbers (and stage step counts)."""
    from nrep.configs import load
    from nrep.core.run.single import execute

    pdb_dir = os.environ.get("NREP_PDB_DIR", "")
    overrides = [o.format(peptide=peptide_file(folder), pdb_dir=pdb_dir) for o in CASES[name]]
    command = "fold" if "system=protein" in overrides else "loop"
    overrides.append(f"init.cache_dir={folder / 'starts'}" if command == "fold" and "init=native" not in overrides else "seed=0")
    summary = execute(load(overrides, command), folder / name)
    stages = {k: v for k, v in summary.items() if k.startswith("steps_") and k != "steps_total"}
    return {**{k: summary.get(k) for k in RECORDED}, **stages}


def available(name: str) -> bool:
    return not name.startswith("2JOF") or Path(os.environ.get("NREP_PDB_DIR", ""), "2JOF.pdb").is_file()


def compare(found: dict, expected: dict) -> list[str]:
    """The keys whose values differ (numbers exactly: the promise is the same bits on CPU)."""
    return [key for key in sorted(set(found) | set(expected)) if found.get(key) != expected.get(key)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"record the numbers in {REFERENCE.name}")
    parser.add_argument("--only", nargs="+", choices=list(CASES), help="run only these cases")
    parser.add_argument("--reference", type=Path, default=REFERENCE)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    names = [n for n in (args.only or CASES) if available(n)]
    reference = json.loads(args.reference.read_text()) if args.reference.is_file() else {}
    found, changed = {}, []
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            found[name] = run_case(name, Path(folder))
            diff = compare(found[name], reference.get(name, {}))
            if diff and not args.write:
                changed.append(name)
            mark = "recorded" if args.write else ("same" if not diff else "CHANGED: " + ", ".join(
                f"{k} {reference.get(name, {}).get(k)!r} -> {found[name].get(k)!r}" for k in diff))
            print(f"{name:24s} E={found[name]['energy_final_exact']!r:24} steps={found[name]['steps_total']:6}  {mark}")
    if args.write:
        args.reference.write_text(json.dumps({**reference, **found}, indent=1, sort_keys=True) + "\n")
        print(f"wrote {args.reference}")
        return 0
    if changed:
        print(f"{len(changed)} of {len(names)} cases changed: {', '.join(changed)}", file=sys.stderr)
        return 1
    print(f"all {len(names)} cases give the recorded numbers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
