"""What a protein run costs, piece by piece, each against its alternative in the same process.

- one AMBER energy + gradient: the dense n x n non-bonded evaluation vs the pair list
- the Hessian blocks of one slow-mode sample: per-angle/torsion groups vs a dense
  ``torch.func.hessian`` of the same terms
- OpenMM Langevin steps per second on one CPU thread: GBn2 implicit solvent vs vacuum

    NREP_PDB_DIR=../shared/pdb python benchmarks/protein_costs.py          # 2JOF
    python benchmarks/protein_costs.py --pdb path/to/file.pdb --threads 2
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import torch

from nrep.core.energy.amber import AmberEnergy, AmberParameters
from nrep.core.modes import slow_modes as modes
from nrep.core.systems.openmm_contexts import langevin_context
from nrep.core.systems.protein import locate_and_prepare


def per_call_ms(fn: Callable[[], object], repeats: int) -> float:
    for _ in range(3):
        fn()
    started = time.perf_counter()
    for _ in range(repeats):
        fn()
    return 1000 * (time.perf_counter() - started) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pdb", default="2JOF")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--md-steps", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    _, protein = locate_and_prepare(args.pdb)
    params = AmberParameters.from_openmm(protein.system)
    n = protein.positions_nm.shape[0]
    print(f"{args.pdb}: {n} atoms, torch {torch.__version__}, {args.threads} thread(s)")

    energy = AmberEnergy(params).to(torch.float32)
    x = torch.tensor(protein.positions_nm, dtype=torch.float32, requires_grad=True)

    def energy_and_gradient() -> None:
        energy(x).backward()

    dense = per_call_ms(energy_and_gradient, 50)
    energy.dense = False
    pairs = per_call_ms(energy_and_gradient, 50)
    print(f"energy + gradient (float32): dense {dense:.2f} ms, pair list {pairs:.2f} ms, ratio {pairs / dense:.2f}")

    energy = AmberEnergy(params)
    x64 = torch.tensor(protein.positions_nm)
    local = per_call_ms(lambda: modes.hessian_block_norms(x64, energy.pair_interactions(), local=energy.local_interactions()), 3)
    other = lambda y: sum(energy.terms(y, ("angle", "torsion")).values())  # noqa: E731
    dense_h = per_call_ms(lambda: modes.hessian_block_norms(x64, energy.pair_interactions(), other), 3)
    print(f"Hessian blocks of one sample: per group {local:.0f} ms, dense autograd {dense_h:.0f} ms, "
          f"ratio {dense_h / local:.1f}")

    for solvent in ("gbn2", "vacuum"):
        context = langevin_context(protein.topology, protein.positions_nm, 1, 298.0, solvent=solvent, platform="cpu")
        context.getIntegrator().step(10)
        started = time.perf_counter()
        context.getIntegrator().step(args.md_steps)
        print(f"OpenMM Langevin, {solvent}, CPU one thread: {args.md_steps / (time.perf_counter() - started):.0f} steps/s")


if __name__ == "__main__":
    main()
