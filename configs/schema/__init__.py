"""Typed configuration: one dataclass per config group option, one module per group.

Hydra composes the YAML files under ``configs/`` on top of these dataclasses, so a key
that is not declared here is an error and every value is type-checked. Each
``__post_init__`` refuses impossible values with a message that names the key; it runs
when :func:`to_config` turns the composed ``DictConfig`` into these objects.

The YAML files only select a schema and set what differs from its defaults; the defaults
live in the dataclasses, the fixed lists of choices in ``choices.py``, the rules that
span groups in ``rules.py``, and the option registry (:data:`SCHEMAS`,
:func:`register_option`) here.
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any

from omegaconf import DictConfig, OmegaConf

from nrep.configs.schema.checks import ConfigError, check_choice, require
from nrep.configs.schema.choices import GAP_CHOICES, OPENMM_PLATFORMS, SOLVENTS
from nrep.configs.schema.energy import (
    ENERGY_SCHEMAS,
    AmberEnergyConfig,
    AmberWeightsConfig,
    EnergyConfig,
    LoopEnergyConfig,
    RepulsionConfig,
    SimpleEnergyConfig,
)
from nrep.configs.schema.init import (
    INIT_SCHEMAS,
    CachedStartConfig,
    CloudInitConfig,
    ExtendedInitConfig,
    InitConfig,
    NativeInitConfig,
    RandomInitConfig,
    UnfoldMDInitConfig,
)
from nrep.configs.schema.method import (
    METHOD_SCHEMAS,
    CGMethodConfig,
    GDMethodConfig,
    GNNMethodConfig,
    MethodConfig,
    ModesConfig,
    OpenMMMDMethodConfig,
    OpenMMMethodConfig,
    OpenMMMinMethodConfig,
    ReparamMethodConfig,
)
from nrep.configs.schema.optim import (
    OPTIM_OPTIONS,
    AdamConfig,
    FIREConfig,
    LBFGSConfig,
    OptimConfig,
    SGDConfig,
    StepOptimConfig,
)
from nrep.configs.schema.rules import stage1_optim, stage_optims, uses_line_search
from nrep.configs.schema.run import DeviceConfig, FaultConfig, NrepConfig, OutputConfig
from nrep.configs.schema.stop import RunStopConfig, StopConfig
from nrep.configs.schema.system import SYSTEM_SCHEMAS, LoopSystemConfig, ProteinSystemConfig, SystemConfig
from nrep.configs.schema.tuning import TUNING, register_tuning

__all__ = [
    "GAP_CHOICES", "OPENMM_PLATFORMS", "PLUGIN_OPTIONS", "SCHEMAS", "SOLVENTS", "TUNING",
    "AdamConfig", "AmberEnergyConfig", "AmberWeightsConfig", "CGMethodConfig", "CachedStartConfig", "CloudInitConfig",
    "ConfigError", "DeviceConfig", "EnergyConfig", "ExtendedInitConfig", "FIREConfig", "FaultConfig", "GDMethodConfig",
    "GNNMethodConfig", "InitConfig", "LBFGSConfig", "LoopEnergyConfig", "LoopSystemConfig", "MethodConfig",
    "ModesConfig", "NativeInitConfig", "NrepConfig", "OpenMMMDMethodConfig", "OpenMMMethodConfig",
    "OpenMMMinMethodConfig", "OptimConfig", "OutputConfig", "ProteinSystemConfig", "RandomInitConfig",
    "ReparamMethodConfig", "RepulsionConfig", "RunStopConfig", "SGDConfig", "SimpleEnergyConfig", "StepOptimConfig", "StopConfig",
    "SystemConfig", "UnfoldMDInitConfig",
    "check_choice", "options_for", "register_option", "register_schemas", "require", "run_label", "stage1_optim",
    "stage_optims", "to_config", "uses_line_search",
]

# group -> option name -> dataclass: the registry of every option, the plug-ins' included
# (the group modules' own dicts, so an option registered here is seen there too).
SCHEMAS: dict[str, dict[str, type]] = {
    "system": SYSTEM_SCHEMAS,
    "init": INIT_SCHEMAS,
    "energy": ENERGY_SCHEMAS,
    "method": METHOD_SCHEMAS,
    "optim": OPTIM_OPTIONS,
    "device": {"device": DeviceConfig},
}
# Plug-ins: options added from outside nrep by register_option, stored as Hydra group options.
PLUGIN_OPTIONS: dict[str, dict[str, type]] = {}


def options_for(group: str, system: str) -> list[str]:
    """The ``group=`` options (init, energy, method) that apply to ``system``, plug-ins included."""
    names = []
    for name, node in SCHEMAS[group].items():
        if system in getattr(node, "systems", ()):
            names += getattr(node, "options", ()) or (name,)
    return names


def run_label(system: Any) -> str:
    """The results folder of a system: ``loop``, or the protein's PDB id or file stem."""
    pdb = system.get("pdb") if system.get("name") == "protein" else None
    if not pdb:
        return str(system.get("name"))
    from nrep.core.io.structure_names import has_structure_suffix, structure_stem

    pdb = str(pdb)
    label = structure_stem(PurePath(pdb).name) if has_structure_suffix(pdb) or "/" in pdb else pdb.upper()
    return re.sub(r"[^A-Za-z0-9_.-]", "_", label) or "protein"


def register_schemas() -> None:
    """Put the dataclasses into Hydra's ConfigStore (as ``schema/<group>/<name>``).

    They live outside the user-facing groups so that ``method=...`` lists only real options.
    Also registers the ``nrep_run_label`` resolver used by the run directories.
    """
    from hydra.core.config_store import ConfigStore

    OmegaConf.register_new_resolver("nrep_run_label", run_label, replace=True)

    store = ConfigStore.instance()
    store.store(name="schema", node=NrepConfig)
    for group, options in SCHEMAS.items():
        for name, node in options.items():
            store.store(group=f"schema/{group}", name=name, node=node)
    for group, options in PLUGIN_OPTIONS.items():
        for name, node in options.items():
            store.store(group=group, name=name, node=node)
    register_tuning()


def register_option(group: str, name: str, node: type) -> None:
    """Make ``group=name`` a choice (e.g. ``energy=my_model``), backed by the dataclass ``node``.

    ``node`` subclasses the group's base config (EnergyConfig, MethodConfig, OptimConfig,
    ...) with ``name`` as the default of its ``name`` field and declares its capabilities
    as class variables (``systems``, ``elementwise``, ...). This is how code outside nrep
    adds an option without a YAML file; the core side is registered with
    ``nrep.core.energy.registry.register_energy`` (or ``register_method``, ``register_optimiser``).
    """
    if group not in SCHEMAS:
        raise ConfigError(f"no config group {group!r}; choose one of {', '.join(SCHEMAS)}")
    SCHEMAS[group][name] = node
    PLUGIN_OPTIONS.setdefault(group, {})[name] = node
    register_schemas()


def to_config(cfg: DictConfig | dict[str, Any]) -> NrepConfig:
    """Validate a composed config and return it as typed objects (raises ConfigError)."""
    if not isinstance(cfg, DictConfig):
        cfg = OmegaConf.create(cfg)
    obj = OmegaConf.to_object(cfg)
    if not isinstance(obj, NrepConfig):  # composed without the schema (should not happen)
        raise ConfigError("the configuration was not built from nrep's schema")
    return obj
