"""The system's processes default to one BLAS/OpenMP thread (monitor/__init__.py).

Catches: the default not being set before numpy loads in a fresh process (a process importing
``monitor`` first), and a site's own setting being overridden. Cannot catch: a program that imports
numpy before ``monitor`` (the variables are read when OpenBLAS loads); that is not how the command
line, the daemon's job children or the workers start.
"""

from __future__ import annotations

import os
import subprocess
import sys

VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
PROBE = f"import monitor, os, numpy; print(' '.join(os.environ[v] for v in {VARS!r}))"


def _run(env: dict[str, str]) -> str:
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_one_thread_by_default_and_the_site_setting_kept():
    clean = {k: v for k, v in os.environ.items() if k not in VARS}
    assert _run(clean) == "1 1 1"
    assert _run({**clean, "OPENBLAS_NUM_THREADS": "4"}) == "4 1 1"
