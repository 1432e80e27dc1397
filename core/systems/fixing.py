"""Step 2 of preparing a protein: PDBFixer makes the chosen chains complete, or says why it cannot.

It removes waters, ions and ligands (keeping end caps; a hetero group not peptide-bonded
into a chain is a ligand), replaces selenomethionine by methionine (always) and other
non-standard residues by their standard parents (when asked), removes terminal residues
the experiment did not resolve, finds the residues missing *inside* a chain from the
file's sequence (missing termini are not invented), and describes what it found.
Every refusal is one line that names the residue and the fix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from nrep.core.errors import NrepError
from nrep.core.systems.reading import MAX_NAMED, named

if TYPE_CHECKING:
    import openmm.app
    import pdbfixer

# End caps amber14 has templates for; PDBFixer counts them as heterogens.
CAPS = ("ACE", "NME", "NH2")
# A peptide C-N bond is 1.33 Å; consecutive residues farther apart than this are not bonded.
CHAIN_BREAK_A = 2.0
# Non-standard residues replaced without being asked, and why (noted in the summary).
REPLACED_BY_DEFAULT = {"MSE": "selenomethionine, the usual X-ray stand-in for methionine"}  # by PDBFixer's parent
BACKBONE = ("N", "CA", "C")


def missing_backbone(missing_atoms: dict) -> list[str]:
    """PDBFixer's missing atoms (residue -> template atoms) that are backbone N, CA or C, as text.

    PDBFixer places missing atoms by overlaying a template on the atoms that are there;
    without the backbone that overlay (and the reference the RMSD is measured against) is a guess.
    """
    found = []
    for residue, atoms in missing_atoms.items():
        names = [a.name for a in atoms if a.name in BACKBONE]
        if names:
            found.append(f"{residue.name}{residue.id} has no {', '.join(names)}")
    if len(found) > MAX_NAMED:
        found = [*found[:MAX_NAMED], f"and {len(found) - MAX_NAMED} more residues"]
    return found


def unresolved_termini(topology: openmm.app.Topology, incomplete: set) -> list | None:
    """The residues of ``incomplete`` (backbone atoms missing) that sit at the ends of their chains.

    None when that does not account for all of them (one inside a chain) or would leave a
    chain with fewer than two residues: then nothing is trimmed.
    """
    ends = []
    for chain in topology.chains():
        residues = list(chain.residues())
        first, last = 0, len(residues)
        while first < last and residues[first] in incomplete:
            first += 1
        while last > first and residues[last - 1] in incomplete:
            last -= 1
        if any(r in incomplete for r in residues[first:last]) or (last - first < 2 and (first or last < len(residues))):
            return None
        ends += residues[:first] + residues[last:]
    return ends


def trim_unresolved_termini(fixer: pdbfixer.PDBFixer, name: str, label: str, complete: bool) -> list[str]:
    """Remove residues at chain ends whose backbone the experiment did not resolve; refuse any other. Notes.

    Such a terminal residue (2XHE's ALA617 has only its N) is as if missing, and missing
    termini are not invented. In a file cut short inside its atom records the last residue
    is incomplete for another reason, so there it is refused.
    """
    from openmm import app

    fixer.missingResidues = {}  # none yet: the gaps are found after the trimming
    fixer.findMissingAtoms()
    incomplete = {r for r, atoms in fixer.missingAtoms.items() if any(a.name in BACKBONE for a in atoms)}
    if not incomplete:
        return []
    ends = unresolved_termini(fixer.topology, incomplete)
    if ends is None or not complete:
        # only incomplete chain ends, in a file without a record after its atoms: the file may be cut short
        cut = "" if ends is None else " (the file ends inside its atom records: it may be cut short; fetch it again)"
        raise NrepError(
            f"chain {label} of {name} lacks backbone atoms ({'; '.join(missing_backbone(fixer.missingAtoms))}), "
            "which cannot be placed reliably; rebuild the backbone first (e.g. with MODELLER or PULCHRA) or use a "
            f"complete structure{cut}"
        )
    several = fixer.topology.getNumChains() > 1
    described = [f"{residue_label(r, several)} (no {', '.join(a.name for a in fixer.missingAtoms[r] if a.name in BACKBONE)})"
                 for r in ends]
    modeller = app.Modeller(fixer.topology, fixer.positions)
    modeller.delete(ends)
    fixer.topology, fixer.positions = modeller.topology, modeller.positions
    return [f"removed terminal residues whose backbone is not in the file: {named(described)}"]


def residue_label(residue: openmm.app.Residue, several_chains: bool) -> str:
    return f"{residue.chain.id}:{residue.name}{residue.id}" if several_chains else f"{residue.name}{residue.id}"


def disulfides(topology: openmm.app.Topology) -> list[str]:
    """The SG-SG bonds OpenMM found between cysteines (their residues become CYX), as text, in residue order."""
    several = topology.getNumChains() > 1
    # OpenMM's residues do not order, so pairs are sorted by residue index (sorting the objects fails for two bonds)
    pairs = sorted(
        (sorted((a.residue, b.residue), key=lambda r: r.index)
         for a, b in topology.bonds() if a.name == "SG" and b.name == "SG" and a.residue is not b.residue),
        key=lambda pair: (pair[0].index, pair[1].index),
    )
    return [f"{residue_label(first, several)}-{residue_label(second, several)}" for first, second in pairs]


def chain_breaks(topology: openmm.app.Topology, positions_nm: np.ndarray) -> list[str]:
    """Consecutive residues of one chain whose C and N are farther apart than CHAIN_BREAK_A, as text."""
    found = []
    several = topology.getNumChains() > 1
    for chain in topology.chains():
        residues = list(chain.residues())
        for before, after in zip(residues, residues[1:]):
            c = next((a.index for a in before.atoms() if a.name == "C"), None)
            n = next((a.index for a in after.atoms() if a.name == "N"), None)
            if c is None or n is None:
                continue
            distance = 10.0 * float(np.linalg.norm(positions_nm[c] - positions_nm[n]))
            if distance > CHAIN_BREAK_A:
                found.append(f"{residue_label(before, several)}-{residue_label(after, several)} ({distance:.1f} Å)")
    return found


def _peptide_linked(residue: openmm.app.Residue, positions_nm: np.ndarray) -> bool:
    """True when ``residue`` is bonded into its chain: its N near the C before it, or its C near the N after it."""
    residues = list(residue.chain.residues())
    at = residues.index(residue)

    def atom(r: openmm.app.Residue, name: str) -> int | None:
        return next((a.index for a in r.atoms() if a.name == name), None)

    for c_of, n_of in ((residues[at - 1] if at else None, residue), (residue, residues[at + 1] if at + 1 < len(residues) else None)):
        if c_of is None or n_of is None:
            continue
        c, n = atom(c_of, "C"), atom(n_of, "N")
        if c is not None and n is not None and 10.0 * np.linalg.norm(positions_nm[c] - positions_nm[n]) < CHAIN_BREAK_A:
            return True
    return False


def unknown_amino_acids(fixer: pdbfixer.PDBFixer) -> list[str]:  # after findNonstandardResidues
    """Residues of the chain (peptide-bonded to a neighbour, with N, CA and C) that neither amber14 nor PDBFixer knows.

    A ligand with an amino-acid group (SAH, a free amino acid) is not bonded into the
    chain; it is removed with the other heterogens.
    """
    from openmm import unit
    from pdbfixer.pdbfixer import proteinResidues

    known = set(proteinResidues) | set(CAPS) | {r.name for r, _ in fixer.nonstandardResidues}
    positions = np.asarray(fixer.positions.value_in_unit(unit.nanometer))
    return [
        f"{r.name}{r.id} of chain {r.chain.id}"
        for r in fixer.topology.residues()
        if r.name not in known and {"N", "CA", "C"} <= {a.name for a in r.atoms()} and _peptide_linked(r, positions)
    ]


def replace_nonstandard_residues(fixer: pdbfixer.PDBFixer, name: str, replace_all: bool) -> tuple[dict[str, str], list[str]]:
    """Replace MSE always and other non-standard residues when ``replace_all``; refuse the rest.

    Returns the replacements made (name -> standard parent) and notes.
    """
    fixer.findNonstandardResidues()
    found = fixer.nonstandardResidues
    by_default = [(r, parent) for r, parent in found if r.name in REPLACED_BY_DEFAULT]
    asked = [(r, parent) for r, parent in found if r.name not in REPLACED_BY_DEFAULT]
    pairs = sorted({f"{r.name}->{parent}" for r, parent in asked})
    if unknown := unknown_amino_acids(fixer):
        replaceable = f" ({', '.join(pairs)} could be replaced with system.replace_nonstandard=true)" if pairs else ""
        what = (f"residue {unknown[0]} is an amino acid" if len(unknown) == 1
                else f"residues {named(unknown)} are amino acids")
        raise NrepError(
            f"{what} that neither amber14 nor PDBFixer's replacement table knows; nrep cannot fold {name} as it "
            f"is{replaceable}"
        )
    if asked and not replace_all:
        names = ", ".join(sorted({r.name for r, _ in asked}))
        raise NrepError(
            f"non-standard residues {names} in {name} have no amber14 parameters; "
            f"add system.replace_nonstandard=true to replace them ({', '.join(pairs)})"
        )
    fixer.nonstandardResidues = by_default + asked
    replaced = {r.name: parent for r, parent in fixer.nonstandardResidues}  # before PDBFixer renames the residues
    notes = [f"replaced {r}->{replaced[r]} ({REPLACED_BY_DEFAULT[r]})" for r in sorted({r.name for r, _ in by_default})]
    if asked:
        notes.append(f"replaced non-standard residues {', '.join(pairs)}")
    if replaced:
        fixer.replaceNonstandardResidues()
    return replaced, notes


def remove_heterogens(fixer: pdbfixer.PDBFixer) -> list[str]:
    """Drop waters, ions and ligands (PDBFixer's rule, but keeping end caps); their names."""
    from openmm import app
    from pdbfixer.pdbfixer import proteinResidues

    keep = set(proteinResidues) | set(CAPS)
    dropped = [r for r in fixer.topology.residues() if r.name not in keep]
    modeller = app.Modeller(fixer.topology, fixer.positions)
    modeller.delete(dropped)
    fixer.topology, fixer.positions = modeller.topology, modeller.positions
    return sorted({r.name for r in dropped})


def find_gaps(fixer: pdbfixer.PDBFixer, sequences: dict[str, list[str]]) -> dict[tuple[int, int], list[str]]:
    """Residues missing *inside* a chain per the file's sequence: (chain index, residue index) -> names.

    Missing termini are left out: the experiment did not see them, and a chain may have
    been cut on purpose. Call after the heterogens are gone (waters numbered in a chain
    would hide its gaps from PDBFixer's matching).
    """
    from pdbfixer.pdbfixer import Sequence

    fixer.sequences = [Sequence(chain_id, names) for chain_id, names in sequences.items()]
    fixer.findMissingResidues()
    sizes = [len(list(c.residues())) for c in fixer.topology.chains()]
    return {key: names for key, names in fixer.missingResidues.items() if 0 < key[1] < sizes[key[0]]}


def gap_notes(topology: openmm.app.Topology, gaps: dict[tuple[int, int], list[str]]) -> list[str]:
    chains = [list(c.residues()) for c in topology.chains()]
    several = len(chains) > 1
    notes = []
    for (chain, index), names in sorted(gaps.items()):
        before, after = chains[chain][index - 1], chains[chain][index]
        notes.append(
            f"built {len(names)} residues missing between {residue_label(before, several)} and {residue_label(after, several)} "
            f"from the file's sequence ({' '.join(names[:8])}{' ...' if len(names) > 8 else ''}); "
            "they are left out of the RMSD"
        )
    return notes
