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


METHODS: dict[str, Method] = {
    "gd": Method(gd.plan),
    "cg": Method(cg.plan),
    "gnn": Method(gnn.plan),
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

    Settings the system's size makes impossible are refused first (the method config's
    ``check_size``, which the front-end also calls before any run starts).
    """
    cfg.method.check_size(system.n, system.name)
    return method_of(cfg).plan(cfg, system, energy, runtime)
