"""The examples in the docstrings of monitor.science run and give what they show.

Every module of the package is run through ``doctest`` (its examples check units, shapes and
values by running them), without changing pytest's global options. The modules listed in
``DOCUMENTED`` must keep at least one example: a docstring rewrite cannot drop them silently.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import monitor.science

MODULES = sorted(m.name for m in pkgutil.iter_modules(monitor.science.__path__, "monitor.science."))
DOCUMENTED = {
    "monitor.science.crlb",
    "monitor.science.drift",
    "monitor.science.ee_correction",
    "monitor.science.encircled_energy",
    "monitor.science.lunar_geometry",
    "monitor.science.lunar_model",
    "monitor.science.moon_photometry",
    "monitor.science.mtf_misfit",
    "monitor.science.mtf_select",
    "monitor.science.photometry",
    "monitor.science.psf",
    "monitor.science.psf_renderer",
    "monitor.science.spectral",
    "monitor.science.starpool",
    "monitor.science.starpool_estimator",
}


def test_documented_modules_exist() -> None:
    assert DOCUMENTED <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    tests = [t for t in finder.find(module, name) if t.examples]
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} failed (see the output)"
    if name in DOCUMENTED:
        assert result.attempted > 0, f"{name} has lost its docstring examples"
