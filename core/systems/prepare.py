"""From a structure file to a parameterised all-atom protein: the three steps in order.

1. :mod:`reading` (Biopython): one model, the chosen chains, alternate locations,
   deuterium, coordinates checked, as PDB text with the file's sequence.
2. :mod:`fixing` (PDBFixer): heterogens out, non-standard residues replaced or refused,
   unresolved termini trimmed, gaps inside a chain found; then PDBFixer adds the missing
   residues and heavy atoms here, and a chain still broken is refused.
3. Here, OpenMM's ``Modeller`` adds hydrogens for the given pH with ``amber14-all.xml``,
   and the ``System`` is built in vacuum without cutoff or constraints.

Every force-field number comes from the XML; nothing is typed here. What was removed or
changed is returned as notes, for the log and the summary; what cannot be done is one
line naming the residue and the fix (OpenMM's template errors are translated).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nrep.configs.schema import GAP_CHOICES
from nrep.core.errors import NrepError
from nrep.core.systems.fixing import (
    CAPS,
    chain_breaks,
    disulfides,
    find_gaps,
    gap_notes,
    remove_heterogens,
    replace_nonstandard_residues,
    trim_unresolved_termini,
)
from nrep.core.systems.reading import model_text

if TYPE_CHECKING:
    import openmm.app

FORCEFIELD = "amber14-all.xml"


@dataclass
class PreparedProtein:
    topology: object  # openmm.app.Topology
    positions_nm: np.ndarray  # (n, 3)
    system: object  # openmm.System
    chain: str  # the chains folded, as the file names them: "A", or "A,B" for several
    variants: list  # per residue: the protonation variant (HID, GLH, CYX, ...) or None
    notes: list[str] = field(default_factory=list)
    # Indices of residues built by PDBFixer from the sequence (not observed): outside the RMSD.
    modelled_residues: tuple[int, ...] = ()


def prepare_protein(
    path: Path,
    chain: str | None = None,
    ph: float = 7.0,
    replace_nonstandard: bool = False,
    model: int = 1,
    gaps: str = "fill",
) -> PreparedProtein:
    """Fix and parameterise the chosen chains of the structure in ``path`` (.pdb/.cif, gzipped or not).

    ``chain``: None (the first protein chain), "A", "A,B" / "A+B" (folded together as one
    system) or "all" (every protein chain). ``model``: the NMR model (1-based).
    ``gaps``: "fill" builds residues missing inside a chain from the file's sequence;
    "refuse" refuses such a chain.
    """
    from openmm import app, unit
    from pdbfixer import PDBFixer

    if gaps not in GAP_CHOICES:
        raise NrepError(f"system.gaps={gaps!r} is not one of {', '.join(GAP_CHOICES)}")
    read = model_text(path, chain, model)
    notes = list(read.notes)
    label = ",".join(read.chains)
    try:
        fixer = PDBFixer(pdbfile=io.StringIO(read.pdb_text))
    except Exception as error:  # PDBFixer raises many kinds on bad input
        raise NrepError(f"cannot read {path}: {error}; check that it is a PDB or mmCIF file") from error

    replaced, replace_notes = replace_nonstandard_residues(fixer, path.name, replace_nonstandard)
    notes += replace_notes
    removed = remove_heterogens(fixer)
    if removed:
        notes.append(f"removed waters, ions and ligands: {', '.join(removed)}")
    if fixer.topology.getNumResidues() == 0:
        raise NrepError(f"chain {label} of {path.name} holds no amino acids; pass --chain with a protein chain")
    notes += trim_unresolved_termini(fixer, path.name, label, read.complete)
    # the sequence names the residues as the file did: MSE in SEQRES is MET in the chain by now
    sequences = {c: [replaced.get(r, r) for r in names] for c, names in read.sequences.items()}
    inside = find_gaps(fixer, sequences)
    fixer.missingResidues = inside if gaps == "fill" else {}
    if gaps == "fill":
        notes += gap_notes(fixer.topology, inside)
    observed = {(r.chain.index, r.id, r.insertionCode) for r in fixer.topology.residues()}
    fixer.findMissingAtoms()
    missing = sum(len(atoms) for atoms in fixer.missingAtoms.values()) + sum(
        len(atoms) for atoms in fixer.missingTerminals.values()
    )
    fixer.addMissingAtoms(seed=0)  # its relaxation of new atoms may run dynamics: seeded for reproducibility
    if missing:
        notes.append(f"added {missing} missing heavy atoms")
    modelled = tuple(r.index for r in fixer.topology.residues() if (r.chain.index, r.id, r.insertionCode) not in observed)
    breaks = chain_breaks(fixer.topology, np.asarray(fixer.positions.value_in_unit(unit.nanometer)))
    if breaks:
        if gaps == "refuse" and inside:
            fix = "system.gaps=fill builds the missing residues from the file's sequence"
        else:
            which = ("its sequence records do not match the chain there" if read.sequences
                     else "it holds no sequence (SEQRES, or mmCIF's pdbx_poly_seq_scheme) to fill the gap from")
            fix = f"{which}: pick another --chain or fill the gap first (e.g. with PDBFixer or MODELLER)"
        raise NrepError(f"chain {label} of {path.name} is broken between {', '.join(breaks)}; {fix}")

    forcefield = app.ForceField(FORCEFIELD)
    modeller = app.Modeller(fixer.topology, fixer.positions)
    try:
        add_hydrogens_reproducibly(modeller, forcefield, ph)
        system = forcefield.createSystem(modeller.topology, nonbondedMethod=app.NoCutoff, constraints=None)
    except ValueError as error:
        raise NrepError(explain_template_error(error, modeller.topology, forcefield, path.name)) from error
    positions = np.asarray(modeller.positions.value_in_unit(unit.nanometer), dtype=np.float64)
    if bridges := disulfides(modeller.topology):
        notes.append(f"{len(bridges)} disulfide bond{'s' if len(bridges) > 1 else ''} (CYX): {', '.join(bridges)}")
    variants = protonation_variants(modeller.topology)
    return PreparedProtein(modeller.topology, positions, system, label, variants, notes, modelled)


# Template names of amber14 a residue name may match, besides its terminal forms N<name>/C<name>.
TEMPLATE_VARIANTS = {"HIS": ("HID", "HIE", "HIP"), "CYS": ("CYS", "CYX", "CYM"), "ASP": ("ASP", "ASH"),
                     "GLU": ("GLU", "GLH"), "LYS": ("LYS", "LYN")}


def explain_template_error(error: ValueError, topology: openmm.app.Topology, forcefield: openmm.app.ForceField, name: str) -> str:
    """OpenMM's "No template found" as one line: which residue, which atoms are extra or missing, and the fix."""
    text = str(error)
    found = re.search(r"residue index within topology (\d+)", text) or re.search(r"No template found for residue (\d+)", text)
    residues = list(topology.residues())
    if found is None or int(found.group(1)) >= len(residues):
        return f"amber14 cannot parameterise {name}: {text.splitlines()[0]}"
    residue = residues[int(found.group(1))]
    chain_residues = list(residue.chain.residues())
    where = f"residue {residue.name}{residue.id} of chain {residue.chain.id} in {name}"
    if len(chain_residues) == 1 and residue.name not in CAPS:
        return (
            f"{where} is a chain of one amino acid, which amber14 has no template for (it would be N- and "
            "C-terminal at once); cap it with ACE and NME, or fold a longer chain"
        )
    heavy = {a.name for a in residue.atoms() if a.element is None or a.element.symbol not in ("H", "D")}
    templates = forcefield._templates  # OpenMM keeps its templates by name here
    names = TEMPLATE_VARIANTS.get(residue.name, (residue.name,))
    candidates = [t for base in names for t in (base, "N" + base, "C" + base) if t in templates]
    if not candidates:
        return f"{where} has no amber14 template at all; replace it by a standard residue or remove it"

    def heavy_names(template: openmm.app.ForceField._TemplateData) -> set[str]:
        return {a.name for a in template.atoms if a.element is None or a.element.symbol != "H"}

    best = min(candidates, key=lambda t: len(heavy ^ heavy_names(templates[t])))
    extra, lacking = sorted(heavy - heavy_names(templates[best])), sorted(heavy_names(templates[best]) - heavy)
    odd = sorted(f"{a.name} ({a.element.name if a.element else 'no element'})" for a in residue.atoms()
                 if a.element is not None and a.element.symbol not in ("C", "N", "O", "S", "H", "Se"))
    parts = []
    if extra:
        parts.append(f"extra atoms {', '.join(extra)}")
    if lacking:
        parts.append(f"missing atoms {', '.join(lacking)}")
    if odd:
        parts.append(f"atoms read as unusual elements {', '.join(odd)} (check the file's element column)")
    what = "; ".join(parts) if parts else "its bonds or hydrogens differ from the template"
    return (
        f"{where} matches no amber14 template (nearest {best}: {what}); fix or remove those atoms "
        "(PDBFixer rebuilds missing heavy atoms), or replace the residue"
    )


def protonation_variants(topology: openmm.app.Topology) -> list:
    """Each residue's protonation variant read from its hydrogens, as Modeller.addHydrogens takes them.

    Hydrogens present in the file are kept by OpenMM, so the variant is read from the
    final atoms rather than from what addHydrogens chose.
    """
    variants = []
    for residue in topology.residues():
        names = {a.name for a in residue.atoms()}
        variants.append({
            "HIS": "HIP" if {"HD1", "HE2"} <= names else "HID" if "HD1" in names else "HIE",
            "GLU": "GLH" if "HE2" in names else "GLU",
            "ASP": "ASH" if "HD2" in names else "ASP",
            "LYS": "LYS" if "HZ3" in names else "LYN",
            "CYS": "CYS" if "HG" in names else "CYX",
        }.get(residue.name))
    return variants


def add_hydrogens_reproducibly(
    modeller: openmm.app.Modeller, forcefield: openmm.app.ForceField, ph: float, variants: list | None = None
) -> None:
    """``Modeller.addHydrogens`` with the same result every time.

    OpenMM places new hydrogens from Python's global ``random`` and relaxes them on the
    default platform; here the generator is seeded (and restored afterwards) and the
    relaxation runs on the Reference platform.
    """
    import random

    import openmm

    state = random.getstate()
    random.seed(0)
    try:
        modeller.addHydrogens(forcefield, pH=ph, variants=variants, platform=openmm.Platform.getPlatformByName("Reference"))
    finally:
        random.setstate(state)


def add_hydrogens(
    topology: openmm.app.Topology, positions_nm: np.ndarray, variants: list, ph: float = 7.0
) -> tuple[openmm.app.Topology, np.ndarray]:
    """(topology, positions in nm) with hydrogens added as for the reference (same variants)."""
    from openmm import app, unit

    modeller = app.Modeller(topology, positions_nm * unit.nanometer)
    add_hydrogens_reproducibly(modeller, app.ForceField(FORCEFIELD), ph, variants)
    return modeller.topology, np.asarray(modeller.positions.value_in_unit(unit.nanometer), dtype=np.float64)
