"""Final structures of finished runs, superimposed on their references by the CA atoms (Biopython's Kabsch).

One superposition serves the report: the CA overlays of the figures and the 3-D view of
the HTML page both move a run's ``final.pdb`` onto its ``reference.pdb`` with the
rotation :func:`ca_fit` finds. (Runs measure their RMSD on tensors, in
``nrep.core.systems.rmsd``, which the tests check against this Biopython code.)
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from Bio.PDB.Structure import Structure


def _first_model(path: Path) -> Structure:
    from Bio.PDB import PDBParser

    return next(iter(PDBParser(QUIET=True).get_structure(path.stem, str(path))))


def _ca(model: Structure) -> np.ndarray:
    return np.array([atom.coord for atom in model.get_atoms() if atom.get_id() == "CA"], dtype=np.float64)


def read_ca(path: Path) -> np.ndarray:
    """CA coordinates (Å) of the first model of a PDB file, in file order."""
    return _ca(_first_model(path))


def ca_fit(x: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(rotation, translation, RMSD) that move ``x`` (m, 3) onto ``reference`` as ``x @ rotation + translation``."""
    from Bio.SVDSuperimposer import SVDSuperimposer

    fit = SVDSuperimposer()
    fit.set(reference, x)
    fit.run()
    rotation, translation = fit.get_rotran()
    return rotation, translation, float(fit.get_rms())


def superimposed(x: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, float]:
    """``x`` rotated and moved onto ``reference`` (Kabsch), and the RMSD."""
    rotation, translation, rmsd = ca_fit(x, reference)
    return x @ rotation + translation, rmsd


def superimposed_pdb(final_pdb: Path, reference_pdb: Path) -> str:
    """``final_pdb`` (every atom) moved onto ``reference_pdb`` by its CA atoms, as PDB text."""
    from Bio.PDB import PDBIO

    final = _first_model(final_pdb)
    rotation, translation, _ = ca_fit(_ca(final), read_ca(reference_pdb))
    for atom in final.get_atoms():
        atom.set_coord(atom.coord @ rotation + translation)
    out = io.StringIO()
    writer = PDBIO()
    writer.set_structure(final)
    writer.save(out)
    return out.getvalue()
