"""Linear CG reparametrisation (paper eq. 3): X = Ψ Z over the k slowest modes.

``anchored``: X = X0 + Ψ Z with Z0 = 0, which starts at X0 exactly and moves it along the
slow modes only; exact force fields need it (the projected start puts atoms on top of
each other).
"""

from __future__ import annotations

import torch
from torch import nn


def projected_start(psi: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    """Z0 = s Ψᵀ X0 with s = std(X0) / std(Ψ Ψᵀ X0), the authors' start.

    Projecting onto k < n modes shrinks the structure; the rescale restores its spread.
    With k = n, Ψ Ψᵀ = I and s = 1, so Ψ Z0 = X0 exactly.
    """
    z0 = psi.T @ x0
    return z0 * (x0.std() / (psi @ z0).std())


class LinearModes(nn.Module):
    """X = Ψ Z (or X0 + Ψ Z when ``anchored``) with Ψ (n, k) fixed and Z (k, 3) the parameter."""

    def __init__(self, psi: torch.Tensor, x0: torch.Tensor, anchored: bool = False) -> None:
        super().__init__()
        psi = psi.to(dtype=x0.dtype, device=x0.device)
        self.register_buffer("psi", psi)
        if anchored:
            self.register_buffer("anchor", x0.detach().clone())
            self.z = nn.Parameter(torch.zeros(psi.shape[1], 3, dtype=x0.dtype, device=x0.device))
        else:
            self.register_buffer("anchor", None)
            self.z = nn.Parameter(projected_start(psi, x0.detach()))

    def forward(self) -> torch.Tensor:
        x = self.psi @ self.z
        return x if self.anchor is None else self.anchor + x
