"""The OpenMM minimisation baseline: same system, same start, same columns, our energy on its result."""

import numpy as np
import pytest
import torch

from nrep.core.energy.amber import AmberEnergy, AmberParameters
from nrep.core.engine.callbacks import BestState, TraceRecorder
from nrep.core.methods.openmm_min import minimise_with_openmm
from nrep.core.run.single import execute
from nrep.core.systems.openmm_contexts import openmm_energy
from nrep.core.systems.protein import load_protein


def test_minimising_a_perturbed_native_structure_lowers_its_energy(peptide_file):
    protein = load_protein(str(peptide_file), start="native")
    energy = AmberEnergy(AmberParameters.from_openmm(protein.prepared.system))
    x0 = protein.x0 + 0.01 * torch.randn(protein.x0.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    trace = TraceRecorder(5, "energy_kJ_mol", metrics=protein.rmsd)
    result, platform = minimise_with_openmm(protein.prepared.system, x0, energy, [trace, BestState()], 1.0, 0, "reference")
    assert platform == "Reference" and result.stop_reason == "converged" and result.steps > 5
    assert result.energy < result.energy_start == pytest.approx(energy(x0).item())
    reference, _ = openmm_energy(protein.prepared.system, result.x.numpy())
    assert result.energy == pytest.approx(reference, rel=1e-5)  # our amber model on OpenMM's final coordinates
    assert [row["stage_step"] for row in trace.rows[:3]] == [0, 5, 10] and np.isfinite(trace.rows[-1]["rmsd_ca_A"])


def test_an_iteration_cap_is_a_max_steps_stop(peptide_file):
    protein = load_protein(str(peptide_file), start="native")
    energy = AmberEnergy(AmberParameters.from_openmm(protein.prepared.system))
    result, _ = minimise_with_openmm(protein.prepared.system, protein.x0, energy, [], 1e-6, 3, "cpu", 1)
    assert result.stop_reason == "max_steps" and result.steps == 3


def test_a_run_writes_the_columns_of_the_other_methods(tmp_path, compose_cfg, peptide_file):
    base = ("system=protein", f"system.pdb={peptide_file}", f"init.cache_dir={tmp_path / 'starts'}", "threads=1")
    gd = execute(compose_cfg(*base, "method=gd", "stop.max_steps=20"), tmp_path / "gd")
    omm = execute(compose_cfg(*base, "method=openmm_min"), tmp_path / "omm")
    assert omm["status"] == "ok" and omm["energy_final"] < gd["energy_final"]
    per_stage = {k for k in gd if k.endswith("_coords") or k.startswith("time_coords") or "_coords_" in k}
    missing = set(gd) - set(omm) - per_stage - {k for k in gd if k.startswith("cfg.")}
    assert not missing, missing
    assert omm["steps_openmm"] == omm["steps_total"] > 0 and omm["openmm_platform"] == "CPU"
    assert (tmp_path / "omm" / "final.pdb").is_file()


def test_auto_platform_follows_the_device(compose_cfg):
    from nrep.core.systems.openmm_contexts import openmm_platform_for

    assert openmm_platform_for("auto", "cpu") == "CPU"
    assert openmm_platform_for("auto", "cuda:1") == "auto"  # CUDA when OpenMM has it
    assert openmm_platform_for("Reference", "cuda") == "Reference"
