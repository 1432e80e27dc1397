"""From a structure file to a parameterised all-atom protein, with PDBFixer and OpenMM.

One chain (the first unless told otherwise) of the first model; waters, ions and ligands
removed; missing heavy atoms added (missing terminal residues are not built);
hydrogens added for pH 7 by OpenMM's ``Modeller`` with ``amber14-all.xml``; the OpenMM
``System`` in vacuum without cutoff or constraints. Every force-field number comes from
the XML; nothing is typed here. What was removed or changed is returned as notes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nrep.core.errors import NrepError

FORCEFIELD = "amber14-all.xml"


@dataclass
class PreparedProtein:
    topology: object  # openmm.app.Topology
    positions_nm: np.ndarray  # (n, 3)
    system: object  # openmm.System
    chain: str
    notes: list[str] = field(default_factory=list)


def prepare_protein(path: Path, chain: str | None = None, ph: float = 7.0) -> PreparedProtein:
    """Fix and parameterise one chain of the structure in ``path`` (.pdb or .cif)."""
    from openmm import app, unit
    from pdbfixer import PDBFixer

    try:
        fixer = PDBFixer(filename=str(path))
    except Exception as error:  # noqa: BLE001 - PDBFixer raises many kinds on bad files
        raise NrepError(f"cannot read {path}: {error}; check that it is a PDB or mmCIF file") from error
    chains = list(fixer.topology.chains())
    if not chains or fixer.topology.getNumAtoms() == 0:
        raise NrepError(f"{path} holds no atoms; check the file")
    ids = [c.id for c in chains]
    chosen = chain if chain is not None else ids[0]
    if chosen not in ids:
        raise NrepError(f"chain {chosen!r} is not in {path.name} (chains: {', '.join(ids)}); pass --chain with one of them")
    notes: list[str] = []
    drop = [i for i, c in enumerate(chains) if c.id != chosen]
    if drop:
        fixer.removeChains(drop)
        notes.append(f"kept chain {chosen} of {', '.join(ids)}")

    fixer.findMissingResidues()
    fixer.missingResidues = {}  # termini missing from the experiment are not invented
    fixer.findNonstandardResidues()
    if fixer.nonstandardResidues:
        names = sorted({residue.name for residue, _ in fixer.nonstandardResidues})
        raise NrepError(
            f"non-standard residues {', '.join(names)} in {path.name}; amber14 has no parameters for them "
            "(replacing them with their standard parents is not available yet)"
        )
    before = {r.name for r in fixer.topology.residues()}
    fixer.removeHeterogens(keepWater=False)
    removed = sorted(before - {r.name for r in fixer.topology.residues()})
    if removed:
        notes.append(f"removed waters, ions and ligands: {', '.join(removed)}")
    fixer.findMissingAtoms()
    missing = sum(len(atoms) for atoms in fixer.missingAtoms.values()) + sum(
        len(atoms) for atoms in fixer.missingTerminals.values()
    )
    fixer.addMissingAtoms()
    if missing:
        notes.append(f"added {missing} missing heavy atoms")

    forcefield = app.ForceField(FORCEFIELD)
    modeller = app.Modeller(fixer.topology, fixer.positions)
    try:
        modeller.addHydrogens(forcefield, pH=ph)
        system = forcefield.createSystem(modeller.topology, nonbondedMethod=app.NoCutoff, constraints=None)
    except ValueError as error:
        raise NrepError(f"amber14 cannot parameterise {path.name}: {str(error).splitlines()[0]}") from error
    positions = np.asarray(modeller.positions.value_in_unit(unit.nanometer), dtype=np.float64)
    return PreparedProtein(modeller.topology, positions, system, chosen, notes)
