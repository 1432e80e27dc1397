"""Forces as chemists judge a minimisation: the RMS of all 3n components and the largest on one atom.

``rms`` is OpenMM's measure (its minimiser stops once the RMS of all force components is
below its tolerance), ``max`` is ASE's ``fmax`` (the largest |F_i| over atoms). Both are
in the energy's unit per length unit (kJ/mol/nm for proteins), from the gradient dE/dX,
so they cost a host read only where they are asked for.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

NO_FORCES = (math.nan, math.nan)


def force_tensors(gradient: torch.Tensor, per_structure: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(RMS over all components, max over atoms of |F_i|) of a gradient (..., n, 3), as float64 tensors on its
    device (no host read): scalars, or one value per structure of a batch with ``per_structure``."""
    g = gradient.detach().to(torch.float64)
    norms = torch.linalg.vector_norm(g, dim=-1)
    if per_structure:
        return g.square().mean(dim=(-2, -1)).sqrt(), norms.amax(dim=-1)
    return g.square().mean().sqrt(), norms.max()


def force_stats(gradient: torch.Tensor | None) -> tuple[float, float]:
    """(RMS over all components, max over atoms of |F_i|) of a gradient (..., n, 3); NaN without one."""
    if gradient is None:
        return NO_FORCES
    rms, largest = torch.stack(force_tensors(gradient)).cpu().tolist()
    return rms, largest


def value_and_gradient(energy: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> tuple[float, torch.Tensor]:
    """E(x) and dE/dX at x (detached) in one evaluation, whatever the caller's grad mode."""
    with torch.enable_grad():
        y = x.detach().requires_grad_(True)
        value = energy(y)
        (gradient,) = torch.autograd.grad(value, y)
    return float(value.detach()), gradient.detach()
