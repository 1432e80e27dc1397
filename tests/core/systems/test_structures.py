"""Real-world structure input built by hand: disulfides, deuterium, several chains, models, gzip, bad coordinates."""

from __future__ import annotations

import gzip
import io

import numpy as np
import pytest
import torch
from openmm import app

from nrep.core.energy.amber import AmberEnergy, AmberParameters
from nrep.core.errors import NrepError
from nrep.core.systems.openmm_contexts import openmm_energy
from nrep.core.systems.prepare import FORCEFIELD, prepare_protein
from nrep.core.systems.reading import parse_chain_spec
from nrep.core.systems.sources import locate_structure, read_structure_text


def _atom_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(("ATOM", "HETATM"))]


def _with_coordinates(line: str, xyz) -> str:
    return line[:30] + "".join(f"{v:8.3f}" for v in xyz) + line[54:]


def bridged_chains(n_bridges: int) -> str:
    """Two planar strands G(CG)n, chain B the 2-fold rotation of chain A, so each CYS pair has SG-SG = 2.04 Å.

    In a strand with phi = psi = 180° every second residue is a translation of the one
    before, so the SG atoms lie on one line; turning the strand by 180° about a line
    parallel to it, 1.02 Å beside them, puts each SG 2.04 Å from its image.
    """
    import PeptideBuilder
    from Bio.PDB import PDBIO

    sequence = "G" + "CG" * n_bridges
    structure = PeptideBuilder.make_structure(sequence, [180.0] * (len(sequence) - 1), [180.0] * (len(sequence) - 1))
    writer, buffer = PDBIO(), io.StringIO()
    writer.set_structure(structure)
    writer.save(buffer)
    rows = _atom_lines(buffer.getvalue())
    x = np.array([[float(r[30:38]), float(r[38:46]), float(r[46:54])] for r in rows])
    sg = x[[r[12:16] == " SG " for r in rows]]
    ca = x[[r[12:16] == " CA " for r in rows]]
    along = (sg[-1] - sg[0]) / np.linalg.norm(sg[-1] - sg[0])
    out = sg.mean(0) - ca.mean(0)
    out -= (out @ along) * along
    out /= np.linalg.norm(out)
    point = sg.mean(0) + 1.02 * out
    turned = 2 * (point + np.outer((x - point) @ along, along)) - x
    chain_b = [_with_coordinates(r[:21] + "B" + r[22:], xyz) for r, xyz in zip(rows, turned)]
    return "\n".join([*rows, "TER", *chain_b, "END"]) + "\n"


@pytest.mark.parametrize("n_bridges", [3, 6])
def test_several_disulfides_become_cyx_with_their_bonds(tmp_path, n_bridges):
    path = tmp_path / f"ss{n_bridges}.pdb"
    path.write_text(bridged_chains(n_bridges))
    protein = prepare_protein(path, chain="A,B")
    cysteines = [r for r in protein.topology.residues() if r.name == "CYS"]
    assert len(cysteines) == 2 * n_bridges and protein.variants.count("CYX") == 2 * n_bridges
    bonds = [(a.residue, b.residue) for a, b in protein.topology.bonds() if a.name == b.name == "SG"]
    assert len(bonds) == n_bridges and all(a.chain.id != b.chain.id and a.id == b.id for a, b in bonds)
    expected = ", ".join(f"A:CYS{2 * k}-B:CYS{2 * k}" for k in range(1, n_bridges + 1))
    assert f"{n_bridges} disulfide bonds (CYX): {expected}" in protein.notes
    # CYX has no HG, and the bond is a force-field bond
    assert not any(a.name == "HG" for r in cysteines for a in r.atoms())
    assert protein.system.getNumParticles() == protein.topology.getNumAtoms()


def two_chains(peptide_text) -> str:
    """Two different peptides as chains A and B, 8 Å apart (close enough that their energy couples)."""
    a = _atom_lines(peptide_text("AKWD"))
    b = _atom_lines(peptide_text("SEFG", helix=False))
    shifted = [_with_coordinates(r[:21] + "B" + r[22:], [float(r[30:38]) + 8.0, float(r[38:46]), float(r[46:54])]) for r in b]
    return "\n".join([*a, "TER", *shifted, "END"]) + "\n"


def test_two_chains_are_one_system_with_openmms_energy(tmp_path, peptide_text):
    path = tmp_path / "two.pdb"
    path.write_text(two_chains(peptide_text))
    protein = prepare_protein(path, chain="A,B")
    assert protein.chain == "A,B" and [c.id for c in protein.topology.chains()] == ["A", "B"]
    # OpenMM on its own from the same file: PDBFixer's missing atoms, amber14's hydrogens and system
    from pdbfixer import PDBFixer

    fixer = PDBFixer(filename=str(path))
    fixer.findMissingResidues()
    fixer.findMissingAtoms()
    fixer.addMissingAtoms()
    modeller = app.Modeller(fixer.topology, fixer.positions)
    forcefield = app.ForceField(FORCEFIELD)
    modeller.addHydrogens(forcefield, pH=7.0)
    reference = forcefield.createSystem(modeller.topology, nonbondedMethod=app.NoCutoff, constraints=None)
    key = {(a.residue.chain.id, a.residue.id, a.name): a.index for a in modeller.topology.atoms()}
    order = [key[(a.residue.chain.id, a.residue.id, a.name)] for a in protein.topology.atoms()]
    assert sorted(order) == list(range(reference.getNumParticles()))
    x = protein.positions_nm
    x_reference_order = np.empty_like(x)
    x_reference_order[order] = x
    expected, _ = openmm_energy(reference, x_reference_order)
    ours = float(AmberEnergy(AmberParameters.from_openmm(protein.system))(torch.tensor(x)))
    assert ours == pytest.approx(expected, rel=1e-6)
    # the chains interact: the energy is not the sum of the two chains alone
    alone = sum(_energy(prepare_protein(path, chain=c)) for c in "AB")
    assert abs(ours - alone) > 1.0


def _energy(protein) -> float:
    return float(AmberEnergy(AmberParameters.from_openmm(protein.system))(torch.tensor(protein.positions_nm)))


def test_chain_lists_and_all(tmp_path, peptide_text):
    path = tmp_path / "two.pdb"
    path.write_text(two_chains(peptide_text))
    assert prepare_protein(path).chain == "A"
    assert "kept chain A of A, B" in prepare_protein(path).notes
    both = prepare_protein(path, chain="all")
    assert both.chain == "A,B" and prepare_protein(path, chain="B+A").positions_nm.shape == both.positions_nm.shape
    with pytest.raises(NrepError, match="chain 'C' is not in two.pdb"):
        prepare_protein(path, chain="A,C")
    for bad in ("A,,B", "A,A", ","):
        with pytest.raises(NrepError, match="--chain"):
            parse_chain_spec(bad)


def test_a_nucleic_acid_chain_is_skipped_by_default_and_refused_by_name(tmp_path, peptide_file):
    dna = [
        "ATOM      1  P    DA D   1      20.000  20.000  20.000  1.00  0.00           P",
        "ATOM      2  C1'  DA D   1      21.000  20.000  20.000  1.00  0.00           C",
    ]
    path = tmp_path / "complex.pdb"
    path.write_text("\n".join([*dna, "TER", *_atom_lines(peptide_file.read_text()), "END"]) + "\n")
    protein = prepare_protein(path)
    assert protein.chain == "A" and any("D: DNA, not protein" in note for note in protein.notes)
    with pytest.raises(NrepError, match="chain D of complex.pdb is DNA; pass --chain with a protein chain"):
        prepare_protein(path, chain="D")


def test_deuterium_is_treated_as_hydrogen(tmp_path, peptide_file):
    plain = prepare_protein(peptide_file)
    lines = []
    for atom, xyz in zip(plain.topology.atoms(), plain.positions_nm * 10.0):
        name, element = atom.name, atom.element.symbol
        if element == "H":  # a neutron structure: every hydrogen as deuterium, named D...
            name, element = "D" + name[1:], "D"
        lines.append(
            f"ATOM  {atom.index + 1:5d} {name:<4} {atom.residue.name:>3} A{int(atom.residue.id):4d}    "
            f"{xyz[0]:8.3f}{xyz[1]:8.3f}{xyz[2]:8.3f}  1.00  0.00          {element:>2}"
        )
    path = tmp_path / "neutron.pdb"
    path.write_text("\n".join([*lines, "END"]) + "\n")
    deuterated = prepare_protein(path)
    assert any("deuterium treated as hydrogen" in note for note in deuterated.notes)
    assert deuterated.topology.getNumAtoms() == plain.topology.getNumAtoms()
    assert all(a.element.symbol != "D" for a in deuterated.topology.atoms())
    heavy = [a.index for a in plain.topology.atoms() if a.element.symbol != "H"]
    assert np.allclose(deuterated.positions_nm[heavy], plain.positions_nm[heavy], atol=1e-4)


def test_system_model_picks_a_model_of_an_ensemble(tmp_path, peptide_file):
    atoms = _atom_lines(peptide_file.read_text())
    moved = [_with_coordinates(r, [float(r[30:38]) + 3.0, float(r[38:46]), float(r[46:54])]) for r in atoms]
    path = tmp_path / "ensemble.pdb"
    path.write_text("MODEL        1\n" + "\n".join(atoms) + "\nENDMDL\nMODEL        2\n" + "\n".join(moved) + "\nENDMDL\nEND\n")
    first, second = prepare_protein(path), prepare_protein(path, model=2)
    assert "used model 2 of 2" in second.notes
    heavy = [a.index for a in first.topology.atoms() if a.element.symbol != "H"]
    shift = second.positions_nm[heavy] - first.positions_nm[heavy]
    assert np.allclose(shift, [0.3, 0.0, 0.0], atol=1e-3)
    with pytest.raises(NrepError, match="system.model=3, but ensemble.pdb holds 2 model"):
        prepare_protein(path, model=3)


def test_placeholder_or_damaged_coordinates_are_refused_before_openmm(tmp_path, peptide_file):
    rows = _atom_lines(peptide_file.read_text())
    path = tmp_path / "bad.pdb"
    path.write_text("\n".join(_with_coordinates(r, [0.0] * 3) for r in rows) + "\nEND\n")  # a placeholder model
    with pytest.raises(NrepError, match=f"all {len(rows)} atoms of bad.pdb sit at one point"):
        prepare_protein(path)
    rows[3] = rows[3][:30] + "     nan     nan     nan" + rows[3][54:]
    path.write_text("\n".join(rows) + "\nEND\n")
    with pytest.raises(NrepError, match="bad.pdb has 1 atoms whose coordinates are not numbers"):
        prepare_protein(path)


def test_a_residue_missing_inside_the_chain_is_built_from_seqres(tmp_path, peptide_text):
    text = peptide_text("AKGWD")
    seqres = "SEQRES   1 A    5  ALA LYS GLY TRP ASP                                          \n"
    atoms = [line for line in _atom_lines(text) if line[17:20] != "GLY"]
    path = tmp_path / "gap.pdb"
    path.write_text(seqres + "\n".join(atoms) + "\nEND\n")
    filled = prepare_protein(path)
    assert [r.name for r in filled.topology.residues()] == ["ALA", "LYS", "GLY", "TRP", "ASP"]
    assert filled.modelled_residues == (2,)
    assert any("built 1 residues missing between LYS2 and TRP4" in note for note in filled.notes)
    from nrep.core.systems.rmsd import protein_atom_sets

    sets = protein_atom_sets(filled.topology, filled.modelled_residues)
    gly = {a.index for a in list(filled.topology.residues())[2].atoms()}
    assert len(sets["ca"]) == 4 and not gly & set(sets["all"].tolist())
    with pytest.raises(NrepError, match="broken between LYS2-TRP4 .*system.gaps=fill builds the missing residues"):
        prepare_protein(path, gaps="refuse")


def test_a_template_mismatch_names_the_residue_and_its_atoms(tmp_path, peptide_file):
    rows = _atom_lines(peptide_file.read_text())
    nz = next(r for r in rows if r[17:20] == "LYS" and r[12:16] == " NZ ")
    extra = _with_coordinates(nz[:12] + " NQ " + nz[16:], [float(nz[30:38]) + 1.5, float(nz[38:46]), float(nz[46:54])])
    path = tmp_path / "extra.pdb"
    path.write_text("\n".join([*rows, extra]) + "\nEND\n")
    expected = r"residue LYS2 of chain A in extra.pdb matches no amber14 template \(nearest LYS: extra atoms NQ\)"
    with pytest.raises(NrepError, match=expected) as error:
        prepare_protein(path)
    assert "No template found" not in str(error.value)


@pytest.mark.parametrize("suffix", [".pdb", ".cif"])
def test_gzipped_files_read_as_the_plain_ones(tmp_path, peptide_file, suffix):
    plain = tmp_path / f"peptide{suffix}"
    if suffix == ".cif":
        from Bio.PDB import MMCIFIO, PDBParser

        writer = MMCIFIO()
        writer.set_structure(PDBParser(QUIET=True).get_structure("p", str(peptide_file)))
        writer.save(str(plain))
    else:
        plain.write_text(peptide_file.read_text())
    packed = tmp_path / f"peptide{suffix}.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert read_structure_text(packed) == read_structure_text(plain)
    a, b = prepare_protein(plain), prepare_protein(packed)
    assert np.array_equal(a.positions_nm, b.positions_nm) and a.notes == b.notes


def test_structure_file_errors_name_the_cause(tmp_path, monkeypatch):
    damaged = tmp_path / "x.pdb.gz"
    damaged.write_bytes(gzip.compress(b"ATOM  " * 100)[:30])
    with pytest.raises(NrepError, match=r"x.pdb.gz is a damaged or truncated gzip file"):
        read_structure_text(damaged)
    binary = tmp_path / "y.pdb.gz"
    binary.write_bytes(gzip.compress(bytes(range(256)) * 10))
    with pytest.raises(NrepError, match=r"y.pdb.gz \(gzip\) holds binary data"):
        read_structure_text(binary)
    folder = tmp_path / "z.pdb"
    folder.mkdir()
    with pytest.raises(NrepError, match="z.pdb is a directory, not a structure file"):
        locate_structure(str(folder))
    monkeypatch.setenv("NREP_PDB_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(NrepError, match=r"\$NREP_PDB_DIR=.*nowhere is not a directory"):
        locate_structure("2JOF", cache_dir=tmp_path / "cache")


def test_a_gzipped_file_in_the_local_folder_is_found_by_id(tmp_path, peptide_file):
    folder = tmp_path / "pdb"
    folder.mkdir()
    (folder / "pdb1abc.ent.gz").write_bytes(gzip.compress(peptide_file.read_bytes()))
    source = locate_structure("1ABC", local_dir=folder, cache_dir=tmp_path / "cache")
    assert source.path.name == "pdb1abc.ent.gz" and source.origin == "local"
    assert prepare_protein(source.path).topology.getNumResidues() == 4


def test_run_labels_drop_the_gzip_suffix():
    from nrep.configs.schema import run_label

    assert run_label({"name": "protein", "pdb": "../data/1A8O.pdb.gz"}) == "1A8O"
    assert run_label({"name": "protein", "pdb": "3jqh.cif.gz"}) == "3jqh"
    assert run_label({"name": "protein", "pdb": "2jof"}) == "2JOF"



def test_an_unresolved_terminal_residue_is_trimmed_unless_the_file_is_cut_short(tmp_path, peptide_file):
    rows = _atom_lines(peptide_file.read_text())
    last_n = next(r for r in rows if r[17:20] == "ASP" and r[12:16] == " N  ")
    xyz = [float(last_n[30:38]) + 3.0, float(last_n[38:46]), float(last_n[46:54])]
    lone_n = _with_coordinates(last_n[:17] + "GLY A   5" + last_n[26:], xyz)  # a C-terminal GLY with only its N
    path = tmp_path / "unresolved.pdb"
    path.write_text("\n".join([*rows, lone_n, "TER", "END"]) + "\n")
    protein = prepare_protein(path)
    assert [r.name for r in protein.topology.residues()] == ["ALA", "LYS", "TRP", "ASP"]
    assert "removed terminal residues whose backbone is not in the file: GLY5 (no CA, C)" in protein.notes
    path.write_text("\n".join([*rows, lone_n]) + "\n")  # the same, as a file cut short after that line
    with pytest.raises(NrepError, match="GLY5 has no CA, C.*may be cut short"):
        prepare_protein(path)


def test_a_ligand_with_an_amino_acid_group_is_removed_not_refused(tmp_path, peptide_file):
    rows = _atom_lines(peptide_file.read_text())
    ligand = [  # S-adenosyl-homocysteine's amino-acid end, 15 Å from the peptide: a cofactor, not a residue
        f"HETATM{900 + i:5d}  {name:<3} SAH A 301    {15.0 + 1.4 * i:8.3f}{5.0:8.3f}{5.0:8.3f}  1.00  0.00           {name[0]}"
        for i, name in enumerate(("N", "CA", "C", "O", "CB", "SD"))
    ]
    path = tmp_path / "cofactor.pdb"
    path.write_text("\n".join([*rows, *ligand, "END"]) + "\n")
    protein = prepare_protein(path)
    assert protein.topology.getNumResidues() == 4 and "removed waters, ions and ligands: SAH" in protein.notes


def test_the_extended_start_of_two_chains_is_each_chain_laid_side_by_side(tmp_path, peptide_text):
    from scipy.spatial.distance import cdist

    from nrep.core.systems.extended import CHAIN_GAP_NM, extended_start

    path = tmp_path / "two.pdb"
    path.write_text(two_chains(peptide_text))
    both = prepare_protein(path, chain="A,B")
    x = extended_start(both.topology, both.variants)
    chain = np.array([a.residue.chain.index for a in both.topology.atoms()])
    assert cdist(x[chain == 0], x[chain == 1]).min() >= CHAIN_GAP_NM - 0.15  # hydrogens are added after the placement
    # each chain's heavy atoms: its own extended start, moved as a whole (OpenMM draws the hydrogens of
    # rotatable groups from one seeded generator, so a second chain's differ from its start alone)
    heavy = np.array([a.element.symbol != "H" for a in both.topology.atoms()])
    for index, name in enumerate("AB"):
        alone = prepare_protein(path, chain=name)
        shift = x[chain == index] - extended_start(alone.topology, alone.variants)
        own_heavy = heavy[chain == index]
        assert np.allclose(shift[own_heavy], shift[own_heavy][0], atol=1e-9)


def test_an_mmcif_file_may_open_with_comments(tmp_path, peptide_file):
    """ChimeraX writes `#\\#CIF_1.1` and `# mmCIF` before the data block."""
    from Bio.PDB import MMCIFIO, PDBParser

    plain = tmp_path / "plain.cif"
    writer = MMCIFIO()
    writer.set_structure(PDBParser(QUIET=True).get_structure("p", str(peptide_file)))
    writer.save(str(plain))
    commented = tmp_path / "chimerax.cif"
    commented.write_text("#\\#CIF_1.1\n# mmCIF\n" + plain.read_text())
    assert np.array_equal(prepare_protein(commented).positions_nm, prepare_protein(plain).positions_nm)


def _pdb_lines(topology, x_nm, chain: str = "A", segment: str = "", shift_A: float = 0.0, rename=None) -> list[str]:
    """ATOM records of a prepared topology (hydrogens included), optionally renamed and moved."""
    rename = rename or {}
    lines = []
    for atom, xyz in zip(topology.atoms(), x_nm * 10.0):
        name = rename.get((atom.residue.index, atom.name), atom.name)
        lines.append(
            f"ATOM  {atom.index + 1:5d} {name:<4} {atom.residue.name:>3} {chain}{int(atom.residue.id):4d}    "
            f"{xyz[0] + shift_A:8.3f}{xyz[1]:8.3f}{xyz[2]:8.3f}  1.00  0.00      {segment:<4}{atom.element.symbol:>2}"
        )
    return lines


def test_segments_without_chain_ids_become_chains(tmp_path, peptide_file):
    """CHARMM-GUI / NAMD files: blank chain ids, segments PROA and PROB numbered alike."""
    plain = prepare_protein(peptide_file)
    rows = [*_pdb_lines(plain.topology, plain.positions_nm, " ", "PROA"),
            *_pdb_lines(plain.topology, plain.positions_nm, " ", "PROB", shift_A=20.0)]
    path = tmp_path / "charmm.pdb"
    path.write_text("\n".join([*rows, "END"]) + "\n")
    first = prepare_protein(path)
    assert first.chain == "PROA" and first.topology.getNumAtoms() == plain.topology.getNumAtoms()
    assert any("chains named by their segment ids (PROA, PROB)" in note for note in first.notes)
    both = prepare_protein(path, chain="PROA,PROB")
    assert both.topology.getNumAtoms() == 2 * plain.topology.getNumAtoms()  # no residue lost as a duplicate


def test_the_extended_start_matches_a_files_own_hydrogen_names(tmp_path, peptide_text):
    """CHARMM names an N-terminal proline's hydrogens HN1, HN2; OpenMM reads them as H, H2 and adds H2, H3."""
    from nrep.core.systems.extended import extended_start

    source = tmp_path / "pkwd.pdb"
    source.write_text(peptide_text("PKWD"))
    plain = prepare_protein(source)
    path = tmp_path / "charmm_names.pdb"
    path.write_text("\n".join([*_pdb_lines(plain.topology, plain.positions_nm, rename={(0, "H2"): "HN1", (0, "H3"): "HN2"}),
                               "END"]) + "\n")
    named = prepare_protein(path)
    assert sorted(a.name for a in next(named.topology.residues()).atoms() if a.element.symbol == "H")[:2] != ["H2", "H3"]
    x = extended_start(named.topology, named.variants)
    assert np.allclose(x, extended_start(plain.topology, plain.variants), atol=1e-6)
