"""The paper's presets (experiment=fig*) keep their settings when nrep's defaults change.

Every fig* preset's jobs that defaults can reach (its sweep expanded, as `nrep fold|loop -m
experiment=...` runs it, one value standing for each swept key but the group options) are
composed and compared, key by key, with the configs recorded in
``preset_configs.json``. A default that moves (a learning rate, an early-stopping rule, a
method's graph) and reaches a preset fails here, naming the preset and the key: pin the
paper's value in ``configs/experiment/<preset>.yaml`` (the file says where it comes from),
and the preset reproduces the paper again. After a change that means to move a preset,
record the configs again:

    NREP_WRITE_PRESET_CONFIGS=1 python -m pytest tests/configs/test_preset_pins.py
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from nrep.configs.compose import COMMAND_BASE, command_options, compose_jobs, preset_sweep

RECORD = Path(__file__).with_name("preset_configs.json")
# what says where a run writes, not how it minimises
IGNORED = ("output.", "system.local_dir", "system.cache_dir", "init.cache_dir", "method.modes.cache_dir")


def flat(value: object, prefix: str = "") -> dict[str, object]:
    if dataclasses.is_dataclass(value):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for key, item in value.items():
            out.update(flat(item, f"{prefix}{key}."))
        return out
    key = prefix[:-1]
    return {} if key.startswith(IGNORED) else {key: list(value) if isinstance(value, tuple) else value}


def preset_jobs() -> dict[str, list[dict[str, object]]]:
    """Every fig* preset of both commands -> the flattened typed config of each job that defaults can reach.

    A swept value (seed=0,1,2; method.lr=...) is written in the preset itself, so one of
    them stands for all; a swept group option (optim=lbfgs,fire) brings that option's
    defaults, so each is composed.
    """
    presets = {}
    for command in ("loop", "fold"):
        for preset in command_options(command, "experiment"):
            if not preset.startswith("fig"):
                continue
            base = [*COMMAND_BASE[command], f"experiment={preset}"]
            sweep = [o if "=" not in o or "." not in o.split("=")[0] and o.split("=")[0] != "seed"
                     else o.split(",")[0] for o in preset_sweep(base, command)]
            jobs = compose_jobs([*sweep, *base], multirun=True, command=command)
            presets[preset] = [flat(job.typed) for job in jobs]
    return presets


def compact(presets: dict[str, list[dict[str, object]]]) -> dict[str, dict]:
    """Per preset, the keys all its jobs share once, and each job's own values."""
    out = {}
    for preset, jobs in presets.items():
        common = {k: v for k, v in jobs[0].items() if all(k in j and j[k] == v for j in jobs)}
        out[preset] = {"common": common, "jobs": [{k: v for k, v in j.items() if k not in common} for j in jobs]}
    return out


@pytest.fixture(scope="module")
def composed():
    return compact(preset_jobs())


def differences(now: dict[str, dict], recorded: dict[str, dict]) -> list[str]:
    """Every recorded key whose value a preset's job no longer composes to (keys added since are not compared)."""
    changed = []
    for preset in sorted(set(now) | set(recorded)):
        if preset not in now or preset not in recorded:
            changed.append(f"{preset}: {'added' if preset in now else 'removed'} since the record")
            continue
        jobs_now, jobs_then = now[preset]["jobs"], recorded[preset]["jobs"]
        if len(jobs_now) != len(jobs_then):
            changed.append(f"{preset}: {len(jobs_now)} jobs (recorded {len(jobs_then)})")
            continue
        for index, (job_now, job_then) in enumerate(zip(jobs_now, jobs_then)):
            full_now, full_then = {**now[preset]["common"], **job_now}, {**recorded[preset]["common"], **job_then}
            changed += [f"{preset} job {index}: {key} = {full_now.get(key, '<missing>')!r} (recorded {value!r})"
                        for key, value in sorted(full_then.items()) if full_now.get(key, "<missing>") != value]
    return changed


def test_fig_presets_compose_as_recorded(composed):
    if os.environ.get("NREP_WRITE_PRESET_CONFIGS"):
        RECORD.write_text(json.dumps(composed, indent=1, sort_keys=True) + "\n")
    changed = differences(composed, json.loads(RECORD.read_text()))
    assert not changed, ("a default reached the paper's presets; pin the recorded value in the preset's YAML "
                         "(or record the configs again if the change is meant):\n" + "\n".join(changed[:40]))


def test_a_moved_default_is_seen(composed):
    """What a changed default does to a composed preset (its Adam rate, its graph): named, key by key."""
    preset = "fig6/gnn"
    moved = json.loads(json.dumps(composed))
    job = {**moved[preset]["common"], **moved[preset]["jobs"][0]}
    moved[preset]["common"].pop("optim.lr")
    moved[preset]["common"].pop("method.graph")
    moved[preset]["jobs"][0].update({"optim.lr": job["optim.lr"] * 10, "method.graph": "knn"})
    moved["fig3/methods"]["jobs"].pop()
    assert differences(moved, composed) == [
        f"fig3/methods: {len(composed['fig3/methods']['jobs']) - 1} jobs (recorded {len(composed['fig3/methods']['jobs'])})",
        f"{preset} job 0: method.graph = 'knn' (recorded {job['method.graph']!r})",
        f"{preset} job 0: optim.lr = {job['optim.lr'] * 10!r} (recorded {job['optim.lr']!r})",
    ]
    assert differences(composed, composed) == []
