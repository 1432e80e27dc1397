"""What the Python API returns for a run: coordinates, energies, the trace as a table, stop reasons, timings.

One type for both ways in: a run kept in memory (``nrep.minimise``) and a run read back
from its directory (``nrep.run``, or any finished run: :meth:`Result.from_run_dir`).
Everything else the run recorded is in ``summary``, the columns of ``summary.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from nrep.core.errors import NrepError
from nrep.core.io import files as results


def _coordinates(x: torch.Tensor | np.ndarray | None) -> torch.Tensor | None:
    if x is None:
        return None
    return torch.as_tensor(x).detach().to(device="cpu", dtype=torch.float64)


def refuse_failed(summary: dict[str, Any], run_dir: Path | None) -> None:
    """A failed run has no coordinates or energies: its error, as one line."""
    if summary.get("status") == "failed":
        raise NrepError(f"the run in {run_dir} failed: {summary.get('error', 'no error recorded')}")


@dataclass
class Result:
    """A finished (or stopped) minimisation. Energies in ``unit``; coordinates (n, 3), float64, in the system's length unit."""

    status: str  # ok, diverged or interrupted (a failed run raises instead)
    x: torch.Tensor  # the final coordinates
    x_best: torch.Tensor | None  # where the lowest energy was seen
    energy: float  # the exact energy at x (summary: energy_final_exact)
    energy_best: float  # the lowest energy seen, as minimised
    energy_initial: float  # the exact energy at the start
    unit: str
    stop_reasons: dict[str, str]  # stage -> why it ended (converged, max_steps, ...)
    steps: int
    times: dict[str, float]  # seconds: setup, modes, init, each stage, method, total
    trace: pd.DataFrame  # one row per traced step: step, stage, stage_step, time_s, the energy, metrics
    summary: dict[str, Any]  # every summary column (summary.json)
    run_dir: Path | None = None  # None: kept in memory only

    @property
    def stop_reason(self) -> str:
        """Why the run ended (the last stage's reason)."""
        return self.summary["stop_reason"]

    @classmethod
    def from_summary(cls, summary: dict[str, Any], x: Any, x_best: Any, trace: pd.DataFrame | list[dict],
                     run_dir: Path | None = None) -> Result:
        refuse_failed(summary, run_dir)
        reasons = {key.removeprefix("stop_reason_"): value for key, value in summary.items()
                   if key.startswith("stop_reason_")}
        times = {key.removeprefix("time_").removesuffix("_s"): float(value) for key, value in summary.items()
                 if key.startswith("time_") and key.endswith("_s") and isinstance(value, (int, float))}
        return cls(
            status=summary["status"],
            x=_coordinates(x),
            x_best=_coordinates(x_best),
            energy=summary["energy_final_exact"],
            energy_best=summary["energy_best"],
            energy_initial=summary["energy_initial_exact"],
            unit=summary["energy_unit"],
            stop_reasons=reasons,
            steps=summary["steps_total"],
            times=times,
            trace=trace if isinstance(trace, pd.DataFrame) else pd.DataFrame(trace),
            summary=summary,
            run_dir=run_dir,
        )

    @classmethod
    def from_run_dir(cls, run_dir: str | Path) -> Result:
        """A finished run read back from its directory (NrepError: no run there, or it failed)."""
        run_dir = Path(run_dir)
        path = run_dir / results.SUMMARY
        if not path.is_file():
            raise NrepError(f"{run_dir} holds no finished run (no {results.SUMMARY})")
        summary = json.loads(path.read_text())
        refuse_failed(summary, run_dir)
        best = run_dir / "best.npy"
        trace = run_dir / results.TRACE
        return cls.from_summary(summary, np.load(run_dir / "final.npy", allow_pickle=False),
                                np.load(best, allow_pickle=False) if best.is_file() else None,
                                pd.read_csv(trace) if trace.is_file() else pd.DataFrame(), run_dir)

    def __repr__(self) -> str:
        where = f", run_dir={str(self.run_dir)!r}" if self.run_dir is not None else ""
        return (f"Result(status={self.status!r}, energy={self.energy:.8g} {self.unit}, energy_initial="
                f"{self.energy_initial:.8g}, steps={self.steps}, stop_reasons={self.stop_reasons}, "
                f"time_total_s={self.times.get('total', float('nan')):.2f}{where})")
