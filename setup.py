"""Build hook: ship the top-level templates/ and migrations/ inside the wheel.

The design fixes ``templates/`` and ``migrations/`` at the repository root. A plain
``pip install .`` must still carry them, so ``build_py`` copies both into
``monitor/_bundled/`` of the build tree; at run time ``monitor.paths`` prefers the source tree
and falls back to the bundled copy.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).parent


class BuildWithBundledData(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        target = Path(self.build_lib) / "monitor" / "_bundled"
        for name in ("templates", "migrations"):
            dest = target / name
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(ROOT / name, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildWithBundledData})
