"""Every fixed list of choices a config key takes, in one place.

The schema checks values against these, and the code that acts on a value reads the same
tuple (e.g. ``core/systems/openmm_contexts.py`` for the solvents and platforms), so a new
choice is added here once. Option lists of the config groups (``method=...``) are not
here: they are the registered dataclasses (:data:`nrep.configs.schema.SCHEMAS`).
"""

from nrep.core.io.files import TRAJECTORY_FILES

# proteins: what to do with residues missing inside a chain (system.gaps)
GAP_CHOICES = ("fill", "refuse")
# energy=amber: who evaluates it (nrep's torch terms or OpenMM), with which force field
# (an OpenMM XML file; the torch engine has amber14's terms only) and solvent: vacuum,
# an implicit model (OpenMM's implicit/<name>.xml, parametrised for AMBER force fields)
# or explicit water (dynamics only: method=openmm_md, init=unfold_md)
ENGINES = ("openmm", "torch")
FORCEFIELDS = ("amber14-all.xml", "amber19-all.xml", "charmm36_2024.xml")
IMPLICIT_SOLVENTS = ("gbn2", "obc2", "obc1", "hct", "gbn")
SOLVENTS = ("vacuum", *IMPLICIT_SOLVENTS, "explicit")
# the platform of every OpenMM context nrep builds, OpenMM's names (any case is accepted);
# auto: CUDA with device=cuda when OpenMM has it, else the CPU
OPENMM_PLATFORMS = ("auto", "CPU", "CUDA", "OpenCL", "Reference")
# energies: the loop energies (one dataclass, two options) and how terms are averaged
LOOP_ENERGIES = ("bond_lj", "pure_lj")
# energy.cutoff=null: the loop repulsion's cutoff (bond lengths) and the size from which it is on
# (above every preset's n; chosen from `python benchmarks/loop_cutoff.py`, README "Large loops")
LOOP_CUTOFF = 2.5
LOOP_CUTOFF_FROM_N = 10_000
# energy.cutoff_nm=null: AMBER's cutoff (nm, CutoffNonPeriodic) and the size (atoms, hydrogens included) from
# which it is on: where the torch engine's dense all-pair path ends (README "Proteins of ordinary size")
AMBER_CUTOFF_NM = 1.0
AMBER_CUTOFF_FROM_ATOMS = 3_000
NORMALISATIONS = ("mean", "sum")
# slow modes (method.modes)
BACKBONE_NORMS = ("fro", "fro2")
EIGENSOLVERS = ("auto", "dense", "sparse")
SAMPLE_KINDS = ("auto", "cloud", "perturb")
HESSIAN_SOURCES = ("auto", "terms", "differences")
# reparametrisations: CG's start, the GNN's graph, output layer start and activation
CG_STARTS = ("projection", "anchored")
GNN_GRAPHS = ("slow_modes", "slow_modes_plain", "bonds", "knn")
GNN_MODE_GRAPHS = ("slow_modes", "slow_modes_plain")  # the graphs built from slow modes
# method.graph=null: slow_modes below this many particles, knn from there (the slow modes of a
# 10^4-particle system cost minutes: a dense solve of n // 3 modes ~3 min, 30 sparse modes 30 s)
GNN_MODE_GRAPH_MAX_N = 10_000
OUTPUT_INITS = ("rescale", "fit", "anchored")
ACTIVATIONS = ("tanh", "relu", "identity")
# the run: tensor precision, the progress bar, and the trajectory's file format (auto:
# xtc for proteins, extxyz for loops; the formats are the trajectory writer's, core/io/files.py)
DTYPES = ("float32", "float64")
PROGRESS_MODES = ("auto", "on", "off")
TRAJECTORY_FORMATS = ("auto", *TRAJECTORY_FILES)
