"""Methods by name: ``method=<name>`` -> how its plan is built.

A new method is a module with a ``plan(cfg, system, energy, runtime) -> MethodPlan``
function, a config dataclass (``configs/schema/``) with its YAML, and a line in
METHODS; code outside nrep calls :func:`register_method` instead. Nothing else in nrep
asks which method a run has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from nrep.configs.schema import NrepConfig
from nrep.core.methods import cg, gd, gnn, openmm_md, openmm_min
from nrep.core.methods.plans import MethodPlan
from nrep.core.runtime import Runtime

Planner = Callable[[NrepConfig, object, object, Runtime], MethodPlan]  # (cfg, system, energy, runtime)


@dataclass(frozen=True)
class Method:
    """How a method is planned, and what a run may expect of it."""

    plan: Planner
    # Its stages run through nrep's engine: Ctrl-C stops them at a step (and resume continues),
    # failed steps roll back. OpenMM's baselines run in one call that cannot stop halfway.
    in_engine: bool = True
    # Refuses settings that the system's atom count makes impossible: (cfg, system name, atoms).
    check: Callable[[NrepConfig, str, int], None] | None = None


METHODS: dict[str, Method] = {
    "gd": Method(gd.plan),
    "cg": Method(cg.plan, check=cg.check),
    "gnn": Method(gnn.plan, check=gnn.check),
    "openmm_min": Method(openmm_min.plan, in_engine=False),
    "openmm_md": Method(openmm_md.plan, in_engine=False),
}


def register_method(name: str, method: Method) -> None:
    """Make ``method=<name>`` run ``method`` (its config dataclass is registered with ``nrep.configs``)."""
    METHODS[name] = method


def method_of(cfg: NrepConfig) -> Method:
    try:
        return METHODS[cfg.method.name]
    except KeyError:
        raise ValueError(f"no method registered as {cfg.method.name!r}; known: {', '.join(METHODS)}") from None


def build_plan(cfg: NrepConfig, system: object, energy: object, runtime: Runtime) -> MethodPlan:
    """The plan of ``cfg.method`` for this system and energy (the energy still on the CPU).

    Settings the system's size makes impossible are refused first (:func:`check_method_fits`).
    """
    check_method_fits(cfg, system.name, system.n)
    return method_of(cfg).plan(cfg, system, energy, runtime)


def check_method_fits(cfg: NrepConfig, name: str, n_atoms: int) -> None:
    """Refuse method settings that a system's particle count makes impossible (one line).

    The front-end calls it before any run starts (for a protein once it is prepared), and
    :func:`build_plan` again, for runs started from Python.
    """
    check = method_of(cfg).check
    if check is not None:
        check(cfg, name, n_atoms)
