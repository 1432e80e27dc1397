"""The extended start of a protein: its sequence as a straight chain (paper §4.4, Fig. 7a).

Ideal residue geometry from PeptideBuilder, every backbone dihedral at 180°
(φ = ψ = ω = 180°) and the peptide C–N bond at the paper's 1.32 Å. Heavy atoms come
from the builder; hydrogens are added by OpenMM with the reference's protonation
variants, and the atoms are put in the reference's order, so the start and the
reference share one topology and one force field. End caps (ACE, NME, NH2) are built
from glycine stand-ins: ACE's CH3/C/O from a glycine's CA/C/O, NME's N/C and NH2's N
from a glycine's N/CA.
PeptideBuilder's default side-chain rotamers can hit the neighbouring backbone in a
fully extended chain, so each side chain takes, of its χ1/χ2 rotations by 0, 120 and
240°, the one farthest from the residues before it and the backbone after it.
"""

from __future__ import annotations

import io
import itertools
from typing import TYPE_CHECKING

import numpy as np
from Bio.PDB import PDBIO
from Bio.PDB.Polypeptide import protein_letters_3to1

from nrep.core.errors import NrepError

if TYPE_CHECKING:
    from collections.abc import Callable

    import openmm.app
    from Bio.PDB.Structure import Structure
    from PeptideBuilder.Geometry import Geo

PEPTIDE_BOND_A = 1.32
# Cap residue -> {its atom name: the glycine stand-in atom it takes the place of}.
CAPS = {"ACE": {"CH3": "CA", "C": "C", "O": "O"}, "NME": {"N": "N", "C": "CA"}, "NH2": {"N": "N"}}


def one_letter_sequence(residue_names: list[str]) -> str:
    """'GLY', 'TRP', ... -> 'GW...' (standard residues only)."""
    try:
        return "".join(protein_letters_3to1[name.upper()] for name in residue_names)
    except KeyError as error:
        raise ValueError(f"no one-letter code for residue {error.args[0]}") from error


def extended_chain_pdb(sequence: str, peptide_bond: float = PEPTIDE_BOND_A, rng: np.random.Generator | None = None) -> str:
    """PDB text of :func:`extended_chain` (heavy atoms) for a one-letter sequence."""
    buffer = io.StringIO()
    writer = PDBIO()
    writer.set_structure(extended_chain(sequence, peptide_bond, rng))
    writer.save(buffer)
    return buffer.getvalue()


def peptide_pdb(sequence: str, helix: bool = True) -> str:
    """PDB text (heavy atoms, Å) of a peptide built from its one-letter sequence by PeptideBuilder:
    an ideal α-helix (φ −57°, ψ −47°) or PeptideBuilder's extended chain. For tests and
    benchmarks that need a protein no file holds (nrep prepares it like any other)."""
    import PeptideBuilder

    n = len(sequence)
    if helix:
        structure = PeptideBuilder.make_structure(sequence, [-57.0] * (n - 1), [-47.0] * (n - 1))
    else:
        structure = PeptideBuilder.make_extended_structure(sequence)
    buffer, writer = io.StringIO(), PDBIO()
    writer.set_structure(structure)
    writer.save(buffer)
    return buffer.getvalue()


def extended_chain(sequence: str, peptide_bond: float = PEPTIDE_BOND_A, rng: np.random.Generator | None = None) -> Structure:
    """The chain (heavy atoms, a Bio.PDB structure, Å) for a one-letter sequence.

    Without ``rng`` the chain is fully extended (φ = ψ = ω = 180°). With ``rng`` it is a
    self-avoiding random coil: each residue's φ and the previous ψ are drawn uniformly
    (ω stays 180°), up to RANDOM_TRIES times, until its backbone is at least
    RANDOM_MIN_GAP_A from every residue two or more places back (else the best draw).
    """
    import PeptideBuilder
    from PeptideBuilder import Geometry

    def geometry(letter: str, chi1: float = 0.0, chi2: float = 0.0, phi: float = 180.0, psi_before: float = 180.0) -> Geo:
        geo = Geometry.geometry(letter)
        geo.peptide_bond = peptide_bond
        geo.phi, geo.psi_im1, geo.omega = phi, psi_before, 180.0
        for name in vars(geo):
            if name.startswith("N_CA_CB_") and name.endswith("_diangle"):
                setattr(geo, name, getattr(geo, name) + chi1)
            elif name.startswith("CA_CB_CG") and name.endswith("_diangle"):
                setattr(geo, name, getattr(geo, name) + chi2)
        return geo

    if not sequence:
        raise ValueError("an empty sequence has no structure")
    structure = PeptideBuilder.initialize_res(geometry(sequence[0]))
    # Atoms of every residue before the last, final once the next residue is placed. Each
    # trial is built on a copy of the last residue only (PeptideBuilder places a residue
    # from the one before it), so a chain costs O(n) copies, not O(n^2).
    earlier = np.empty((0, 3), dtype=np.float32)
    for letter in sequence[1:]:
        phi, psi_before = 180.0, 180.0
        if rng is not None:
            make = lambda a, b: geometry(letter, phi=a, psi_before=b)  # noqa: B023, E731 - used in this iteration only
            phi, psi_before = _random_backbone(structure, earlier, make, rng)
        best, best_gap = None, -1.0
        for chi1, chi2 in itertools.product((0.0, 120.0, 240.0), repeat=2):
            trial = geometry(letter, chi1, chi2, phi, psi_before)
            placed = PeptideBuilder.add_residue(_last_residue(structure), trial)
            # score against the earlier residues and the backbone of the next one (a glycine stand-in)
            gap = _side_chain_gap(PeptideBuilder.add_residue(placed, geometry("G")), earlier)
            if gap > best_gap:
                best, best_gap = trial, gap
            if letter in "GAP":  # no side chain to turn (proline: a closed ring)
                break
        PeptideBuilder.add_residue(structure, best)
        before_last = structure[0]["A"].child_list[-2]
        earlier = np.concatenate([earlier, np.array([a.coord for a in before_last], dtype=np.float32)])
    PeptideBuilder.add_terminal_OXT(structure)
    return structure


def _last_residue(structure: Structure) -> Structure:
    """A new structure holding a copy of ``structure``'s last residue: enough to place the next one."""
    from Bio.PDB.Chain import Chain
    from Bio.PDB.Model import Model
    from Bio.PDB.Structure import Structure

    tail, model, chain = Structure("tail"), Model(0), Chain("A")
    tail.add(model)
    model.add(chain)
    chain.add(structure[0]["A"].child_list[-1].copy())
    return tail


RANDOM_TRIES = 50
RANDOM_MIN_GAP_A = 3.0


def _random_backbone(
    structure: Structure, earlier: np.ndarray, make_geometry: Callable[[float, float], Geo], rng: np.random.Generator
) -> tuple[float, float]:
    """(φ, ψ of the previous residue) for the next residue, drawn until its backbone clears the chain.

    ``earlier``: the atoms (Å) of every residue before the last one of ``structure``.
    """
    import PeptideBuilder

    best, best_gap = (180.0, 180.0), -1.0
    for _ in range(RANDOM_TRIES):
        phi, psi_before = (float(v) for v in rng.uniform(-180.0, 180.0, size=2))
        trial = PeptideBuilder.add_residue(_last_residue(structure), make_geometry(phi, psi_before))
        new = np.array([a.coord for a in trial[0]["A"].child_list[-1] if a.get_id() in ("N", "CA", "C", "O", "CB")])
        gap = float(np.linalg.norm(new[:, None] - earlier[None], axis=-1).min()) if len(earlier) else np.inf
        if gap > best_gap:
            best, best_gap = (phi, psi_before), gap
        if gap >= RANDOM_MIN_GAP_A:
            break
    return best


def _side_chain_gap(tail: Structure, earlier: np.ndarray) -> float:
    """Smallest distance (Å) from the side chain beyond CB of ``tail``'s middle residue to the other atoms.

    ``tail`` holds (the chain's last residue, the new one, a glycine stand-in after it);
    ``earlier`` the atoms of the residues before.
    """
    residues = tail[0]["A"].child_list
    side = [a.coord for a in residues[1] if a.get_id() not in ("N", "CA", "C", "O", "CB")]
    if not side:
        return np.inf
    others = np.concatenate([earlier, np.array([a.coord for r in (residues[0], residues[2]) for a in r], dtype=np.float32)])
    return float(np.linalg.norm(np.array(side)[:, None] - others[None], axis=-1).min())


def atom_keys(topology: openmm.app.Topology) -> list[tuple]:
    """Per atom, what it is independent of naming: (residue, name) for heavy atoms, and
    (residue, its heavy atom, rank by name) for hydrogens.

    A file's own hydrogens keep its names (CHARMM's HN1, HN2 on an N-terminal proline
    become H, H2 where OpenMM adds H2, H3), so hydrogens are matched by what they sit on.
    """
    def hydrogen(atom: openmm.app.Atom) -> bool:
        return atom.element is not None and atom.element.symbol == "H"

    heavy_of = {}
    for a, b in topology.bonds():
        if hydrogen(a) != hydrogen(b):
            h, heavy = (a, b) if hydrogen(a) else (b, a)
            heavy_of[h] = heavy
    keys: list[tuple] = []
    on_heavy: dict[tuple, list] = {}
    for atom in topology.atoms():
        if hydrogen(atom) and atom in heavy_of:
            group = (atom.residue.index, "H on", heavy_of[atom].name)
            on_heavy.setdefault(group, []).append(atom)
            keys.append(None)
        else:
            keys.append((atom.residue.index, atom.name))
    for group, hydrogens in on_heavy.items():
        for rank, atom in enumerate(sorted(hydrogens, key=lambda a: a.name)):
            keys[atom.index] = (*group, rank)
    return keys


# Chains of one system are built apart, side by side, this far (nm) between their atoms.
CHAIN_GAP_NM = 1.0


def _chain_letters(residues: list) -> str:
    letters = []
    for residue in residues:
        if residue.name in CAPS:
            letters.append("G")
            continue
        try:
            letters.append(one_letter_sequence([residue.name]))
        except ValueError:
            raise NrepError(f"no extended start for residue {residue.name}; start from the structure with init=native") from None
    return "".join(letters)


def _side_by_side(chains_x: list[np.ndarray]) -> list[np.ndarray]:
    """Chains (each (m, 3), nm) moved next to each other along the first chain's thinnest axis, CHAIN_GAP_NM apart."""
    if len(chains_x) == 1:
        return chains_x
    axis = int(np.argmin(np.ptp(chains_x[0], axis=0)))
    placed = [chains_x[0]]
    centre = chains_x[0].mean(axis=0)
    for x in chains_x[1:]:
        shifted = x - x.mean(axis=0) + centre
        edge = max(float(p[:, axis].max()) for p in placed)
        shifted[:, axis] += edge + CHAIN_GAP_NM - float(shifted[:, axis].min())
        placed.append(shifted)
    return placed


def extended_start(
    topology: openmm.app.Topology,
    variants: list,
    ph: float = 7.0,
    peptide_bond: float = PEPTIDE_BOND_A,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """The extended chain (or, with ``rng``, a random coil) of ``topology``'s residues, in its atom order (n, 3), in nm.

    ``topology`` is a prepared protein's (hydrogens included) and ``variants`` the
    protonation variants OpenMM chose for it; the start gets the same atoms. Several
    chains are each built on their own and laid side by side, CHAIN_GAP_NM apart.
    """
    from openmm import app, unit

    from nrep.core.systems.prepare import add_hydrogens

    built_atoms: dict[tuple[int, str], np.ndarray] = {}
    chains_x, chains_keys = [], []
    for chain in topology.chains():
        residues = list(chain.residues())
        if not residues:
            continue
        built = extended_chain(_chain_letters(residues), peptide_bond, rng)[0]["A"].child_list
        # rounded to 0.001 Å as a PDB file would hold them (no file: a long chain overflows its columns)
        chains_x.append(np.array([[float(f"{v:.3f}") for v in a.coord] for r in built for a in r]) * 0.1)
        chains_keys.append([(residues[k].index, a.get_id()) for k, r in enumerate(built) for a in r])
    for keys, x in zip(chains_keys, _side_by_side(chains_x)):
        built_atoms.update(zip(keys, x))

    heavy = app.Modeller(topology, np.zeros((topology.getNumAtoms(), 3)) * unit.nanometer)
    heavy.delete([a for a in topology.atoms() if a.element is not None and a.element.symbol == "H"])
    x_heavy = np.zeros((heavy.topology.getNumAtoms(), 3))
    for atom in heavy.topology.atoms():
        name = CAPS.get(atom.residue.name, {}).get(atom.name, atom.name)
        source = built_atoms.get((atom.residue.index, name))
        if source is None:
            raise NrepError(
                f"the extended chain has no atom {atom.name} in {atom.residue.name}{atom.residue.id}; "
                "start from the structure with init=native"
            )
        x_heavy[atom.index] = source
    full, x_full = add_hydrogens(heavy.topology, x_heavy, variants, ph)
    placed = {key: index for index, key in enumerate(atom_keys(full))}
    order = [placed.get(key) for key in atom_keys(topology)]
    if None in order or full.getNumAtoms() != topology.getNumAtoms():
        missing = [f"{a.residue.name}{a.residue.id}:{a.name}" for a, i in zip(topology.atoms(), order) if i is None]
        raise NrepError(
            f"hydrogens of the extended chain do not match the reference ({', '.join(missing[:5]) or 'atom count'}); "
            "start from the structure with init=native"
        )
    return x_full[order]
