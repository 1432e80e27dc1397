"""From a structure file to a parameterised all-atom protein, with Biopython, PDBFixer and OpenMM.

1. Biopython reads the file (PDB or mmCIF) and keeps model 1, with each alternate
   location resolved to its highest-occupancy position.
2. PDBFixer keeps one chain (the first unless told otherwise), removes waters, ions and
   ligands, optionally replaces non-standard residues by their standard parents, and adds
   missing heavy atoms (missing terminal residues are not built; a gap inside the chain
   is refused).
3. OpenMM's ``Modeller`` adds hydrogens for the given pH with ``amber14-all.xml``, and the
   ``System`` is built in vacuum without cutoff or constraints.

Every force-field number comes from the XML; nothing is typed here. What was removed or
changed is returned as notes, for the log and the summary.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nrep.core.errors import NrepError
from nrep.core.systems.sources import cut_short_record, looks_binary

FORCEFIELD = "amber14-all.xml"
# End caps amber14 has templates for; PDBFixer counts them as heterogens.
CAPS = ("ACE", "NME", "NH2")
# A peptide C-N bond is 1.33 Å; consecutive residues farther apart than this are not bonded.
CHAIN_BREAK_A = 2.0


@dataclass
class PreparedProtein:
    topology: object  # openmm.app.Topology
    positions_nm: np.ndarray  # (n, 3)
    system: object  # openmm.System
    chain: str
    variants: list  # per residue: the protonation variant (HID, GLH, CYX, ...) or None
    notes: list[str] = field(default_factory=list)


def structure_text(path: Path) -> str:
    """The text of a structure file, or a one-line error if it is empty, binary or cut short."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise NrepError(f"cannot read {path}: {error.strerror}; check the path and its permissions") from error
    if not data.strip():
        raise NrepError(f"{path} is empty; pass a PDB or mmCIF file with coordinates")
    if looks_binary(data):
        raise NrepError(f"{path} holds binary data, not PDB or mmCIF text; pass a PDB or mmCIF file")
    text = data.decode("utf-8", errors="replace")
    is_cif = path.suffix.lower() == ".cif"
    starts_as_cif = text.lstrip().lower().startswith("data_")
    if is_cif and not starts_as_cif:
        fix = "it holds PDB records: rename it to .pdb" if _has_pdb_atoms(text) else "pass a PDB or mmCIF file"
        raise NrepError(f"{path} is not an mmCIF file (mmCIF begins with data_); {fix}")
    if not is_cif and starts_as_cif:
        raise NrepError(f"{path} holds mmCIF, not PDB records; rename it to .cif")
    if not is_cif and (line := cut_short_record(data)) is not None:
        raise NrepError(
            f"{path} looks truncated: line {line} is an atom record cut short before its coordinates; "
            "fetch the file again (delete it from the cache if it came from there)"
        )
    return text


def _has_pdb_atoms(text: str) -> bool:
    return any(line.startswith(("ATOM  ", "HETATM")) for line in text.splitlines())


def _parse(path: Path):  # noqa: ANN202 - Bio.PDB.Structure
    from Bio.PDB import MMCIFParser, PDBParser

    text = structure_text(path)
    parser = MMCIFParser(QUIET=True) if path.suffix.lower() == ".cif" else PDBParser(QUIET=True)
    try:
        return parser.get_structure(path.stem, io.StringIO(text))
    except Exception as error:  # noqa: BLE001 - the parsers raise many kinds on bad files
        raise NrepError(f"cannot read {path}: {error}; check that it is a PDB or mmCIF file") from error


def first_model_pdb(path: Path) -> tuple[str, list[str]]:
    """PDB text of model 1 of ``path`` with alternate locations resolved, and notes."""
    from Bio.PDB import PDBIO, Select

    structure = _parse(path)
    models = list(structure)
    if not models or not any(True for _ in models[0].get_atoms()):
        raise NrepError(f"{path} holds no atoms; check that it is a PDB or mmCIF file with coordinates")
    notes = [f"used model 1 of {len(models)}"] if len(models) > 1 else []
    if path.suffix.lower() == ".cif":
        # Biopython reads the author's chain ids and residue numbers, the ones --chain takes
        notes.insert(0, "read mmCIF with the author's chain ids and residue numbers")
    resolved: list[int] = [0]

    class FirstChoice(Select):
        """Only the selected (highest-occupancy) residue and atom of each disordered one."""

        # PDBIO hands over copies, so entities are compared by residue name and altloc.
        def accept_residue(self, residue) -> bool:  # noqa: ANN001
            top = residue.get_parent()[residue.get_id()]
            return top.is_disordered() != 2 or top.disordered_get().get_resname() == residue.get_resname()

        def accept_atom(self, atom) -> bool:  # noqa: ANN001
            if not atom.is_disordered():
                return True
            if atom.get_parent()[atom.get_id()].disordered_get().get_altloc() != atom.get_altloc():
                return False
            resolved[0] += 1
            return True

    writer, buffer = PDBIO(), io.StringIO()
    writer.set_structure(models[0])
    writer.save(buffer, FirstChoice())
    if resolved[0]:
        notes.append(f"resolved {resolved[0]} atoms with alternate locations (highest occupancy)")
    return buffer.getvalue(), notes


BACKBONE = ("N", "CA", "C")
MAX_NAMED = 5  # residues named in a message; the rest are counted


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


def disulfides(topology) -> list[str]:  # noqa: ANN001 - openmm.app.Topology
    """The SG-SG bonds OpenMM found between cysteines (their residues become CYX), as text."""
    pairs = sorted(
        sorted((a.residue, b.residue), key=lambda r: r.index)
        for a, b in topology.bonds()
        if a.name == "SG" and b.name == "SG" and a.residue is not b.residue
    )
    return [f"{first.name}{first.id}-{second.name}{second.id}" for first, second in pairs]


def chain_breaks(topology, positions_nm: np.ndarray) -> list[str]:  # noqa: ANN001
    """Consecutive residues whose C and N are farther apart than CHAIN_BREAK_A, as text."""
    found = []
    residues = list(topology.residues())
    for before, after in zip(residues, residues[1:]):
        c = next((a.index for a in before.atoms() if a.name == "C"), None)
        n = next((a.index for a in after.atoms() if a.name == "N"), None)
        if c is None or n is None:
            continue
        distance = 10.0 * float(np.linalg.norm(positions_nm[c] - positions_nm[n]))
        if distance > CHAIN_BREAK_A:
            found.append(f"{before.name}{before.id}-{after.name}{after.id} ({distance:.1f} Å)")
    return found


def remove_heterogens(fixer) -> list[str]:  # noqa: ANN001 - pdbfixer.PDBFixer
    """Drop waters, ions and ligands (PDBFixer's rule, but keeping end caps); their names."""
    from openmm import app
    from pdbfixer.pdbfixer import proteinResidues

    keep = set(proteinResidues) | set(CAPS)
    dropped = [r for r in fixer.topology.residues() if r.name not in keep]
    for residue in dropped:
        if {"N", "CA", "C"} <= {a.name for a in residue.atoms()}:
            raise NrepError(
                f"residue {residue.name}{residue.id} of chain {residue.chain.id} is an amino acid that neither "
                "amber14 nor PDBFixer's replacement table knows; nrep cannot fold this chain as it is"
            )
    modeller = app.Modeller(fixer.topology, fixer.positions)
    modeller.delete(dropped)
    fixer.topology, fixer.positions = modeller.topology, modeller.positions
    return sorted({r.name for r in dropped})


def prepare_protein(path: Path, chain: str | None = None, ph: float = 7.0, replace_nonstandard: bool = False) -> PreparedProtein:
    """Fix and parameterise one chain of the structure in ``path`` (.pdb or .cif)."""
    from openmm import app, unit
    from pdbfixer import PDBFixer

    text, notes = first_model_pdb(path)
    try:
        fixer = PDBFixer(pdbfile=io.StringIO(text))
    except Exception as error:  # noqa: BLE001 - PDBFixer raises many kinds on bad input
        raise NrepError(f"cannot read {path}: {error}; check that it is a PDB or mmCIF file") from error
    chains = list(fixer.topology.chains())
    ids = [c.id for c in chains]
    chosen = chain if chain is not None else ids[0]
    if chosen not in ids:
        raise NrepError(f"chain {chosen!r} is not in {path.name} (chains: {', '.join(ids)}); pass --chain with one of them")
    drop = [i for i, c in enumerate(chains) if c.id != chosen]
    if drop:
        fixer.removeChains(drop)
        notes.append(f"kept chain {chosen} of {', '.join(ids)}")

    fixer.findMissingResidues()
    fixer.missingResidues = {}  # termini missing from the experiment are not invented
    fixer.findNonstandardResidues()
    if fixer.nonstandardResidues:
        pairs = sorted({f"{residue.name}->{parent}" for residue, parent in fixer.nonstandardResidues})
        if not replace_nonstandard:
            names = ", ".join(sorted({residue.name for residue, _ in fixer.nonstandardResidues}))
            raise NrepError(
                f"non-standard residues {names} in {path.name} have no amber14 parameters; "
                f"add system.replace_nonstandard=true to replace them ({', '.join(pairs)})"
            )
        fixer.replaceNonstandardResidues()
        notes.append(f"replaced non-standard residues {', '.join(pairs)}")
    removed = remove_heterogens(fixer)
    if removed:
        notes.append(f"removed waters, ions and ligands: {', '.join(removed)}")
    if fixer.topology.getNumResidues() == 0:
        raise NrepError(f"chain {chosen} of {path.name} holds no amino acids; pass --chain with a protein chain")
    fixer.findMissingAtoms()
    if gaps := missing_backbone(fixer.missingAtoms):
        raise NrepError(
            f"chain {chosen} of {path.name} lacks backbone atoms ({'; '.join(gaps)}), which cannot be placed "
            "reliably; rebuild the backbone first (e.g. with MODELLER or PULCHRA) or use a complete structure"
        )
    missing = sum(len(atoms) for atoms in fixer.missingAtoms.values()) + sum(
        len(atoms) for atoms in fixer.missingTerminals.values()
    )
    fixer.addMissingAtoms(seed=0)  # its relaxation of new atoms may run dynamics: seeded for reproducibility
    if missing:
        notes.append(f"added {missing} missing heavy atoms")
    breaks = chain_breaks(fixer.topology, np.asarray(fixer.positions.value_in_unit(unit.nanometer)))
    if breaks:
        raise NrepError(
            f"chain {chosen} of {path.name} is broken between {', '.join(breaks)}; nrep folds one continuous "
            "chain: pick another --chain or fill the gap (e.g. with PDBFixer) first"
        )

    forcefield = app.ForceField(FORCEFIELD)
    modeller = app.Modeller(fixer.topology, fixer.positions)
    try:
        add_hydrogens_reproducibly(modeller, forcefield, ph)
        system = forcefield.createSystem(modeller.topology, nonbondedMethod=app.NoCutoff, constraints=None)
    except ValueError as error:
        raise NrepError(f"amber14 cannot parameterise {path.name}: {str(error).splitlines()[0]}") from error
    positions = np.asarray(modeller.positions.value_in_unit(unit.nanometer), dtype=np.float64)
    if bridges := disulfides(modeller.topology):
        notes.append(f"disulfide bonds (CYX): {', '.join(bridges)}")
    return PreparedProtein(modeller.topology, positions, system, chosen, protonation_variants(modeller.topology), notes)


def protonation_variants(topology) -> list:  # noqa: ANN001
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


def add_hydrogens_reproducibly(modeller, forcefield, ph: float, variants: list | None = None) -> None:  # noqa: ANN001
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


def add_hydrogens(topology, positions_nm: np.ndarray, variants: list, ph: float = 7.0):  # noqa: ANN001, ANN201
    """(topology, positions in nm) with hydrogens added as for the reference (same variants)."""
    from openmm import app, unit

    modeller = app.Modeller(topology, positions_nm * unit.nanometer)
    add_hydrogens_reproducibly(modeller, app.ForceField(FORCEFIELD), ph, variants)
    return modeller.topology, np.asarray(modeller.positions.value_in_unit(unit.nanometer), dtype=np.float64)
