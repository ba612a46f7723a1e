"""Dependencies point downwards only (STYLE.md): checked on the import statements of every module.

Also: the use-cases never import one another (sideways) nor what runs them, the command-line
modules (``cli.py`` and every ``cli_<topic>.py``) count as ``cli``, and no module imports another
module's private names (``from monitor.x import _y``): what two modules share is public in one of
them, or in a module below both."""

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
                found.add(_layer_of(parts[1]))
    return found


def _layer_of(top: str) -> str:
    """The layer of a top-level name of the package: ``cli_worker`` is part of ``cli``."""
    return "cli" if top.startswith("cli_") else top


# Private names imported from another module (importer, module, name), to be made public or moved
# below both: the known ones when this check was added (files other work was changing then).
KNOWN_PRIVATE_IMPORTS: set[tuple[str, str, str]] = set()  # none left: keep it empty


def _private_imports(path: Path) -> set[tuple[str, str, str]]:
    """(importer, module, name) of every ``from monitor.x import _y`` of another module, or ``x_mod._y``
    through a module alias, function-local imports included (``monitor.cli`` re-exporting its helpers
    under their former names is not one)."""
    rel = path.relative_to(PACKAGE)
    own = ".".join(("monitor", *rel.with_suffix("").parts))
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    modules: dict[str, str] = {}  # local name -> monitor module bound to it (``from monitor.x import y as y_mod``)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("monitor"):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__") and node.module != own:
                    found.add((str(rel), node.module, alias.name))
                modules[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("monitor") and alias.asname:
                    modules[alias.asname] = alias.name
    for node in ast.walk(tree):  # ``moon_mod._count(...)``: the same private access through a module alias
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules
                and node.attr.startswith("_") and not node.attr.startswith("__") and modules[node.value.id] != own):
            found.add((str(rel), modules[node.value.id], node.attr))
    return found


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        layer = _layer_of(rel.parts[0].removesuffix(".py"))
        if layer in FORBIDDEN:
            out.append((layer, path))
    return out


@pytest.mark.parametrize("layer, path", _modules(), ids=lambda v: str(v).split("monitor/")[-1])
def test_no_upward_imports(layer: str, path: Path) -> None:
    bad = _imports(path) & FORBIDDEN[layer]
    assert not bad, f"{path.relative_to(PACKAGE)} ({layer}) imports {sorted(bad)}"


def test_the_command_line_modules_count_as_cli() -> None:
    """A use-case importing ``monitor.cli_worker`` imports the command line (what runs it)."""
    assert _layer_of("cli_worker") == "cli" and _layer_of("cli") == "cli" and _layer_of("calibration") == "calibration"
    assert "cli" in FORBIDDEN["calibration"] and "cli" in FORBIDDEN["catalogue"]


def test_no_module_imports_private_names_of_another() -> None:
    found = set().union(*(_private_imports(p) for p in sorted(PACKAGE.rglob("*.py"))))
    new = sorted(found - KNOWN_PRIVATE_IMPORTS)
    assert not new, f"private names imported from another module (make them public): {new}"


def test_science_has_no_io_side_effects() -> None:
    """Pure science: no file, database, logging configuration or environment access."""
    for path in (PACKAGE / "science").rglob("*.py"):
        text = path.read_text()
        for needle in ("open(", "os.environ", "logging.basicConfig", "sqlalchemy", "sqlmodel", "datetime.now"):
            assert needle not in text, f"{path.name} uses {needle}"
