"""Step 1 of preparing a protein: Biopython reads the file and picks what to fold.

One model (``model``, default 1), the chosen protein chains (default: the first protein
chain; nucleic-acid chains are skipped; blank chain ids with segment ids become chains
named by the segments), each alternate location resolved to its highest-occupancy
position. Deuterium (neutron structures) is treated as hydrogen: the file's H and D atoms
are dropped. Coordinates that are not finite or all in one point are refused here,
before OpenMM sees them. The result is PDB text for PDBFixer, with the file's sequence
records (SEQRES, or mmCIF's poly_seq_scheme) for filling gaps.
"""

from __future__ import annotations

import io
import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nrep.core.errors import NrepError
from nrep.core.io.structure_names import is_mmcif
from nrep.core.systems.sources import ends_after_atoms, read_structure_text

if TYPE_CHECKING:
    from Bio.PDB.Atom import Atom
    from Bio.PDB.Chain import Chain
    from Bio.PDB.Residue import Residue
    from Bio.PDB.Structure import Structure

NUCLEIC_RESIDUES = {"DA": "DNA", "DC": "DNA", "DG": "DNA", "DT": "DNA", "DI": "DNA", "DU": "DNA",
                    "A": "RNA", "C": "RNA", "G": "RNA", "U": "RNA", "I": "RNA"}
ALL_CHAINS = "all"
# Coordinates spread over less than this (Å) are one point: a placeholder, not a structure.
ONE_POINT_A = 1e-3
MAX_NAMED = 5  # residues named in a message; the rest are counted


def named(items: list[str]) -> str:
    if len(items) > MAX_NAMED:
        items = [*items[:MAX_NAMED], f"and {len(items) - MAX_NAMED} more"]
    return ", ".join(items)


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


def _parse(path: Path) -> tuple[Structure, str, dict[str, str]]:
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


def chain_kind(chain: Chain) -> str:
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
        why = f" ({named(skipped)}: {'/'.join(sorted({kinds[c] for c in skipped}))}, not protein)" if skipped else ""
        notes.append(f"kept chain{'s' if len(chosen) > 1 else ''} {named(chosen)} of {named(ids)}{why}")
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
        notes.append(f"the chain ids are blank: chains named by their segment ids ({named(list(segments.values()))})")
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
        notes.append(f"chain{'s' if len(renamed) > 1 else ''} {named(list(renamed))} written as "
                     f"{named(list(renamed.values()))} for OpenMM (PDB chain ids have one character)")
    keep = set(written_ids.values())
    resolved: list[int] = [0]

    class FirstChoice(Select):
        """The chosen chains; only the selected (highest-occupancy) residue and atom of each disordered one."""

        def accept_chain(self, chain: Chain) -> bool:
            return chain.id in keep

        # PDBIO hands over copies, so entities are compared by residue name and altloc.
        def accept_residue(self, residue: Residue) -> bool:
            top = residue.get_parent()[residue.get_id()]
            return top.is_disordered() != 2 or top.disordered_get().get_resname() == residue.get_resname()

        def accept_atom(self, atom: Atom) -> bool:
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
