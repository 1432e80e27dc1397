"""Benchmark scripts (benchmarks/*.py) loaded as modules, so their tests call their functions."""

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load_script(name: str, module_name: str | None = None):
    """benchmarks/<name>.py as a module (registered in sys.modules under ``module_name`` or ``name``)."""
    module_name = module_name or name
    spec = importlib.util.spec_from_file_location(module_name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return load_script("bench", "nrep_bench")


@pytest.fixture(scope="module")
def loop_bench():
    return load_script("loop_bench")


@pytest.fixture(scope="module")
def fixed_seeds():
    return load_script("fixed_seeds")


@pytest.fixture(scope="module")
def protein_bench():
    return load_script("protein_bench")
