"""nrep: neural-network reparametrisation of molecular energy minimisation, from Python.

    import nrep
    result = nrep.minimise(my_energy, x0, method="gnn", stop={"max_steps": 2000})
    result.energy, result.x, result.trace          # the final energy, coordinates, trace table
    nrep.run("fold", pdb="2JOF", method="cg")      # as `nrep fold --pdb 2JOF method=cg`
    nrep.load_runs("results")                      # one row per finished run

This file is the package ``nrep`` itself: ``pyproject.toml`` maps the repository root to
it (``package-dir``), with ``cli/``, ``configs/`` and ``core/`` as ``nrep.cli``,
``nrep.configs`` and ``nrep.core``. The names below are imported on first use, so
``import nrep`` is instant and imports no torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nrep.cli.api import load_runs, run
    from nrep.configs.schema import ConfigError
    from nrep.core.errors import NrepError
    from nrep.core.run.given import minimise
    from nrep.core.run.result import Result

# public name -> the module that defines it
API = {
    "minimise": "nrep.core.run.given",
    "run": "nrep.cli.api",
    "load_runs": "nrep.cli.api",
    "Result": "nrep.core.run.result",
    "NrepError": "nrep.core.errors",
    "ConfigError": "nrep.configs.schema",
}

__all__ = ["ConfigError", "NrepError", "Result", "__version__", "load_runs", "minimise", "run"]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib import metadata

        try:
            return metadata.version("nrep")
        except metadata.PackageNotFoundError:
            return "unknown"
    if name in API:
        value = getattr(import_module(API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'nrep' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
