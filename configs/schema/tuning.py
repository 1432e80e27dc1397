"""Settings that depend on the system and one other choice at once: every protein (and given-system) default, in one place.

The primary config loads ``tuning/system/<system>``, ``tuning/optim/<system>_<optim>`` and
``tuning/method/<system>_<method>`` when they exist (Hydra's "specialised configs"), so
``nrep fold optim=adam`` gets protein-sized steps while ``nrep loop`` keeps the authors'
loop settings; command-line overrides always win. The entries are stored in Hydra's
ConfigStore from this module (there are no YAML files for them); each value is the
override it would be on the command line, and each says where it comes from.
"""

from __future__ import annotations

from typing import Any

TUNING: dict[str, dict[str, dict[str, Any]]] = {
    "system": {
        # a stage stops when 20 checks 20 steps apart gain less than 0.1 kJ/mol (the authors' protein setting)
        "protein": {"stop": {"min_delta": 0.1}},
    },
    "optim": {
        # one of the paper's GD rates (Fig. 6: 1e-2 ... 1e-5), nm and kJ/mol; the authors' protein clamp 0.01
        "protein_adam": {"optim": {"lr": 1.0e-3, "clamp_grad": 0.01}},
        # a time step of 1e-3 and at most 0.01 nm (0.1 Å) per atom per step: the loop settings
        # (0.1, 0.2) throw a protein apart
        "protein_fire": {"optim": {"lr": 1.0e-3, "max_step": 0.01}},
    },
    "method": {
        # X = X0 + Psi Z from the start exactly (a projected protein has overlapping atoms);
        # stage 1 stops at 1 kJ/mol (10x the coordinate stage)
        "protein_cg": {"method": {"start": "anchored", "stop": {"min_delta": 1.0}}},
        # X = X0 + GNN(Z) from the start exactly (the authors' least-squares pre-fit leaves
        # overlapping atoms, fatal with exact LJ); one of the paper's GNN rates (Fig. 6:
        # 1e-4 ... 1e-6); stage 1 stops at 1 kJ/mol
        "protein_gnn": {"method": {"lr": 1.0e-4, "output_init": "anchored", "stop": {"min_delta": 1.0}}},
        # an energy given from Python (nrep.minimise) may be exact Lennard-Jones, which a projected
        # or rescaled start with overlapping particles cannot survive: start at x0 exactly
        "given_cg": {"method": {"start": "anchored"}},
        "given_gnn": {"method": {"output_init": "anchored"}},
    },
}


def register_tuning() -> None:
    """Store every entry as the Hydra option ``tuning/<group>/<name>`` (global package)."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    for group, entries in TUNING.items():
        for name, values in entries.items():
            store.store(group=f"tuning/{group}", name=name, node=values, package="_global_")
