"""The benchmark scripts (``benchmarks/*.py``, not a package) loaded by path, for the tests that call
their simulators and fabricators instead of keeping copies of them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` as the module ``_monitor_benchmark_<name>``, loaded once per process and
    registered in ``sys.modules`` (dataclasses look their module up there)."""
    module_name = f"_monitor_benchmark_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, BENCHMARKS / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]
