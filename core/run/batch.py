"""``replicas=B``: seeds seed .. seed+B-1 of one protein in one process, as one batch.

Each seed keeps its own start, slow modes and network (its own method plan, as a run of
its own would build them); the batch stacks them (core/replicas.py) and evaluates the
energy once per step for all. Every seed is then recorded as a run of its own in
``<run dir>/seed<k>/`` (summary, trace, structures), so ``nrep report`` reads a batch
like any sweep. The differences from B separate runs: each stage runs its ``max_steps``
(early stopping would couple the seeds), a failed step rolls back the whole batch, and
an interrupted batch cannot be resumed.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from nrep.configs.schema import NrepConfig
from nrep.core.energy.registry import Energy, build_energy
from nrep.core.engine.forces import force_tensors
from nrep.core.engine.interrupts import interrupts_requested
from nrep.core.engine.replicas import batch_plans
from nrep.core.engine.stages import Callback, FaultPolicy, Stage, StageResult, StepState, host_interval, minimise
from nrep.core.io import files as results
from nrep.core.io.locks import locked
from nrep.core.methods.registry import build_plan
from nrep.core.run.build import build_system, move_overlapping_atoms, watchers
from nrep.core.run.record import Minimised, RunContext, exact_terms, now, record_run
from nrep.core.runtime import configure, default_threads, use_threads
from nrep.core.systems.base import System

log = logging.getLogger("nrep")


class BatchEnergy:
    """energy (B, n, 3) -> the sum the batch minimises; keeps each replica's last value."""

    def __init__(self, energy: torch.nn.Module) -> None:
        self.energy = energy
        self.last: torch.Tensor | None = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        values = self.energy(x)
        self.last = values.detach()
        return values.sum()


class ReplicaFanout(Callback):
    """Shows each replica its own energy and coordinates: its trace, best state and trajectory.

    The batch's stop reasons come from the batch-level callbacks only (one replica cannot
    stop the others). ``results[b]`` collects replica b's stage results.
    """

    def __init__(self, energy: BatchEnergy, per_replica: list[list[Callback]]) -> None:
        self.energy, self.per_replica = energy, per_replica
        self.results: list[list[StageResult]] = [[] for _ in per_replica]
        self.starts: torch.Tensor | None = None
        self.reads_every = host_interval([cb for callbacks in per_replica for cb in callbacks])

    def on_stage_start(self, stage: Stage, step: int) -> None:
        self.starts = None
        for callbacks in self.per_replica:
            for cb in callbacks:
                cb.on_stage_start(stage, step)

    def on_step(self, state: StepState) -> str | None:
        energies = self.energy.last
        if self.starts is None:
            self.starts = energies.clone()
        read = replica_values(energies, state.gradient) if state.host else None  # one transfer for all replicas
        for b, callbacks in enumerate(self.per_replica):
            gradient = state.gradient[b] if state.gradient is not None else None
            own = StepState(state.stage, state.step, state.stage_step, energies[b], state.x[b], state.elapsed_s, gradient,
                            host=state.host)
            if read is not None:
                own.fill(read[0][b], (read[1][b], read[2][b]))
            for cb in callbacks:
                cb.on_step(own)
        return None

    def on_stage_end(self, result: StageResult, step: int, elapsed_s: float) -> None:
        energies = self.energy.last  # minimise evaluated the final X just before this call
        for b, callbacks in enumerate(self.per_replica):
            start = float(self.starts[b]) if self.starts is not None else float("nan")
            own = StageResult(result.name, result.steps, result.stop_reason, result.time_s, result.x[b],
                              float(energies[b]), start, result.evaluations, result.rollbacks,
                              gradient_start=_replica(result.gradient_start, b), gradient=_replica(result.gradient, b))
            self.results[b].append(own)
            for cb in callbacks:
                cb.on_stage_end(own, step, elapsed_s)


def replica_values(energies: torch.Tensor, gradient: torch.Tensor | None) -> list[list[float]]:
    """Each replica's energy, RMS force and max force (B each; NaN without a gradient), read in one transfer."""
    values = [energies.to(torch.float64)]
    if gradient is not None:
        values += force_tensors(gradient, per_structure=True)
    else:
        values += [torch.full_like(values[0], float("nan"))] * 2
    return torch.stack(values).cpu().tolist()


def _replica(gradient: torch.Tensor | None, b: int) -> torch.Tensor | None:
    return gradient[b] if gradient is not None else None


def replica_dir(run_dir: Path, seed: int) -> Path:
    return run_dir / f"seed{seed}"


def execute_replicas(
    cfg: NrepConfig,
    run_dir: Path,
    config_record: dict[str, Any] | None = None,
    show_progress: bool = False,
    command: str = "",
) -> list[dict[str, Any]]:
    """Run seeds cfg.seed .. cfg.seed + cfg.replicas - 1 as one batch; one summary per seed."""
    def build(configs: list[NrepConfig]) -> tuple[list[System], Energy, list[int]]:
        systems, moved = zip(*(move_overlapping_atoms(c, build_system(c)) for c in configs))
        return list(systems), build_energy(configs[0], systems[0]), list(moved)

    with locked(run_dir):  # one nrep process per run directory
        results.check_run_dir(run_dir, cfg.output.overwrite)
        for seed in replica_seeds(cfg):
            results.check_run_dir(replica_dir(run_dir, seed), cfg.output.overwrite)
        done = minimise_replicas(cfg, build, show_progress=show_progress, config_record=config_record, command=command)
        return [record_run(replica_dir(run_dir, d.config.seed), d) for d in done]


def replica_seeds(cfg: NrepConfig) -> list[int]:
    return [cfg.seed + b for b in range(cfg.replicas)]


# (the replicas' configs) -> (their systems with starts, the energy they share, overlapping atoms moved per replica)
BatchBuilder = Callable[[list[NrepConfig]], "tuple[list[System], Energy, list[int]]"]


def minimise_replicas(
    cfg: NrepConfig,
    build: BatchBuilder,
    *,
    show_progress: bool = False,
    config_record: dict[str, Any] | None = None,
    command: str = "",
    extra_callbacks: Sequence[Callback] = (),
) -> list[Minimised]:
    """Build the replicas' systems and energy with ``build``, plan each seed's method, and minimise them as one batch.

    ``extra_callbacks`` watch the batch (its state's x is (B, n, 3), its energy their sum).
    """
    started_at, t0 = now(), time.perf_counter()
    seeds = replica_seeds(cfg)
    runtime = configure(cfg.device.name, cfg.device.dtype, cfg.threads, cfg.deterministic)
    torch.manual_seed(cfg.seed)
    configs = [dataclasses.replace(cfg, seed=seed) for seed in seeds]

    with interrupts_requested() as interrupt:
        systems, energy, moved = build(configs)
        if cfg.threads is None:  # a batch's work is that of all its replicas together
            runtime = use_threads(runtime, default_threads(sum(s.n for s in systems)))
        plans = [build_plan(c, s, energy, runtime) for c, s in zip(configs, systems)]
        energy = energy.to(runtime.device)
        x0 = torch.stack([s.x0 for s in systems]).to(device=runtime.device, dtype=runtime.dtype)
        recorders = [watchers(c, s, energy, p, show_progress=False) for c, s, p in zip(configs, systems, plans)]
        batch_energy = BatchEnergy(energy)
        own = ("best", "trace", "trajectory")  # what each replica keeps of its own
        fanout = ReplicaFanout(batch_energy, [[r[name] for name in own if name in r] for r in recorders])
        batch_level = [cb for name, cb in watchers(cfg, systems[0], energy, plans[0], show_progress).items()
                       if name in ("budget", "cap", "progress")]
        with torch.no_grad():
            starts = energy(x0)
        contexts = [
            RunContext(started_at, t0, runtime, None if config_record is None else {**config_record, "seed": c.seed},
                       command, exact_terms(energy, x0[b]), float(starts[b]), moved[b],
                       time.perf_counter() - t0 - plans[b].setup_s)
            for b, c in enumerate(configs)
        ]
        log.info("%s n=%d, energy=%s, method=%s, optim=%s, seeds %d-%d as one batch; %s %s, %d threads",
                 systems[0].name, systems[0].n, cfg.energy.name, cfg.method.name, cfg.optim.name, seeds[0], seeds[-1],
                 runtime.device, cfg.device.dtype, runtime.threads)
        policy = FaultPolicy(cfg.faults.retries, cfg.faults.step_factor, cfg.faults.explosion_factor)
        try:
            ended = minimise(batch_energy, x0, batch_plans(plans, x0), [fanout, *batch_level, *extra_callbacks], policy,
                             interrupt)
        finally:
            for cb in batch_level:
                if hasattr(cb, "close"):
                    cb.close()

    batch_s = time.perf_counter() - t0
    if ended[-1].stop_reason == "interrupted":
        log.warning("interrupted: a batch of replicas cannot be resumed; each seed's summary, trace and structures are kept")
    extra = {"replicas": len(seeds), "replica_seeds": f"{seeds[0]}-{seeds[-1]}", "time_per_replica_s": batch_s / len(seeds)}
    return [Minimised(c, system, energy, plan, fanout.results[b], recorders[b], contexts[b], extra)
            for b, (c, system, plan) in enumerate(zip(configs, systems, plans))]
