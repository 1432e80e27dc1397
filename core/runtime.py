"""Where and how a run executes: threads, determinism, device, dtype, seeds and versions."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import torch

from nrep.core.errors import NrepError

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    dtype: torch.dtype
    threads: int
    deterministic: bool

    def describe(self) -> dict[str, object]:
        info: dict[str, object] = {
            "device": str(self.device),
            "dtype": str(self.dtype).removeprefix("torch."),
            "threads": self.threads,
            "deterministic": self.deterministic,
        }
        if self.device.type == "cuda":
            info["device_name"] = torch.cuda.get_device_name(self.device)
        else:
            info["device_name"] = platform.processor() or platform.machine()
        return info


def available_cores() -> int:
    """Cores this process may run on (respects CPU affinity and cgroup-pinned sets)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# The default thread count of a run (threads=null) follows the system's size, never the
# machine's load, so the same command gives the same numbers. Measured on 2 cores (make
# bench, threads section: a GD step alone and beside a process keeping one core busy): a
# second thread gained at most 1.8x alone (2JOF on the OpenMM engine; 0-15 % on the torch
# engine for 2JOF and 2WXC and on a 4,000-bead loop) and lost 2.6-4.1x beside the busy
# process, where one thread stayed within 1.3x of alone. So one thread at every size
# measured; every core only from a size above all of them, where the O(n^2) parts (exact
# energies, slow modes) dominate a run (not yet measured there).
PARALLEL_FROM_PARTICLES = 10_000


def default_threads(n_particles: int, cores: int | None = None) -> int:
    """The torch (and OpenMM CPU) threads of a run that leaves ``threads`` unset: one below
    :data:`PARALLEL_FROM_PARTICLES` particles, else every available core."""
    cores = available_cores() if cores is None else cores
    return 1 if n_particles < PARALLEL_FROM_PARTICLES else max(1, cores)


def use_threads(runtime: Runtime, threads: int) -> Runtime:
    """The runtime with torch set to ``threads`` threads (once the system, hence the default, is known)."""
    torch.set_num_threads(threads)
    return dataclasses.replace(runtime, threads=threads)


def check_device(device: str) -> torch.device:
    """The device ``device.name`` names, or one line when torch cannot use it (no CUDA, no such GPU)."""
    resolved = torch.device(device)
    if resolved.type != "cuda":
        return resolved
    if not torch.cuda.is_available():
        raise NrepError(
            f"device={device} was asked for but torch sees no CUDA device; use device=cpu, "
            "or install a CUDA build of torch (see README, 'Installing torch')"
        )
    if resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise NrepError(f"device.name={device}: torch sees {torch.cuda.device_count()} CUDA device(s), "
                        f"numbered from 0; choose one of them")
    return resolved


def configure(device: str, dtype: str, threads: int | None, deterministic: bool) -> Runtime:
    """Set torch's threads and determinism and resolve the device; call once per run.

    ``threads=None`` sets one thread for the set-up; a run then takes :func:`default_threads`
    of its system with :func:`use_threads`. With ``deterministic``, torch uses only
    deterministic algorithms, so on the CPU the same seed and thread count give the same
    numbers.
    """
    n_threads = threads or 1
    torch.set_num_threads(n_threads)
    resolved = check_device(device)
    if resolved.type == "cuda":
        if deterministic:
            # cuBLAS needs a fixed workspace to be deterministic; must be set before its first use.
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    set_deterministic(deterministic)
    warm_up()
    return Runtime(device=resolved, dtype=_DTYPES[dtype], threads=n_threads, deterministic=deterministic)


def set_deterministic(mode: bool) -> None:
    """torch.use_deterministic_algorithms without its 2 s import of torch._inductor.

    The public call also switches inductor's flag; that matters only once torch.compile
    is in use (inductor loaded), and then the public call is made.
    """
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None or "torch._inductor" in sys.modules:
        torch.use_deterministic_algorithms(mode)
    else:
        setter(mode)


def warm_up() -> None:
    """Pay torch's one-off lazy imports (the first optimiser pulls in torch._dynamo, ~2 s) here,
    so that they are not charged to the first method's timings."""
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])


def derive_seed(seed: int, stream: str) -> int:
    """An independent, reproducible seed for one random stream of a run (e.g. "repulsion")."""
    digest = hashlib.sha256(f"{seed}:{stream}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def versions() -> dict[str, str]:
    """Versions of nrep and of the libraries whose numbers it depends on."""
    found = {"python": platform.python_version(), "platform": platform.platform()}
    for package in ("nrep", "torch", "numpy", "scipy", "hydra-core", "omegaconf", "torch-geometric", "openmm"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return found


def git_commit(path: Path | None = None) -> str | None:
    """The commit of nrep's source checkout (with "-dirty" if it has local changes), if any."""
    where = path or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where, capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "") if commit else None
