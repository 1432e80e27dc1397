"""Compose and validate configs before Hydra runs anything, with one-line errors.

Hydra reports a misspelt key or a bad value as a multi-line message with a hint about
HYDRA_FULL_ERROR; nrep checks every job of a command first (expanding sweeps) and turns
the problem into one line that names the override and the fix. Nothing here imports torch.
"""

from __future__ import annotations

import difflib
import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from nrep.configs.schema import ConfigError, NrepConfig, options_for, register_schemas, to_config
from nrep.core.errors import NrepError

CONFIG_NAME = "config"
# What each command selects before the user's overrides (nrep fold also sets system.pdb).
COMMAND_BASE = {"loop": [], "fold": ["system=protein"]}
# The system each command minimises: the init, energy and method options that go with a
# command are those whose dataclass lists that system (``systems``), plug-ins included.
COMMAND_SYSTEM = {"loop": "loop", "fold": "protein"}
SYSTEM_GROUPS = ("init", "energy", "method")
# The experiment presets of each command (``fig2/*`` stands for a folder's files).
COMMAND_EXPERIMENTS = {
    "loop": ["smoke", "fig2/*", "fig3/*"],
    "fold": ["fold_smoke", "fig4/*", "fig5/*", "fig6/*", "fig8/*"],
}
# Validating every job of a huge sweep would take long; the first ones catch typos.
MAX_JOBS_CHECKED = 64


def config_dir() -> Path:
    import nrep.configs

    return Path(nrep.configs.__file__).resolve().parent


def group_options(group: str) -> list[str]:
    """The options of a config group, from the YAML files that define them (``fig2/layouts``
    for a file in a sub-folder)."""
    root = config_dir() / group
    return sorted(p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.yaml"))


def command_groups(command: str) -> tuple[str, ...]:
    """The config groups whose options depend on the command (the others are shared)."""
    return ("system", *SYSTEM_GROUPS, "experiment")


def command_options(command: str, group: str) -> list[str]:
    """The options of ``group`` that go with ``command``."""
    system = COMMAND_SYSTEM[command]
    if group == "system":
        return [system]
    if group in SYSTEM_GROUPS:
        return options_for(group, system)
    if group == "experiment":
        options = group_options(group)
        return [o for p in COMMAND_EXPERIMENTS[command]
                for o in (sorted(x for x in options if x.startswith(p[:-1])) if p.endswith("/*") else [p])]
    return group_options(group)


def user_groups() -> list[str]:
    """The config groups users choose from (Hydra's own and the schema package excluded)."""
    return sorted(p.name for p in config_dir().iterdir() if p.is_dir() and p.name not in ("schema", "hydra", "__pycache__"))


def _all_keys(cfg: DictConfig, prefix: str = "") -> Iterator[str]:
    for key in cfg.keys():
        value = cfg._get_node(key)
        name = f"{prefix}{key}"
        yield name
        if isinstance(value, DictConfig):
            yield from _all_keys(value, prefix=f"{name}.")


def _suggest(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


# keys that moved: old -> new (the OpenMM baselines score on the run's energy since issue 22)
MOVED_KEYS = {"method.solvent": "energy.solvent", "method.platform": "energy.platform"}


def _unknown_key(key: str, known: list[str], command: str) -> str:
    """The line for a key the composed config lacks: a typo, a moved key, or a key of an option not chosen."""
    if key in MOVED_KEYS:
        return (f"config key '{key}' is now '{MOVED_KEYS[key]}': every method, the OpenMM baselines included, "
                f"uses the run's energy (e.g. {MOVED_KEYS[key]}={'gbn2' if 'solvent' in key else 'CPU'})")
    group = key.split(".", 1)[0]
    if key in known and group != key:  # e.g. optim.lr with optim=lbfgs, which has no learning rate
        across = "; one step cap for every method: stop.max_total_steps" if key.startswith("method.stop.") else ""
        return (
            f"config key '{key}' does not apply to the chosen {group} option; drop it, or pick another {group} "
            f"option that has it (nrep {command} --help lists each option's keys){across}"
        )
    return f"unknown config key '{key}'{_suggest(key, known)} (nrep {command} --help lists the keys)"


def explain(error: Exception, reference: DictConfig | None, command: str = "loop") -> str:
    """One line for a composition error: what is wrong, and what to type instead."""
    text = str(error)
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    known = list(_all_keys(reference)) if reference is not None else []

    match = re.search(r"Could not override '([^']+)'", text)
    if match and ("not in struct" in text or "To append" in text):
        return _unknown_key(match.group(1), known, command)
    match = re.search(r"Could not find '([^/']+)/([^']+)'", text)
    if match:
        group, option = match.groups()
        if group in user_groups():
            options = group_options(group)
            return f"unknown {group} '{option}'{_suggest(option, options)} (choose one of: {', '.join(options)})"
        return f"unknown config group '{group}' (groups: {', '.join(user_groups())})"
    match = re.search(r"Ambiguous value for argument '([^']+)'", text)
    if match:
        return f"{match.group(1)} is a sweep: add -m (--multirun) to run one job per value"
    match = re.search(r"Error merging override (\S+)", text)
    cause = error.__cause__
    if match and cause is not None:
        reason = str(cause).strip().splitlines()[0]
        key = match.group(1).split("=", 1)[0]
        if "not in" in reason and ("struct" in reason or "Key" in reason):
            return _unknown_key(key, known, command)
        return f"bad value in '{match.group(1)}': {reason}"
    match = re.search(r"Error parsing override '([^']+)'", text)
    if match:
        return f"cannot parse override '{match.group(1)}'; write key=value (see https://hydra.cc/docs/advanced/override_grammar/basic)"
    return first


def parse_overrides(overrides: Sequence[str]) -> list:
    """Hydra's parse of the overrides; a malformed one is a NrepError naming it, its key and the fix."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    parsed = []
    for override in overrides:
        try:
            parsed += parser.parse_overrides([override])
        except OverrideParseException as error:
            raise NrepError(_unparsable(override, str(error))) from None
    return parsed


def _unparsable(override: str, reason: str) -> str:
    key, _, value = override.partition("=")
    if not _:
        return f"'{override}' is not an override; write key=value"
    items = value.strip("[]").split(",")
    if value.count("[") != value.count("]") or value.count("{") != value.count("}"):
        fix = f"close the bracket: a list is {key}=[a,b], quoted in the shell ('{key}=[a,b]')"
    elif "," in value and any(not item.strip() for item in items):
        fix = f"an empty value between commas: a sweep is -m {key}=a,b,c"
    else:
        fix = f"Hydra says: {reason.strip().splitlines()[0]} (see https://hydra.cc/docs/advanced/override_grammar/basic)"
    return f"cannot parse {key}'s override '{override}': {fix}"


def expand_sweeps(overrides: list[str], limit: int = MAX_JOBS_CHECKED) -> list[list[str]]:
    """The override lists of the jobs of a sweep (the first ``limit`` of them), as Hydra's
    basic sweeper builds them: a key given twice keeps its last value.

    Sweeps that cannot be expanded here (e.g. glob) are left as their first form and left
    for Hydra to check.
    """
    parsed = parse_overrides(overrides)
    choices: dict[str, list[str]] = {}
    for override in parsed:
        key = override.get_key_element()
        if override.is_sweep_override():
            try:
                choices[key] = [f"{key}={v}" for v in override.sweep_string_iterator()]
            except Exception:  # noqa: BLE001 - Hydra checks it when it runs the sweep
                choices.pop(key, None)
            continue
        choices[key] = [override.input_line]
    return [list(job) for job in itertools.islice(itertools.product(*choices.values()), limit)]


def preset_sweep(overrides: list[str], command: str) -> list[str]:
    """The ``hydra.sweeper.params`` of the config these overrides select (e.g. an
    experiment preset's sweep), as overrides that go before the command line's."""
    fixed = [o.input_line for o in parse_overrides(overrides) if not o.is_sweep_override()]
    params = OmegaConf.select(compose(fixed, command=command), "hydra.sweeper.params") or {}
    return [f"{key}={value}" for key, value in params.items()]


def compose(overrides: list[str], *, command: str = "loop", with_hydra: bool = True) -> DictConfig:
    """Compose the config as Hydra would for these overrides (raises NrepError)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    register_schemas()
    parse_overrides(overrides)  # a malformed override: one line naming it, before Hydra's own message
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        try:
            return hydra_compose(CONFIG_NAME, overrides=overrides, return_hydra_config=with_hydra)
        except (HydraException, OmegaConfBaseException, ValueError) as error:
            reference = None
            try:
                reference = hydra_compose(CONFIG_NAME, overrides=COMMAND_BASE.get(command, []))
            except Exception:  # noqa: BLE001 - only used for suggestions
                pass
            raise NrepError(explain(error, reference, command)) from error


def without_hydra(cfg: DictConfig) -> DictConfig:
    """A copy of a composed config without its ``hydra`` node."""
    copy = cfg.copy()
    with read_write(copy), open_dict(copy):
        copy.pop("hydra", None)
    return copy


def validate(cfg: DictConfig) -> NrepConfig:
    """Typed config of a composed one; interpolation and range errors become NrepError."""
    from omegaconf.errors import OmegaConfBaseException

    try:
        return to_config(without_hydra(cfg))
    except ConfigError:
        raise
    except OmegaConfBaseException as error:
        raise NrepError(str(error).strip().splitlines()[0]) from error


def load(overrides: Sequence[str] = (), command: str = "loop") -> NrepConfig:
    """The typed config of one job, as ``nrep <command> OVERRIDES`` builds it (raises NrepError, one line).

    ``command`` is ``loop`` or ``fold`` (which selects ``system=protein`` first); the
    overrides are Hydra's ``key=value`` strings, e.g. ``load(["method=cg", "seed=3"])``.
    """
    return validate(compose([*COMMAND_BASE[command], *overrides], command=command))


@dataclass(frozen=True)
class ComposedJob:
    """One job of a command: the composed config (with its ``hydra`` node) and its typed form, built once."""

    raw: DictConfig
    typed: NrepConfig


def compose_jobs(overrides: list[str], multirun: bool, command: str = "loop") -> list[ComposedJob]:
    """Compose and validate every job of the command (the first MAX_JOBS_CHECKED of a sweep)."""
    jobs = expand_sweeps(preset_sweep(overrides, command) + overrides) if multirun else [overrides]
    composed = []
    for job in jobs:
        cfg = compose(job, command=command)
        composed.append(ComposedJob(cfg, validate(cfg)))
    return composed


def resolved(cfg: DictConfig, key: str) -> str:
    return str(OmegaConf.select(cfg, key, throw_on_resolution_failure=True))


# The groups whose option a Python setting may name (``method="cg"``) instead of setting keys.
CHOICE_GROUPS = ("system", "init", "energy", "method", "optim", "device", "experiment")


# A string that Hydra reads as that string without quotes (no number, bool or null: see NOT_STRINGS).
PLAIN_STRING = re.compile(r"[A-Za-z_/][\w./-]*")
NOT_STRINGS = ("true", "false", "null", "nan", "inf")


def _override_value(value: object, key: str) -> str:
    """A Python value as Hydra override text: numbers and booleans as themselves, strings quoted."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        if PLAIN_STRING.fullmatch(value) and value.lower() not in NOT_STRINGS:
            return value  # as it would be typed on the command line (and as its error messages quote it)
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_override_value(v, key) for v in value) + "]"
    raise ConfigError(f"{key}={value!r}: a setting must be a number, string, boolean, None or list (got {type(value).__name__})")


def overrides_from(settings: dict[str, object], prefix: str = "") -> list[str]:
    """Python settings as the command line's overrides: ``stop={"max_steps": 50}`` -> ``stop.max_steps=50``.

    A group's option is named by a string (``method="cg"``) or by ``name`` inside its
    mapping (``method={"name": "cg", "lr": 0.1}``); every other mapping sets keys.
    """
    overrides: list[str] = []
    for key, value in settings.items():
        path = f"{prefix}{key}"
        is_group = not prefix and key in CHOICE_GROUPS
        if isinstance(value, dict):
            value = dict(value)
            if is_group and "name" in value:
                overrides.append(f"{path}={_choice(value.pop('name'), path)}")
            overrides += overrides_from(value, prefix=f"{path}.")
        elif is_group:
            overrides.append(f"{path}={_choice(value, path)}")
        else:
            overrides.append(f"{path}={_override_value(value, path)}")
    return overrides


def _choice(value: object, group: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_./-]+", value):
        raise ConfigError(f"{group}={value!r} is not an option name: name one by a string, e.g. method=\"cg\"")
    return value
