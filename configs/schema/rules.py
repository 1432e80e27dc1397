"""Rules that span config groups: what applies to which system, and what a batch of replicas allows.

Each group's dataclass checks its own values; the checks here need two groups at once
and read what the options declare about themselves (``systems`` on energies and starts,
``in_openmm`` and ``reparametrised`` on methods, ``elementwise`` and ``line_search`` on
optimisers), so a new option states its capabilities instead of being added to a list
here. What depends on the number of particles (``method.modes.k <= n``, ...) is each
method's own ``check`` (``nrep.core.methods``), since a protein's n is known only once it
is prepared.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nrep.configs.schema.checks import require
from nrep.configs.schema.choices import FORCEFIELDS
from nrep.configs.schema.energy import AmberEnergyConfig
from nrep.configs.schema.optim import OPTIM_OPTIONS, OptimConfig
from nrep.configs.schema.system import LoopSystemConfig

if TYPE_CHECKING:
    from nrep.configs.schema.run import NrepConfig


MAX_SEED = 2**63 - 1  # torch.manual_seed takes 64 bits; nrep's derived seeds are 63-bit


def stage1_optim(cfg: NrepConfig) -> OptimConfig:
    """The optimiser settings of stage 1 of a reparametrised method (lr: ``method.lr``)."""
    name = getattr(cfg.method, "optim", None)
    return cfg.optim if name is None or name == cfg.optim.name else OPTIM_OPTIONS[name]()


def stage_optims(cfg: NrepConfig) -> list[OptimConfig]:
    """The optimiser settings of every stage the method runs in nrep's engine, coordinate stage first."""
    return [cfg.optim, stage1_optim(cfg)] if cfg.method.reparametrised else [cfg.optim]


def uses_line_search(cfg: NrepConfig) -> bool:
    """True when a stage runs an optimiser with a line search (which needs a fixed energy)."""
    return any(optim.line_search for optim in stage_optims(cfg))


def check_run(cfg: NrepConfig) -> None:
    """Refuse a combination of options that cannot run together (raises ConfigError)."""
    cfg.stop.check("stop")
    require(
        cfg.time_budget_s is None or cfg.time_budget_s > 0,
        f"time_budget_s must be > 0 or null (got {cfg.time_budget_s})",
    )
    require(0 <= cfg.seed and cfg.seed + cfg.replicas - 1 <= MAX_SEED,
            f"seed must lie in 0 .. {MAX_SEED} (2^63 - 1), the range of torch's generator"
            f"{' with its replicas' if cfg.replicas > 1 else ''} (got {cfg.seed})")
    require(cfg.replicas >= 1, f"replicas must be >= 1 (got {cfg.replicas})")
    if cfg.replicas > 1:
        _check_replicas(cfg)
    require(cfg.threads is None or cfg.threads >= 1, f"threads must be >= 1 or null (got {cfg.threads})")
    _check_applies(cfg, "energy")
    _check_applies(cfg, "init")
    if cfg.method.in_openmm:
        require(
            isinstance(cfg.energy, AmberEnergyConfig),
            f"method={cfg.method.name} runs OpenMM's force fields on proteins; use nrep fold with energy=amber",
        )
        require(
            all(w == 1.0 for w in vars(cfg.energy.weights).values()),
            f"method={cfg.method.name} evaluates the full force field; energy.weights do not apply",
        )
    if isinstance(cfg.energy, AmberEnergyConfig):
        _check_amber(cfg)
    rounds = getattr(cfg.method, "rounds", 1)
    if rounds > 1:
        sample_kind = cfg.method.modes.sample_kind
        require(not (isinstance(cfg.system, LoopSystemConfig) and sample_kind in ("auto", "cloud")),
                f"method.rounds={rounds} recomputes the modes around the structure reached, but a loop's Hessian "
                "samples are random clouds that ignore it; add method.modes.sample_kind=perturb")
        require(cfg.replicas == 1, f"method.rounds={rounds} runs one seed at a time; drop replicas={cfg.replicas}")


def _check_amber(cfg: NrepConfig) -> None:
    """What the engine, solvent and platform of energy=amber allow with the method."""
    energy, method = cfg.energy, cfg.method
    dynamics = method.name == "openmm_md"
    require(energy.solvent != "explicit" or dynamics,
            f"energy.solvent=explicit is water for dynamics (method=openmm_md); method={method.name} minimises in "
            "vacuum or an implicit solvent (energy.solvent=gbn2, ...)")
    require(energy.engine == "openmm" or energy.platform == "auto" or method.in_openmm,
            f"energy.platform={energy.platform} picks OpenMM's platform; it needs energy.engine=openmm "
            f"(or an OpenMM method), not the torch engine")
    hessian = getattr(getattr(method, "modes", None), "hessian", "auto")
    require(hessian != "terms" or energy.forcefield == FORCEFIELDS[0],
            f"method.modes.hessian=terms takes nrep's {FORCEFIELDS[0]} terms, not {energy.forcefield}'s; "
            "use method.modes.hessian=differences (or auto)")
    if dynamics:
        for stop in ("fmax", "frms"):
            require(getattr(cfg.stop, stop) is None,
                    f"stop.{stop} stops a minimisation; method=openmm_md runs dynamics (drop stop.{stop})")


def _check_applies(cfg: NrepConfig, group: str) -> None:
    """``energy`` or ``init``: the option must list the system among those it applies to."""
    from nrep.configs.schema import options_for

    option, system = getattr(cfg, group), cfg.system.name
    choices = options_for(group, system)
    fix = " or ".join(f"{group}={name}" for name in choices) if choices else f"another {group}"
    require(system in type(option).systems, f"{group}={option.name} does not apply to a {system}; use {fix}")


def _check_replicas(cfg: NrepConfig) -> None:
    """replicas=B runs seeds seed .. seed+B-1 as one batch: only what a batch can do alike for all."""
    require(
        not isinstance(cfg.system, LoopSystemConfig),
        f"replicas={cfg.replicas} batches the seeds of a protein; a loop samples its repulsion per seed: "
        "run loop seeds with -m seed=...",
    )
    require(
        not cfg.method.in_openmm,
        f"method={cfg.method.name} runs inside OpenMM, one structure at a time; drop replicas",
    )
    require(
        not (isinstance(cfg.energy, AmberEnergyConfig) and cfg.energy.engine == "openmm"),
        f"replicas={cfg.replicas} batches the seeds through nrep's torch terms; add energy.engine=torch "
        "(the OpenMM engine evaluates one structure at a time)",
    )
    elementwise = " or ".join(name for name, node in OPTIM_OPTIONS.items() if node.elementwise)
    require(
        all(optim.elementwise for optim in stage_optims(cfg)),
        f"replicas={cfg.replicas} needs optim={elementwise} (element-wise steps keep the seeds apart; "
        f"got {', '.join(sorted({optim.name for optim in stage_optims(cfg)}))})",
    )
