"""Pair potentials f(r) of the synthetic loops, as pure functions of distances.

All take a tensor of distances ``r`` (reduced units) and return f(r) element-wise, so
they batch over pairs and replicas and their gradients come from autograd.
"""

from __future__ import annotations

import torch

# The authors' soft LJ puts 6x the softening into the attractive denominator.
_ATTRACTIVE_SOFTENING_FACTOR = 6.0


def quadratic(r: torch.Tensor, r0: float = 1.0) -> torch.Tensor:
    """Harmonic bond (r/r0 - 1)^2, the authors' ``quadratic``."""
    return (r / r0 - 1.0) ** 2


def lj_soft(r: torch.Tensor, r0: float = 1.0, softening: float = 1e-2) -> torch.Tensor:
    """The authors' softened 12-6 Lennard-Jones, 1/(s^12 + eps) - 1/(s^6 + 6 eps), s = r/r0.

    Finite at r = 0 (100 - 100/6 = 83.3 for eps = 1e-2), with a false minimum there behind a
    barrier of about 84.7 at r = 0.47 r0; the true minimum is -0.237 at r = 1.132 r0.
    """
    s6 = (r / r0) ** 6
    return 1.0 / (s6 * s6 + softening) - 1.0 / (s6 + _ATTRACTIVE_SOFTENING_FACTOR * softening)


def lj_soft_derivative(r: torch.Tensor, r0: float = 1.0, softening: float = 1e-2) -> torch.Tensor:
    """d lj_soft / dr, written out for the wall of :func:`lj_wall`."""
    s = r / r0
    s5 = s**5
    s6 = s5 * s
    s11 = s6 * s5
    repulsive = -12.0 * s11 / (s6 * s6 + softening) ** 2
    attractive = 6.0 * s5 / (s6 + _ATTRACTIVE_SOFTENING_FACTOR * softening) ** 2
    return (repulsive + attractive) / r0


def lj_wall(r: torch.Tensor, r0: float = 1.0, softening: float = 1e-2, core_radius: float = 0.8) -> torch.Tensor:
    """:func:`lj_soft` with its core replaced by a linear wall below ``core_radius`` (units of r0).

    For r < r_c: f(r_c) + f'(r_c) (r - r_c), which keeps f and f' continuous, rises all the
    way to r = 0 and so has no false minimum there: overlapping beads are always pushed apart.
    """
    rc = torch.as_tensor(core_radius * r0, dtype=r.dtype, device=r.device)
    f_c = lj_soft(rc, r0, softening)
    df_c = lj_soft_derivative(rc, r0, softening)
    # torch.where evaluates both branches; clamping keeps the unused soft branch finite.
    soft = lj_soft(torch.maximum(r, rc), r0, softening)
    return torch.where(r < rc, f_c + df_c * (r - rc), soft)


def soft_inverse_power(r: torch.Tensor, power: float = 1.0, softening: float = 1e-2) -> torch.Tensor:
    """1 / (r^p + softening): the authors' weak repulsion between uncoupled beads."""
    return 1.0 / (r**power + softening)
