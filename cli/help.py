"""``nrep <command> --help``: options, config groups with their options, and the defaults."""

from __future__ import annotations

from omegaconf import OmegaConf

from nrep.configs.compose import COMMAND_BASE, command_options, compose, user_groups, without_hydra

OPTIONS = {
    "loop": [],
    "fold": [
        ("--pdb ID|FILE", "a 4-character PDB id (local dir, cache, then RCSB) or a .pdb/.cif file (gzipped too)"),
        ("--chain ID[,ID]", "the chains to fold as one system: A, A,B or all (default: the first protein chain)"),
    ],
}
COMMON_OPTIONS = [
    ("--out DIR", "run directory (sweep directory with -m); default under output.root"),
    ("--overwrite", "allow writing over an earlier run in --out"),
    ("--seed N", "same as seed=N"),
    ("--threads N", "torch threads (default: 1 below 10,000 particles, else every core)"),
    ("--device cpu|cuda", "same as device=cpu|cuda"),
    ("--debug", "show tracebacks instead of one-line errors"),
    ("-h, --help", "show this help"),
]
HYDRA_OPTIONS = [
    ("-m, --multirun", "one job per combination of comma-separated values (seed=0,1,2)"),
    ("--cfg job|hydra|all", "print the composed config and exit (--resolve to resolve it)"),
    ("--info [WHAT]", "Hydra's information about the config (defaults, search path, ...)"),
    ("-cd, --config-dir DIR", "add a directory of your own configs (e.g. experiment presets)"),
    ("hydra/launcher=NAME", "how a sweep's jobs run: basic (one after another), joblib (side by side,"),
    ("", "one thread each), slurm_cpu / slurm_gpu / submitit_slurm (SLURM array),"),
    ("", "submitit_local (the same path without SLURM); pip install 'nrep[launchers]'"),
]
EXAMPLES = {
    "loop": [
        "nrep loop                                  # the defaults below",
        "nrep loop energy=bond_lj system.n=1000 optim.lr=1e-2",
        "nrep loop -m seed=0,1,2 energy=pure_lj,bond_lj   # six runs",
        "nrep loop experiment=smoke --out results/try1    # a few seconds",
        "nrep loop --cfg job energy.lj_core_radius=0.8    # show the config, run nothing",
        "nrep loop -m hydra/launcher=joblib method=gd,cg,gnn seed=0,1  # jobs side by side",
        "nrep report results/loop                   # tables and figures of the runs",
    ],
    "fold": [
        "nrep fold --pdb 2JOF                       # GNN from the extended chain",
        "nrep fold --pdb 2JOF -m method=gd,cg,gnn seed=0,1,2",
        "nrep fold --pdb structures/mine.cif --chain B init=native method=gd",
        "nrep fold --pdb 2JOF energy.weights.coulomb=0 optim=lbfgs",
        "NREP_PDB_DIR=~/pdb nrep fold --pdb 5AWL    # read 5AWL.pdb from ~/pdb first",
        "nrep fold --pdb 2JOF -m hydra/launcher=slurm_cpu hydra.launcher.partition=short seed=0,1,2,3",
    ],
}


def _table(rows: list[tuple[str, str]]) -> list[str]:
    width = max(len(left) for left, _ in rows)
    return [f"  {left:<{width}}  {right}" for left, right in rows]


def command_help(command: str, description: str) -> str:
    cfg = compose(COMMAND_BASE[command], command=command)
    choices = cfg.hydra.runtime.choices
    groups = []
    for group in user_groups():
        default = choices.get(group)
        names = command_options(command, group)
        options = [f"{o}*" if o == default else o for o in names]
        groups.append((group, ", ".join(options)))
    defaults = OmegaConf.to_yaml(without_hydra(cfg)).rstrip().splitlines()

    lines = [
        f"usage: nrep {command} [options] [Hydra flags] [key=value ...]",
        "",
        f"{description}.",
        "",
        "options:",
        *_table(OPTIONS[command] + COMMON_OPTIONS),
        "",
        "Hydra flags and overrides (passed to Hydra unchanged):",
        *_table(HYDRA_OPTIONS),
        "",
        "config groups (choose with group=option; * marks the default):",
        *_table(groups),
        "",
        "defaults (change any key with key=value; unknown keys are errors):",
        *("  " + line for line in defaults),
        "",
        "examples:",
        *("  " + line for line in EXAMPLES[command]),
    ]
    return "\n".join(lines)
