"""An unfolded start by high-temperature Langevin dynamics in OpenMM, as the authors' code made it.

The prepared structure is heated (``core/systems/openmm_contexts.py``: GBn2 implicit solvent by default,
explicit TIP3P-FB water or vacuum; bonds to hydrogen constrained; seeded) and the
protein's final positions (water dropped) are the start, in the prepared atom order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from nrep.core.systems.openmm_contexts import langevin_context

if TYPE_CHECKING:
    import openmm.app


def unfold_md(
    topology: openmm.app.Topology,
    positions_nm: np.ndarray,
    seed: int,
    temperature_K: float = 1000.0,
    steps: int = 20000,
    **dynamics: object,
) -> np.ndarray:
    """Positions (n, 3) in nm of the protein after ``steps`` of Langevin dynamics at ``temperature_K``.

    ``dynamics``: :func:`langevin_context`'s timestep_fs, friction_per_ps, solvent, padding_nm and platform.
    """
    from openmm import unit

    context = langevin_context(topology, positions_nm, seed, temperature_K, **dynamics)
    context.getIntegrator().step(steps)
    state = context.getState(getPositions=True)
    x = np.asarray(state.getPositions(asNumpy=True).value_in_unit(unit.nanometer), dtype=np.float64)
    x = x[: topology.getNumAtoms()]
    return x - x.mean(axis=0) + positions_nm.mean(axis=0)  # undo the drift of the centre
