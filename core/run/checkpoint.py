"""The checkpoint of an interrupted (or periodically saved) run: ``checkpoint.pt``, plain tensors and values
(loaded without pickle).

It holds the stage loop's state (``nrep.core.engine``), the method's set-up times (so the
trace's clock goes on from the first start) and a fingerprint of the config, which must
match on resume.
"""

from __future__ import annotations

import io
from dataclasses import asdict
from pathlib import Path

import torch

from nrep.configs.schema import NrepConfig
from nrep.core.errors import NrepError
from nrep.core.io import files as results
from nrep.core.io.paths import hashed_key
from nrep.core.methods.plans import MethodPlan

CHECKPOINT = results.CHECKPOINT
CHECKPOINT_FORMAT = 1


def config_fingerprint(cfg: NrepConfig) -> str:
    """A hash of everything that determines a run except where it writes."""
    settings = asdict(cfg)
    settings.pop("output", None)
    return hashed_key(settings, length=16)


def write_checkpoint(run_dir: Path, cfg: NrepConfig, loop_state: dict, plan: MethodPlan, about: dict) -> None:
    """checkpoint.pt: the loop's state, what must match on resume, and ``about`` the run (threads,
    command, working_dir), which a run killed before it wrote its summary is resumed with."""
    buffer = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, "config": config_fingerprint(cfg), "plan_times": dict(plan.times),
                "loop": loop_state, "about": about}, buffer)
    results.atomic_write_bytes(run_dir / CHECKPOINT, buffer.getvalue())


def load_checkpoint(path: Path) -> dict:
    """checkpoint.pt as plain values, loaded without pickle (NrepError: damaged)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds on a damaged file
        raise NrepError(f"cannot read {path} ({type(error).__name__}); the checkpoint is damaged: rerun instead") from error


def read_checkpoint(run_dir: Path, cfg: NrepConfig) -> dict:
    """The checkpoint of an interrupted run, loaded without pickle, checked against ``cfg``."""
    path = run_dir / CHECKPOINT
    if not path.is_file():
        raise NrepError(f"{run_dir} has no {CHECKPOINT}; only runs stopped by Ctrl-C or SIGTERM can be resumed")
    state = load_checkpoint(path)
    if state.get("format") != CHECKPOINT_FORMAT or state.get("config") != config_fingerprint(cfg):
        raise NrepError(f"{path} does not belong to the config in {run_dir / '.hydra'}; resume with the run's own config")
    return state
