"""A whole run (NrepConfig) and its plain sections: device, output, faults."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from omegaconf import MISSING

from nrep.configs.schema.checks import check_choice, require
from nrep.configs.schema.choices import DTYPES, PROGRESS_MODES, TRAJECTORY_FORMATS
from nrep.configs.schema.energy import EnergyConfig
from nrep.configs.schema.init import InitConfig
from nrep.configs.schema.method import MethodConfig
from nrep.configs.schema.optim import OptimConfig
from nrep.configs.schema.stop import RunStopConfig
from nrep.configs.schema.system import SystemConfig


@dataclass
class DeviceConfig:
    """Where tensors live. ``dtype`` float32 (the authors') or float64."""

    name: str = "cpu"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        require(
            self.name == "cpu" or self.name == "cuda" or self.name.startswith("cuda:"),
            f"device.name={self.name!r} is not cpu, cuda or cuda:N",
        )
        check_choice("device.dtype", self.dtype, DTYPES)


@dataclass
class OutputConfig:
    """Where and what a run writes.

    root: results directory (relative to the working directory); each run gets its own
    directory below it. trace_every: steps between rows of trace.csv (the first and last
    step of each stage are always recorded). trace_terms_every: every that many trace
    rows (and at the end of each stage) the energy's terms as columns ``energy_<term>_<unit>``
    (AMBER: bond, angle, torsion, lj, coulomb, or OpenMM's forces with the solvent;
    loops: lj_bond or bond, lj_loop, repulsion; model A: its terms); they add up to the row's energy;
    0 = none. Each costs one evaluation per term with the OpenMM engine (13–14 ms per GBn2
    term on 2JOF), hence every 10th row by default. progress: a rich progress bar (auto: only
    when the terminal is interactive and the run is single). overwrite: allow a run to
    replace an earlier run's files in the same directory. snapshot: draw the final
    structure as final.png. trajectory_every: keep X every that many steps (and at the
    end of each stage) as a trajectory, with trajectory.csv saying each frame's step,
    stage, time, energy and RMS force; 0 = no trajectory. trajectory_format: auto (xtc
    for proteins, extxyz for loops), xtc or dcd (OpenMM's writers, next to topology.pdb),
    pdb (one MODEL per frame) or extxyz (ASE's extended XYZ, trajectory.xyz); loops in
    xtc, dcd or pdb are beads bonded along the chain and the loops, one reduced length
    to 1 nm. checkpoint_every_s: write checkpoint.pt
    (atomically) every that many seconds of a run in nrep's engine (GD, CG, GNN with Adam,
    SGD or FIRE), so a run killed outright (kill -9, out of memory, a lost node) loses at
    most that much work and ``nrep resume`` continues it; 0 = only when stopped by a signal.
    """

    root: str = "results"
    trace_every: int = 20
    trace_terms_every: int = 10
    trajectory_every: int = 0
    trajectory_format: str = "auto"
    progress: str = "auto"
    overwrite: bool = False
    snapshot: bool = True
    checkpoint_every_s: float = 300.0

    def __post_init__(self) -> None:
        require(self.trace_every >= 1, f"output.trace_every must be >= 1 (got {self.trace_every})")
        require(self.trace_terms_every >= 0, f"output.trace_terms_every must be >= 0 rows (got {self.trace_terms_every})")
        require(self.trajectory_every >= 0, f"output.trajectory_every must be >= 0 (got {self.trajectory_every})")
        check_choice("output.progress", self.progress, PROGRESS_MODES)
        check_choice("output.trajectory_format", self.trajectory_format, TRAJECTORY_FORMATS)
        require(self.checkpoint_every_s >= 0 and self.checkpoint_every_s != float("inf"),
                f"output.checkpoint_every_s must be >= 0 seconds, 0 = only on signals (got {self.checkpoint_every_s})")


@dataclass
class FaultConfig:
    """What a run does when a step goes wrong (a NaN or infinite energy or gradient, or an explosion).

    The run rolls back to the last good state (the coordinates, network and optimiser
    before the failed step), multiplies the step (lr; FIRE's time steps) by step_factor
    and tries again, at most ``retries`` times per run; then it stops with
    status=diverged, keeping the last good and the best structure. An explosion is an
    energy more than explosion_factor * max(|E|, 1) above the last good energy E
    (null: only non-finite values count).
    """

    retries: int = 3
    step_factor: float = 0.5
    explosion_factor: Optional[float] = 1.0e4

    def __post_init__(self) -> None:
        require(self.retries >= 0, f"faults.retries must be >= 0 (got {self.retries})")
        require(0 < self.step_factor < 1, f"faults.step_factor must be in (0, 1) (got {self.step_factor})")
        require(
            self.explosion_factor is None or self.explosion_factor > 0,
            f"faults.explosion_factor must be > 0 or null (got {self.explosion_factor})",
        )


@dataclass
class NrepConfig:
    """A whole run. ``threads: null``: a single run takes one thread below
    ``nrep.core.runtime.PARALLEL_FROM_PARTICLES`` particles and every core from there.

    time_budget_s: wall time for the method (slow modes and both stages); the run stops
    with stop_reason=time_budget when it is spent. null: no limit.
    """

    system: SystemConfig = MISSING
    init: InitConfig = MISSING
    energy: EnergyConfig = MISSING
    method: MethodConfig = MISSING
    optim: OptimConfig = MISSING
    device: DeviceConfig = MISSING
    stop: RunStopConfig = field(default_factory=RunStopConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    faults: FaultConfig = field(default_factory=FaultConfig)
    seed: int = 0
    replicas: int = 1
    threads: Optional[int] = None
    deterministic: bool = True
    time_budget_s: Optional[float] = None

    def __post_init__(self) -> None:
        from nrep.configs.schema.rules import check_run

        check_run(self)
