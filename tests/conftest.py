"""Shared fixtures: tiny systems built in code, composed configs, and the nrep command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nrep.core.systems.loop import LoopSystem, offset_pairs

# One torch thread: the suite runs next to other processes on small machines, and the
# determinism promise is per thread count.
torch.set_num_threads(1)


def loop_system(x: list[list[float]] | torch.Tensor, loop_spacing: int) -> LoopSystem:
    """A loop over given coordinates, with no lower bound on its size (for hand-made cases)."""
    x0 = torch.as_tensor(x, dtype=torch.float64)
    n = len(x0)
    loops = offset_pairs(n, loop_spacing) if n > loop_spacing else torch.empty(0, 2, dtype=torch.long)
    return LoopSystem(x0=x0, bonds=offset_pairs(n, 1), loops=loops, loop_spacing=loop_spacing)


@pytest.fixture
def compose_cfg():
    """compose_cfg(*overrides) -> the typed NrepConfig Hydra would build for `nrep loop`."""
    from nrep.cli.compose import compose, validate

    def build(*overrides: str):
        return validate(compose([*overrides]))

    return build


def run_nrep(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the installed `nrep` command in a subprocess (one torch thread)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    exe = Path(sys.executable).with_name("nrep")
    return subprocess.run([str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def hand_loop():
    """hand_loop(coordinates, loop_spacing) -> a LoopSystem over exactly those coordinates."""
    return loop_system


@pytest.fixture(scope="session")
def nrep_cli():
    """nrep_cli(*args, cwd=...) -> the CompletedProcess of the installed `nrep` command."""
    return run_nrep
