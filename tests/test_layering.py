"""Dependencies point downwards only (STYLE.md): checked on the import statements of every module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "monitor"

# The use-cases: each glues io + science + catalogue for one job; none calls another (no sideways
# imports): what two of them share lives below them (catalogue, science, failures...).
USE_CASES = {"ingest", "calibration", "reports"}
# What runs the use-cases (process control, scheduling, command line, simulator, demo).
ABOVE_USE_CASES = {"scheduler", "cli", "daemon", "simulate", "demo", "web"}

# layer -> monitor subpackages it must never import
FORBIDDEN = {
    "science": {"io", "catalogue", "ingest", "calibration", "reports", "scheduler", "cli", "settings", "site",
                "simulate", "demo", "results", "reference_stars", "settings_types", "settings_loader", "daemon"},
    "domain": {"science", "io", "catalogue", "ingest", "calibration", "reports", "scheduler", "cli", "site",
               "reference_stars"},
    # readers and writers of formats: no science (a reader converts, it does not estimate)
    "io": {"catalogue", "ingest", "calibration", "reports", "scheduler", "cli", "site", "science", "daemon",
           "simulate", "demo", "results", "reference_stars"},
    "catalogue": {"ingest", "calibration", "reports", "scheduler", "cli", "science"},
    **{case: (USE_CASES - {case}) | ABOVE_USE_CASES for case in sorted(USE_CASES)},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "monitor" and len(parts) > 1:
                found.add(parts[1])
    return found


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        layer = rel.parts[0].removesuffix(".py")
        if layer in FORBIDDEN:
            out.append((layer, path))
    return out


@pytest.mark.parametrize("layer, path", _modules(), ids=lambda v: str(v).split("monitor/")[-1])
def test_no_upward_imports(layer: str, path: Path) -> None:
    bad = _imports(path) & FORBIDDEN[layer]
    assert not bad, f"{path.relative_to(PACKAGE)} ({layer}) imports {sorted(bad)}"


def test_science_has_no_io_side_effects() -> None:
    """Pure science: no file, database, logging configuration or environment access."""
    for path in (PACKAGE / "science").rglob("*.py"):
        text = path.read_text()
        for needle in ("open(", "os.environ", "logging.basicConfig", "sqlalchemy", "sqlmodel", "datetime.now"):
            assert needle not in text, f"{path.name} uses {needle}"
