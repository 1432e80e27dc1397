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

import copy
import io
import itertools

import numpy as np

from Bio.PDB import PDBIO
from Bio.PDB.Polypeptide import protein_letters_3to1

from nrep.core.errors import NrepError

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
    """PDB text of the chain (heavy atoms) for a one-letter sequence.

    Without ``rng`` the chain is fully extended (φ = ψ = ω = 180°). With ``rng`` it is a
    self-avoiding random coil: each residue's φ and the previous ψ are drawn uniformly
    (ω stays 180°), up to RANDOM_TRIES times, until its backbone is at least
    RANDOM_MIN_GAP_A from every residue two or more places back (else the best draw).
    """
    import PeptideBuilder
    from PeptideBuilder import Geometry

    def geometry(letter: str, chi1: float = 0.0, chi2: float = 0.0, phi: float = 180.0, psi_before: float = 180.0):  # noqa: ANN202
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
    for letter in sequence[1:]:
        phi, psi_before = 180.0, 180.0
        if rng is not None:
            phi, psi_before = _random_backbone(structure, lambda a, b: geometry(letter, phi=a, psi_before=b), rng)
        best, best_gap = None, -1.0
        for chi1, chi2 in itertools.product((0.0, 120.0, 240.0), repeat=2):
            trial = PeptideBuilder.add_residue(copy.deepcopy(structure), geometry(letter, chi1, chi2, phi, psi_before))
            # score against the earlier residues and the backbone of the next one (a glycine stand-in)
            gap = _side_chain_gap(PeptideBuilder.add_residue(copy.deepcopy(trial), geometry("G")), -2)
            if gap > best_gap:
                best, best_gap = trial, gap
            if letter in "GAP":  # no side chain to turn (proline: a closed ring)
                break
        structure = best
    PeptideBuilder.add_terminal_OXT(structure)
    buffer = io.StringIO()
    writer = PDBIO()
    writer.set_structure(structure)
    writer.save(buffer)
    return buffer.getvalue()


RANDOM_TRIES = 50
RANDOM_MIN_GAP_A = 3.0


def _random_backbone(structure, make_geometry, rng: np.random.Generator) -> tuple[float, float]:  # noqa: ANN001
    """(φ, ψ of the previous residue) for the next residue, drawn until its backbone clears the chain."""
    import PeptideBuilder

    best, best_gap = (180.0, 180.0), -1.0
    for _ in range(RANDOM_TRIES):
        phi, psi_before = (float(v) for v in rng.uniform(-180.0, 180.0, size=2))
        trial = PeptideBuilder.add_residue(copy.deepcopy(structure), make_geometry(phi, psi_before))
        residues = list(trial.get_residues())
        new = np.array([a.coord for a in residues[-1] if a.get_id() in ("N", "CA", "C", "O", "CB")])
        earlier = [a.coord for r in residues[:-2] for a in r]
        gap = float(np.linalg.norm(new[:, None] - np.array(earlier)[None], axis=-1).min()) if earlier else np.inf
        if gap > best_gap:
            best, best_gap = (phi, psi_before), gap
        if gap >= RANDOM_MIN_GAP_A:
            break
    return best


def _side_chain_gap(structure, index: int) -> float:  # noqa: ANN001 - Bio.PDB.Structure
    """Smallest distance (Å) from residue ``index``'s side chain beyond CB to the other residues."""
    residues = list(structure.get_residues())
    side = [a.coord for a in residues[index] if a.get_id() not in ("N", "CA", "C", "O", "CB")]
    if not side:
        return np.inf
    others = np.array([a.coord for r in residues if r is not residues[index] for a in r])
    return float(np.linalg.norm(np.array(side)[:, None] - others[None], axis=-1).min())


def extended_start(
    topology, variants: list, ph: float = 7.0, peptide_bond: float = PEPTIDE_BOND_A, rng: np.random.Generator | None = None  # noqa: ANN001
) -> np.ndarray:
    """The extended chain (or, with ``rng``, a random coil) of ``topology``'s residues, in its atom order (n, 3), in nm.

    ``topology`` is a prepared protein's (hydrogens included) and ``variants`` the
    protonation variants OpenMM chose for it; the start gets the same atoms.
    """
    from openmm import app, unit

    from nrep.core.systems.prepare import add_hydrogens

    residues = list(topology.residues())
    names = [r.name for r in residues]
    letters = []
    for name in names:
        if name in CAPS:
            letters.append("G")
            continue
        try:
            letters.append(one_letter_sequence([name]))
        except ValueError:
            raise NrepError(f"no extended start for residue {name}; start from the structure with init=native") from None
    built = app.PDBFile(io.StringIO(extended_chain_pdb("".join(letters), peptide_bond, rng)))
    built_x = np.asarray(built.positions.value_in_unit(unit.nanometer))
    built_atoms = {(a.residue.index, a.name): a.index for a in built.topology.atoms()}

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
        x_heavy[atom.index] = built_x[source]
    full, x_full = add_hydrogens(heavy.topology, x_heavy, variants, ph)
    placed = {(a.residue.index, a.name): a.index for a in full.atoms()}
    order = [placed.get((a.residue.index, a.name)) for a in topology.atoms()]
    if None in order or full.getNumAtoms() != topology.getNumAtoms():
        missing = [f"{a.residue.name}{a.residue.id}:{a.name}" for a, i in zip(topology.atoms(), order) if i is None]
        raise NrepError(
            f"hydrogens of the extended chain do not match the reference ({', '.join(missing[:5]) or 'atom count'}); "
            "start from the structure with init=native"
        )
    return x_full[order]
