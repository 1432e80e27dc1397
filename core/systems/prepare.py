"""From a structure file to a parameterised all-atom protein, with Biopython, PDBFixer and OpenMM.

1. Biopython reads the file (PDB or mmCIF, plain or gzipped) and keeps one model
   (``model``, default 1), the chosen protein chains (default: the first protein chain;
   nucleic-acid chains are skipped), each alternate location resolved to its
   highest-occupancy position. Deuterium (neutron structures) is treated as hydrogen:
   the file's H and D atoms are dropped and hydrogens added as for any other file.
   Coordinates that are not finite or all in one point are refused here, before OpenMM.
2. PDBFixer removes waters, ions and ligands (keeping end caps), replaces
   selenomethionine by methionine (always) and other non-standard residues by their
   standard parents (when asked), builds residues missing *inside* a chain from the
   file's sequence (``gaps="fill"``; missing termini are not invented), and adds missing
   heavy atoms.
3. OpenMM's ``Modeller`` adds hydrogens for the given pH with ``amber14-all.xml``, and the
   ``System`` is built in vacuum without cutoff or constraints.

Every force-field number comes from the XML; nothing is typed here. What was removed or
changed is returned as notes, for the log and the summary; what cannot be done is one
line naming the residue and the fix (OpenMM's template errors are translated).
"""

from __future__ import annotations

import io
import re
import string
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nrep.configs.schema import GAP_CHOICES
from nrep.core.errors import NrepError
from nrep.core.systems.sources import ends_after_atoms, is_mmcif, read_structure_text

FORCEFIELD = "amber14-all.xml"
# End caps amber14 has templates for; PDBFixer counts them as heterogens.
CAPS = ("ACE", "NME", "NH2")
# A peptide C-N bond is 1.33 Å; consecutive residues farther apart than this are not bonded.
CHAIN_BREAK_A = 2.0
# Non-standard residues replaced without being asked, and why (noted in the summary).
REPLACED_BY_DEFAULT = {"MSE": "selenomethionine, the usual X-ray stand-in for methionine"}  # by PDBFixer's parent
NUCLEIC_RESIDUES = {"DA": "DNA", "DC": "DNA", "DG": "DNA", "DT": "DNA", "DI": "DNA", "DU": "DNA",
                    "A": "RNA", "C": "RNA", "G": "RNA", "U": "RNA", "I": "RNA"}
ALL_CHAINS = "all"
# Coordinates spread over less than this (Å) are one point: a placeholder, not a structure.
ONE_POINT_A = 1e-3


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


def parse_chain_spec(spec: str | None) -> list[str] | str | None:
    """``None`` (the first protein chain), ``"all"``, or a list of chain ids from "A", "A,B" or "A+B"."""
    if spec is None:
        return None
    text = str(spec).strip()
    if text.lower() == ALL_CHAINS:
        return ALL_CHAINS
    ids = [part.strip() for part in re.split(r"[,+]", text)]
    if not text or any(not part for part in ids):
        raise NrepError(f"--chain {spec!r} is not a chain list; write one id (A), several (A,B or A+B) or all")
    if len(set(ids)) != len(ids):
        raise NrepError(f"--chain {spec!r} names a chain twice; name each chain once")
    return ids


ATOM_RECORDS = ("ATOM  ", "HETATM")
CHAIN_RECORDS = (*ATOM_RECORDS, "ANISOU", "TER")  # the records that carry a chain id


def chains_from_segments(text: str) -> tuple[str, dict[str, str]]:
    """PDB text whose chain ids are all blank but whose segment ids differ (CHARMM-GUI, NAMD) with a
    chain letter per segment, and letter -> segment id; other text as it is.

    Without this the segments would merge into one chain, and residues numbered alike in
    two segments would be lost as duplicates.
    """
    atoms = [line for line in text.splitlines() if line.startswith(ATOM_RECORDS)]
    segments = list(dict.fromkeys(line[72:76].strip() for line in atoms))
    if any(line[21:22].strip() for line in atoms) or len(segments) < 2 or "" in segments:
        return text, {}
    letters = dict(zip(segments, string.ascii_uppercase + string.digits + string.ascii_lowercase))
    if len(letters) < len(segments):
        return text, {}
    lines = [
        line[:21] + letters[line[72:76].strip()] + line[22:]
        if line.startswith(CHAIN_RECORDS) and line[72:76].strip() in letters else line
        for line in text.splitlines()
    ]
    return "\n".join(lines) + "\n", {letter: segment for segment, letter in letters.items()}


def _parse(path: Path):  # noqa: ANN202 - Bio.PDB.Structure
    from Bio.PDB import MMCIFParser, PDBParser

    text = read_structure_text(path)
    segments: dict[str, str] = {}
    if not is_mmcif(path):
        text, segments = chains_from_segments(text)
    parser = MMCIFParser(QUIET=True) if is_mmcif(path) else PDBParser(QUIET=True)
    try:
        structure = parser.get_structure(path.stem, io.StringIO(text))
        for model in structure:
            renamed = [chain for chain in model if chain.id in segments]
            for chain in renamed:  # in two steps: a segment may be named like another chain's letter
                chain.id = "\0" + chain.id
            for chain in renamed:
                chain.id = segments[chain.id[1:]]
        return structure, text, segments
    except KeyError as error:  # MMCIFParser on a file without a mandatory item
        raise NrepError(f"cannot read {path}: the mmCIF item {error} is missing; check that it is a complete mmCIF file") from error
    except Exception as error:  # the parsers raise many kinds on bad files
        raise NrepError(f"cannot read {path}: {error}; check that it is a PDB or mmCIF file") from error


def chain_kind(chain) -> str:  # noqa: ANN001 - Bio.PDB.Chain
    """``protein`` (any amino acid, standard or not), ``DNA``/``RNA``, or ``other`` (waters, ligands, ions)."""
    from Bio.PDB.Polypeptide import is_aa

    residues = [r for r in chain if r.id[0] != "W"]
    amino_acids = sum(is_aa(r, standard=False) or {"N", "CA", "C"} <= {a.get_id() for a in r} for r in residues)
    # standard amino acids, a peptide of modified ones, or one modified amino acid on its own; a single
    # hetero group with an amino-acid part beside other groups is a ligand
    if any(is_aa(r, standard=True) for r in residues) or amino_acids > 1 or amino_acids == len(residues) == 1:
        return "protein"
    kinds = {NUCLEIC_RESIDUES[r.get_resname().strip()] for r in residues if r.get_resname().strip() in NUCLEIC_RESIDUES}
    return "/".join(sorted(kinds)) if kinds else "other"


def choose_chains(spec: str | None, kinds: dict[str, str], name: str) -> tuple[list[str], list[str]]:
    """The chain ids to fold (in file order) for ``spec``, and notes; one-line errors for impossible choices."""
    ids = list(kinds)
    listed = ", ".join(f"{c} ({k})" if k != "protein" else c for c, k in kinds.items())
    protein = [c for c in ids if kinds[c] == "protein"]
    wanted = parse_chain_spec(spec)
    notes: list[str] = []
    if wanted is None or wanted == ALL_CHAINS:
        if not protein:
            chain = ids[0] if len(ids) == 1 else None
            where = f"chain {chain} of {name}" if chain else f"{name} (chains: {listed})"
            raise NrepError(f"{where} holds no amino acids; pass --chain with a protein chain")
        chosen = protein[:1] if wanted is None else protein
    else:
        missing = [c for c in wanted if c not in kinds]
        if missing:
            raise NrepError(
                f"chain {missing[0]!r} is not in {name} (chains: {', '.join(ids)}); pass --chain with one of them"
            )
        chosen = [c for c in ids if c in wanted]
        for c in chosen:
            if kinds[c] != "protein":
                what = f"is {kinds[c]}" if kinds[c] != "other" else "holds no amino acids"
                raise NrepError(f"chain {c} of {name} {what}; pass --chain with a protein chain")
    if len(ids) > len(chosen):
        skipped = [c for c in ids if c not in chosen and kinds[c] not in ("protein", "other")]
        why = f" ({_named(skipped)}: {'/'.join(sorted({kinds[c] for c in skipped}))}, not protein)" if skipped else ""
        notes.append(f"kept chain{'s' if len(chosen) > 1 else ''} {_named(chosen)} of {_named(ids)}{why}")
    return chosen, notes


def read_sequences(text: str, cif: bool) -> dict[str, list[str]]:
    """Each chain's full sequence (residue names) from SEQRES, or mmCIF's poly_seq_scheme / entity_poly_seq."""
    if not cif:
        sequences: dict[str, list[str]] = {}
        for line in text.splitlines():
            if line.startswith("SEQRES"):
                sequences.setdefault(line[11], []).extend(line[19:].split())
        return sequences
    from Bio.PDB.MMCIF2Dict import MMCIF2Dict

    try:
        data = MMCIF2Dict(io.StringIO(text))
    except Exception:  # noqa: BLE001 - a file Biopython's parser read; its dictionary is a bonus
        return {}
    sequences = {}
    if "_pdbx_poly_seq_scheme.pdb_strand_id" in data:
        seen = set()
        for strand, number, name in zip(data["_pdbx_poly_seq_scheme.pdb_strand_id"], data["_pdbx_poly_seq_scheme.seq_id"],
                                        data["_pdbx_poly_seq_scheme.mon_id"]):
            if (strand, number) not in seen:  # microheterogeneity: the first residue of a position
                seen.add((strand, number))
                sequences.setdefault(strand, []).append(name)
    elif "_entity_poly.pdbx_strand_id" in data and "_entity_poly_seq.entity_id" in data:
        by_entity: dict[str, list[str]] = {}
        for entity, name in zip(data["_entity_poly_seq.entity_id"], data["_entity_poly_seq.mon_id"]):
            by_entity.setdefault(entity, []).append(name)
        for entity, strands in zip(data["_entity_poly.entity_id"], data["_entity_poly.pdbx_strand_id"]):
            for strand in strands.split(","):
                sequences[strand.strip()] = by_entity.get(entity, [])
    return sequences


@dataclass
class ModelText:
    """The chosen chains of one model as PDB text, ready for PDBFixer."""

    pdb_text: str
    chains: list[str]  # the file's chain ids, in file order
    written_ids: dict[str, str]  # file chain id -> the single-character id in pdb_text
    sequences: dict[str, list[str]]  # written id -> sequence from the file's SEQRES (may be empty)
    notes: list[str]
    complete: bool  # some record follows the atoms: the file was not cut short inside them


def model_text(path: Path, chain: str | None = None, model: int = 1) -> ModelText:
    """Model ``model`` of ``path``, its chosen chains, alternate locations resolved, as PDB text."""
    from Bio.PDB import PDBIO, Select

    structure, text, segments = _parse(path)
    models = list(structure)
    if not models or not any(True for _ in models[0].get_atoms()):
        raise NrepError(f"{path} holds no atoms; check that it is a PDB or mmCIF file with coordinates")
    if not 1 <= model <= len(models):
        raise NrepError(f"system.model={model}, but {path.name} holds {len(models)} model(s); choose 1 to {len(models)}")
    notes = [f"used model {model} of {len(models)}"] if len(models) > 1 else []
    if segments:
        notes.append(f"the chain ids are blank: chains named by their segment ids ({_named(list(segments.values()))})")
    if is_mmcif(path):
        # Biopython reads the author's chain ids and residue numbers, the ones --chain takes
        notes.insert(0, "read mmCIF with the author's chain ids and residue numbers")
    chosen_model = models[model - 1]
    kinds = {c.id: chain_kind(c) for c in chosen_model}
    chosen, chain_notes = choose_chains(chain, kinds, path.name)
    notes += chain_notes
    atoms = [a for c in chosen_model if c.id in chosen for a in c.get_atoms()]
    check_coordinates(np.array([a.coord for a in atoms], dtype=np.float64), path.name)
    deuterated = any(a.element == "D" for a in atoms)
    hydrogens = sum(a.element in ("H", "D") for a in atoms)
    if deuterated:
        notes.append(f"deuterium treated as hydrogen: dropped the file's {hydrogens} H and D atoms; hydrogens are added for the pH")

    written_ids = _single_character_ids(chosen, [c.id for c in chosen_model])
    renamed = {original: new for original, new in written_ids.items() if new != original}
    for original, new in renamed.items():
        chosen_model[original].id = new
    if renamed:
        notes.append(f"chain{'s' if len(renamed) > 1 else ''} {_named(list(renamed))} written as "
                     f"{_named(list(renamed.values()))} for OpenMM (PDB chain ids have one character)")
    keep = set(written_ids.values())
    resolved: list[int] = [0]

    class FirstChoice(Select):
        """The chosen chains; only the selected (highest-occupancy) residue and atom of each disordered one."""

        def accept_chain(self, chain) -> bool:  # noqa: ANN001
            return chain.id in keep

        # PDBIO hands over copies, so entities are compared by residue name and altloc.
        def accept_residue(self, residue) -> bool:  # noqa: ANN001
            top = residue.get_parent()[residue.get_id()]
            return top.is_disordered() != 2 or top.disordered_get().get_resname() == residue.get_resname()

        def accept_atom(self, atom) -> bool:  # noqa: ANN001
            if deuterated and atom.element in ("H", "D"):
                return False
            if not atom.is_disordered():
                return True
            if atom.get_parent()[atom.get_id()].disordered_get().get_altloc() != atom.get_altloc():
                return False
            resolved[0] += 1
            return True

    writer, buffer = PDBIO(), io.StringIO()
    writer.set_structure(chosen_model)
    writer.save(buffer, FirstChoice())
    if resolved[0]:
        notes.append(f"resolved {resolved[0]} atoms with alternate locations (highest occupancy)")
    sequences = read_sequences(text, is_mmcif(path))
    written_sequences = {written_ids[c]: sequences[c] for c in chosen if sequences.get(c)}
    return ModelText(buffer.getvalue(), chosen, written_ids, written_sequences, notes, ends_after_atoms(text))


def _single_character_ids(chosen: list[str], all_ids: list[str]) -> dict[str, str]:
    """Chosen chain id -> itself when it has one character, else a free letter or digit."""
    free = [c for c in string.ascii_uppercase + string.digits + string.ascii_lowercase if c not in all_ids]
    written = {}
    for chain in chosen:
        if len(chain) == 1:
            written[chain] = chain
        elif free:
            written[chain] = free.pop(0)
        else:
            raise NrepError(f"chain {chain} cannot be written with a one-character id; fold fewer chains at once")
    return written


def check_coordinates(x_A: np.ndarray, name: str) -> None:
    """Refuse coordinates that are not finite, or all in one point (OpenMM would fail on them obscurely)."""
    bad = ~np.isfinite(x_A).all(axis=1)
    if bad.any():
        raise NrepError(
            f"{name} has {int(bad.sum())} atoms whose coordinates are not numbers (NaN or infinite); "
            "the file is damaged: download or export it again"
        )
    if len(x_A) > 1 and float(np.ptp(x_A, axis=0).max()) < ONE_POINT_A:
        where = ", ".join(f"{v:.3f}" for v in x_A[0])
        raise NrepError(
            f"all {len(x_A)} atoms of {name} sit at one point ({where}): the file has no real coordinates; "
            "pass a structure with coordinates (an experimental entry or a built model)"
        )


BACKBONE = ("N", "CA", "C")
MAX_NAMED = 5  # residues named in a message; the rest are counted


def _named(items: list[str]) -> str:
    if len(items) > MAX_NAMED:
        items = [*items[:MAX_NAMED], f"and {len(items) - MAX_NAMED} more"]
    return ", ".join(items)


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


def unresolved_termini(topology, incomplete: set) -> list | None:  # noqa: ANN001 - openmm.app.Topology
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


def trim_unresolved_termini(fixer, name: str, label: str, complete: bool) -> list[str]:  # noqa: ANN001
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
    described = [f"{_label(r, several)} (no {', '.join(a.name for a in fixer.missingAtoms[r] if a.name in BACKBONE)})"
                 for r in ends]
    modeller = app.Modeller(fixer.topology, fixer.positions)
    modeller.delete(ends)
    fixer.topology, fixer.positions = modeller.topology, modeller.positions
    return [f"removed terminal residues whose backbone is not in the file: {_named(described)}"]


def _label(residue, several_chains: bool) -> str:  # noqa: ANN001 - openmm.app.Residue
    return f"{residue.chain.id}:{residue.name}{residue.id}" if several_chains else f"{residue.name}{residue.id}"


def disulfides(topology) -> list[str]:  # noqa: ANN001 - openmm.app.Topology
    """The SG-SG bonds OpenMM found between cysteines (their residues become CYX), as text, in residue order."""
    several = topology.getNumChains() > 1
    # OpenMM's residues do not order, so pairs are sorted by residue index (sorting the objects fails for two bonds)
    pairs = sorted(
        (sorted((a.residue, b.residue), key=lambda r: r.index)
         for a, b in topology.bonds() if a.name == "SG" and b.name == "SG" and a.residue is not b.residue),
        key=lambda pair: (pair[0].index, pair[1].index),
    )
    return [f"{_label(first, several)}-{_label(second, several)}" for first, second in pairs]


def chain_breaks(topology, positions_nm: np.ndarray) -> list[str]:  # noqa: ANN001
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
                found.append(f"{_label(before, several)}-{_label(after, several)} ({distance:.1f} Å)")
    return found


def _peptide_linked(residue, positions_nm: np.ndarray) -> bool:  # noqa: ANN001 - openmm.app.Residue
    """True when ``residue`` is bonded into its chain: its N near the C before it, or its C near the N after it."""
    residues = list(residue.chain.residues())
    at = residues.index(residue)

    def atom(r, name: str):  # noqa: ANN001, ANN202
        return next((a.index for a in r.atoms() if a.name == name), None)

    for c_of, n_of in ((residues[at - 1] if at else None, residue), (residue, residues[at + 1] if at + 1 < len(residues) else None)):
        if c_of is None or n_of is None:
            continue
        c, n = atom(c_of, "C"), atom(n_of, "N")
        if c is not None and n is not None and 10.0 * np.linalg.norm(positions_nm[c] - positions_nm[n]) < CHAIN_BREAK_A:
            return True
    return False


def unknown_amino_acids(fixer) -> list[str]:  # noqa: ANN001 - pdbfixer.PDBFixer after findNonstandardResidues
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


def replace_nonstandard_residues(fixer, name: str, replace_all: bool) -> tuple[dict[str, str], list[str]]:  # noqa: ANN001
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
                else f"residues {_named(unknown)} are amino acids")
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


def remove_heterogens(fixer) -> list[str]:  # noqa: ANN001 - pdbfixer.PDBFixer
    """Drop waters, ions and ligands (PDBFixer's rule, but keeping end caps); their names."""
    from openmm import app
    from pdbfixer.pdbfixer import proteinResidues

    keep = set(proteinResidues) | set(CAPS)
    dropped = [r for r in fixer.topology.residues() if r.name not in keep]
    modeller = app.Modeller(fixer.topology, fixer.positions)
    modeller.delete(dropped)
    fixer.topology, fixer.positions = modeller.topology, modeller.positions
    return sorted({r.name for r in dropped})


def find_gaps(fixer, sequences: dict[str, list[str]]) -> dict[tuple[int, int], list[str]]:  # noqa: ANN001
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


def gap_notes(topology, gaps: dict[tuple[int, int], list[str]]) -> list[str]:  # noqa: ANN001
    chains = [list(c.residues()) for c in topology.chains()]
    several = len(chains) > 1
    notes = []
    for (chain, index), names in sorted(gaps.items()):
        before, after = chains[chain][index - 1], chains[chain][index]
        notes.append(
            f"built {len(names)} residues missing between {_label(before, several)} and {_label(after, several)} "
            f"from the file's sequence ({' '.join(names[:8])}{' ...' if len(names) > 8 else ''}); "
            "they are left out of the RMSD"
        )
    return notes


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


def explain_template_error(error: ValueError, topology, forcefield, name: str) -> str:  # noqa: ANN001
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

    def heavy_names(template) -> set[str]:  # noqa: ANN001
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
