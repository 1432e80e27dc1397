"""Every config option composes, and impossible values are refused with their key named."""

import re

import pytest

from nrep.configs.compose import command_options, compose, group_options, user_groups, validate
from nrep.configs.schema import NrepConfig
from nrep.core.errors import NrepError

OPTIONS = [(group, option) for group in user_groups() if group != "experiment" for option in group_options(group)]


PROTEIN = ["system=protein", "system.pdb=2JOF"]


def base_for(group: str, option: str) -> list[str]:
    """The overrides `nrep fold` adds for options that only proteins take."""
    return PROTEIN if option in command_options("fold", group) and option not in command_options("loop", group) else []


@pytest.mark.parametrize("group,option", OPTIONS)
def test_every_group_option_composes(group, option):
    cfg = validate(compose([*base_for(group, option), f"{group}={option}"]))
    assert isinstance(cfg, NrepConfig)
    assert getattr(cfg, group).name.startswith(option) or group == "device"


@pytest.mark.parametrize("preset", group_options("experiment"))
def test_every_experiment_preset_composes(preset):
    validate(compose([*base_for("experiment", preset), f"experiment={preset}"]))


def test_protein_defaults_come_from_the_tuning_configs():
    cfg = validate(compose(PROTEIN))
    assert (cfg.energy.name, cfg.init.name, cfg.method.name, cfg.optim.name) == ("amber", "extended", "gnn", "adam")
    assert (cfg.optim.lr, cfg.optim.clamp_grad, cfg.stop.min_delta) == (1e-3, 0.01, 0.1)
    assert (cfg.method.lr, cfg.method.output_init, cfg.method.stop.min_delta) == (1e-4, "anchored", 1.0)
    assert validate(compose([*PROTEIN, "method=cg"])).method.start == "anchored"
    loop = validate(compose(["method=cg"]))
    assert (loop.optim.lr, loop.method.start, loop.stop.min_delta) == (0.02, "projection", 1e-6)
    assert validate(compose([*PROTEIN, "optim.lr=0.5"])).optim.lr == 0.5  # the command line wins


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["system=protein"], "system.pdb is not set: pass --pdb ID"),
        ([*PROTEIN, "system.ph=15"], "system.ph must lie in [0, 14]"),
        ([*PROTEIN, "energy.weights.lj=-1"], "energy.weights.lj must be >= 0"),
        ([*PROTEIN, *(f"energy.weights.{t}=0" for t in ("bond", "angle", "torsion", "lj", "coulomb"))],
         "energy.weights switch every term off"),
        ([*PROTEIN, "init.peptide_bond_A=3"], "init.peptide_bond_A must lie in [1.0, 2.0]"),
        ([*PROTEIN, "energy=pure_lj"], "energy=pure_lj does not apply to a protein"),
        ([*PROTEIN, "init=cloud"], "init=cloud does not apply to a protein"),
        (["init=native"], "init=native does not apply to a loop"),
        (["method=cg", "method.start=middle"], "method.start='middle' is not one of"),
        (["method=cg", "method.modes.fraction=0"], "method.modes.fraction must lie in (0, 1]"),
        (["method=openmm_min"], "method=openmm_min runs OpenMM's force fields on proteins"),
        ([*PROTEIN, "method=openmm_min", "energy=simple"], "method=openmm_min runs OpenMM's force fields on proteins"),
        ([*PROTEIN, "method=openmm_min", "energy.engine=torch", "energy.weights.lj=0.5"], "energy.weights do not apply"),
        ([*PROTEIN, "energy.weights.lj=0.5"], "energy.weights scale the torch engine's terms; add energy.engine=torch"),
        ([*PROTEIN, "energy.compile=true"], "energy.compile compiles the torch engine; add energy.engine=torch"),
        ([*PROTEIN, "method=openmm_min", "energy.platform=gpu"], "energy.platform='gpu' is not one of"),
        (["method=openmm_md"], "method=openmm_md runs OpenMM's force fields on proteins"),
        ([*PROTEIN, "method=openmm_md", "energy.solvent=water"], "energy.solvent='water' is not one of"),
        ([*PROTEIN, "energy.engine=torch", "energy.solvent=gbn2"], "energy.solvent=gbn2 needs energy.engine=openmm"),
        ([*PROTEIN, "energy.engine=torch", "energy.forcefield=charmm36_2024.xml"],
         "energy.forcefield=charmm36_2024.xml needs energy.engine=openmm"),
        ([*PROTEIN, "energy.forcefield=charmm36_2024.xml", "energy.solvent=obc2"],
         "energy.solvent=obc2 is parametrised for AMBER force fields"),
        ([*PROTEIN, "energy.forcefield=amber99.xml"], "energy.forcefield='amber99.xml' is not one of"),
        ([*PROTEIN, "method=gnn", "energy.solvent=explicit"], "energy.solvent=explicit is water for dynamics"),
        ([*PROTEIN, "energy.engine=torch", "energy.platform=CUDA"], "it needs energy.engine=openmm"),
        ([*PROTEIN, "replicas=2"], "replicas=2 batches the seeds through nrep's torch terms; add energy.engine=torch"),
        ([*PROTEIN, "method=openmm_md", "stop.fmax=10"], "stop.fmax stops a minimisation; method=openmm_md"),
        ([*PROTEIN, "stop.frms=0"], "stop.frms must be > 0 or null"),
        ([*PROTEIN, "method=cg", "method.modes.hessian=exact"], "method.modes.hessian='exact' is not one of"),
        ([*PROTEIN, "method=cg", "energy.forcefield=amber19-all.xml", "method.modes.hessian=terms"],
         "method.modes.hessian=terms takes nrep's amber14-all.xml terms, not amber19-all.xml's"),
        ([*PROTEIN, "method=openmm_md", "method.report_every=0"], "method.report_every must be >= 1"),
        (["method=cg", "method.modes.k=5", "method.modes.fraction=0.5"], "both set; keep one of them"),
    ],
)
def test_impossible_protein_settings_are_refused(overrides, message):
    with pytest.raises(NrepError, match=re.escape(message)):
        validate(compose(overrides))


def test_defaults_match_the_design_table():
    cfg = validate(compose([]))
    assert (cfg.energy.name, cfg.system.n, cfg.method.name, cfg.optim.name, cfg.device.name, cfg.seed) == (
        "pure_lj", 400, "gnn", "adam", "cpu", 0
    )


@pytest.mark.parametrize(
    "override,message",
    [
        ("system.n=10", "system.n=10 is too small"),
        ("system.loop_spacing=1", "loop_spacing must be >= 2"),
        ("optim.lr=-0.1", "optim.lr must be a finite number > 0"),
        ("optim.lr=inf", "optim.lr must be a finite number > 0 (got inf)"),
        ("optim.lr=0", "optim.lr must be a finite number > 0"),
        ("stop.max_steps=-1", "stop.max_steps must be >= 0"),
        ("stop.patience=0", "stop.patience must be >= 1"),
        ("threads=0", "threads must be >= 1"),
        ("energy.normalisation=median", "energy.normalisation='median' is not one of"),
        ("energy.lj_core_radius=0.2", "energy.lj_core_radius must lie in"),
        ("device.dtype=float16", "device.dtype='float16' is not one of"),
        ("optim.clamp_grad=0", "optim.clamp_grad must be > 0 or null"),
        ("method.hidden_dims=[0]", "method.hidden_dims must list at least one layer size"),
        ("method.latent_dim=0", "method.latent_dim must be >= 1"),
        ("method.lr=-1", "method.lr must be a finite number > 0"),
        ("seed=9223372036854775808", "seed must lie in 0 .. 9223372036854775807"),
        ("method.stop.patience=0", "method.stop.patience must be >= 1"),
        ("method.graph=dense", "method.graph='dense' is not one of"),
        ("method.modes.sample_scales=[1]", "method.modes.sample_scales must be [first, last]"),
    ],
)
def test_impossible_values_are_refused(override, message):
    with pytest.raises(NrepError, match=re.escape(message)):
        validate(compose([override]))


@pytest.mark.parametrize(
    "override,message",
    [
        ("system.nn=5", "unknown config key 'system.nn'; did you mean system.n?"),
        ("energy.softening=0.1", "unknown config key 'energy.softening'"),
        ("method=gdd", "unknown method 'gdd'"),
        ("system.n=abc", "bad value in 'system.n=abc'"),
        ("seed=0,1", "add -m"),
        ("method.solvent=implicit", "config key 'method.solvent' is now 'energy.solvent'"),
        ("method.platform=cpu", "config key 'method.platform' is now 'energy.platform'"),
    ],
)
def test_bad_overrides_get_one_line(override, message):
    with pytest.raises(NrepError) as error:
        compose([override])
    assert message in str(error.value) and "\n" not in str(error.value)


def test_the_groups_users_choose_from_are_the_yaml_folders():
    # configs/schema/ is the Python schema package, not a group (its modules hold no YAML options)
    assert user_groups() == ["device", "energy", "experiment", "init", "method", "optim", "system"]


def test_each_figure_preset_states_its_solvent_and_fig5_md_stays_in_gbn2():
    """One energy per comparison: the fig5 MD baseline and its minimisers in GBn2, figs 4 and 6 in vacuum."""
    for preset in ("fig5/md", "fig5/gd", "fig5/gnn", "fig5/md_quick"):
        cfg = validate(compose([*PROTEIN, f"experiment={preset}"], command="fold"))
        assert (cfg.energy.solvent, cfg.energy.engine) == ("gbn2", "openmm"), preset
    for preset in ("fig4/gd", "fig4/gnn", "fig4/openmm", "fig6/gd", "fig6/openmm", "fig6/inits_quick"):
        assert validate(compose([*PROTEIN, f"experiment={preset}"], command="fold")).energy.solvent == "vacuum", preset


def test_platform_names_are_openmms_in_any_case():
    cfg = validate(compose([*PROTEIN, "energy.platform=reference"], command="fold"))
    assert cfg.energy.platform == "Reference"


def test_the_loop_presets_run_every_pair_with_no_cutoff():
    """The paper's loops (figs 2, 3, 8) keep their all-pair repulsion: the size cutoff starts above them."""
    from pathlib import Path

    from omegaconf import OmegaConf

    import nrep.configs
    from nrep.configs.schema.choices import LOOP_CUTOFF_FROM_N

    presets = Path(nrep.configs.__file__).parent / "experiment"
    checked = 0
    for preset in group_options("experiment"):
        cfg = validate(compose([*base_for("experiment", preset), f"experiment={preset}"]))
        if cfg.system.name != "loop":
            continue
        swept = OmegaConf.load(presets / f"{preset}.yaml").get("hydra", {}).get("sweeper", {}).get("params", {})
        sizes = [cfg.system.n, *(int(n) for n in str(swept.get("system.n", cfg.system.n)).split(","))]
        assert cfg.energy.cutoff is None and all(cfg.energy.cutoff_for(n) is None for n in sizes), preset
        checked += 1
    assert checked >= 6
    assert validate(compose([f"system.n={LOOP_CUTOFF_FROM_N}"])).energy.cutoff_for(LOOP_CUTOFF_FROM_N) == 2.5
    assert validate(compose([f"system.n={LOOP_CUTOFF_FROM_N}", "energy.cutoff=0"])).energy.cutoff_for(10**6) is None
    assert validate(compose(["energy.cutoff=3"])).energy.cutoff_for(100) == 3.0


def test_proteins_below_the_size_threshold_keep_every_pair():
    from nrep.configs.schema.choices import AMBER_CUTOFF_FROM_ATOMS, AMBER_CUTOFF_NM

    energy = validate(compose(PROTEIN, command="fold")).energy
    assert energy.cutoff_nm is None and energy.cutoff_for(711) is None  # 2WXC, the largest shared protein
    assert energy.cutoff_for(AMBER_CUTOFF_FROM_ATOMS) == AMBER_CUTOFF_NM
    assert validate(compose([*PROTEIN, "energy.cutoff_nm=0"], command="fold")).energy.cutoff_for(10**5) is None
    assert validate(compose([*PROTEIN, "energy.cutoff_nm=1.2"], command="fold")).energy.cutoff_for(100) == 1.2
    compiled = validate(compose([*PROTEIN, "energy.engine=torch", "energy.compile=true"], command="fold")).energy
    assert compiled.cutoff_for(10**4) is None  # the compiled energy needs every pair: the size rule yields
    for preset in ("fig4/gd", "fig5/md", "fig6/gd"):
        assert validate(compose([*PROTEIN, f"experiment={preset}"], command="fold")).energy.cutoff_nm is None, preset


def test_the_figure_presets_keep_the_slow_mode_graph():
    """Their loops are at most 1000 beads: method.graph=null resolves to the paper's slow-mode graph."""
    for preset in group_options("experiment"):
        cfg = validate(compose([*base_for("experiment", preset), f"experiment={preset}"]))
        if cfg.method.name == "gnn":
            assert cfg.method.graph_for(cfg.system.n if cfg.system.name == "loop" else 711) == "slow_modes", preset
