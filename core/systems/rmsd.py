"""RMSD of a structure to its reference after the best rotation and translation (Kabsch), in Å."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from typing import Callable

    import openmm


def kabsch_rmsd(x: torch.Tensor, reference: torch.Tensor) -> float:
    """RMSD between two (m, 3) point sets after the optimal rotation and translation (Kabsch).

    In the units of the inputs. The reflection case is excluded (a proper rotation only).
    """
    a = x.detach().to(torch.float64)
    b = reference.detach().to(torch.float64)
    a = a - a.mean(dim=0)
    b = b - b.mean(dim=0)
    u, _, vt = torch.linalg.svd(a.T @ b)
    sign = torch.sign(torch.linalg.det(u @ vt))
    d = torch.diag(torch.tensor([1.0, 1.0, float(sign)], dtype=torch.float64))
    rotated = a @ (u @ d @ vt)
    return float(torch.sqrt(((rotated - b) ** 2).sum(dim=1).mean()))


BACKBONE_ATOMS = ("N", "CA", "C")


def protein_atom_sets(topology: openmm.app.Topology, leave_out: tuple[int, ...] = ()) -> dict[str, torch.Tensor]:
    """Atom indices of the RMSD sets: ca, backbone (N, CA, C), heavy (no hydrogen), all.

    Residues whose indices are in ``leave_out`` (built from the sequence, not observed) are in no set.
    """
    left_out = set(leave_out)
    atoms = [a for a in topology.atoms() if a.residue.index not in left_out]

    def indices(keep: Callable[[openmm.app.Atom], bool]) -> torch.Tensor:
        return torch.tensor([a.index for a in atoms if keep(a)], dtype=torch.long)

    return {
        "ca": indices(lambda a: a.name == "CA"),
        "backbone": indices(lambda a: a.name in BACKBONE_ATOMS),
        "heavy": indices(lambda a: a.element is None or a.element.symbol != "H"),
        "all": indices(lambda a: True),
    }


def protein_rmsd(x_nm: torch.Tensor, reference_nm: torch.Tensor, sets: dict[str, torch.Tensor]) -> dict[str, float]:
    """Kabsch RMSD in Å on each atom set (coordinates in nm): {"rmsd_ca_A": ..., ...}."""
    x_nm, reference_nm = x_nm.detach().cpu(), reference_nm.detach().cpu()
    return {f"rmsd_{name}_A": 10.0 * kabsch_rmsd(x_nm[idx], reference_nm[idx]) for name, idx in sets.items()}
