"""stop: the early-stopping rule of a stage (the top-level ``stop`` and ``method.stop``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from nrep.configs.schema.checks import require


@dataclass
class StopConfig:
    """Early stopping of one stage, the authors' rule.

    Every ``check_every`` steps the energy is compared with the best so far; it counts as
    an improvement when it is below best - min_delta. The stage stops after ``patience``
    checks in a row without improvement, or after ``max_steps`` steps. ``fmax`` and
    ``frms`` (energy unit per length unit: kJ/mol/nm for proteins; null = off) also stop it,
    at the first check where the largest force on one atom (ASE's fmax) or the RMS of all
    3n force components (OpenMM's tolerance) is below them; the stop reason says which.
    """

    check_every: int = 20
    patience: int = 20
    min_delta: float = 1e-6
    max_steps: int = 60000
    fmax: Optional[float] = None
    frms: Optional[float] = None

    def check(self, key: str) -> None:
        """Refuse impossible values; ``key`` is where this section sits (stop, method.stop)."""
        require(self.check_every >= 1, f"{key}.check_every must be >= 1 (got {self.check_every})")
        require(self.patience >= 1, f"{key}.patience must be >= 1 (got {self.patience})")
        require(self.min_delta >= 0, f"{key}.min_delta must be >= 0 (got {self.min_delta})")
        require(self.max_steps >= 0, f"{key}.max_steps must be >= 0 (got {self.max_steps})")
        for name in ("fmax", "frms"):
            value = getattr(self, name)
            require(value is None or value > 0, f"{key}.{name} must be > 0 or null (got {value})")


@dataclass
class RunStopConfig(StopConfig):
    """The top-level ``stop``: stage 2's rule (as :class:`StopConfig`), and a cap on the whole run.

    ``max_total_steps``: the most steps of all stages together, whatever the method (GD's
    one stage, CG's and GNN's two, OpenMM's minimiser iterations, MD steps); the run ends
    with stop_reason=max_total_steps. null: no cap. ``max_steps`` and ``method.stop.max_steps``
    cap their own stage only.
    """

    max_total_steps: Optional[int] = None

    def check(self, key: str) -> None:
        super().check(key)
        require(self.max_total_steps is None or self.max_total_steps >= 1,
                f"{key}.max_total_steps must be >= 1 or null (got {self.max_total_steps})")

