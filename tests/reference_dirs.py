"""Where the tests find the site-installed reference inputs (../shared/reference: the Pickles
library, the measured RSRs, the GLOD files), which are never copied into the repository.

``MONITOR_TEST_REFERENCE_DIR`` when set; else ``shared/reference`` beside the repository or one
of its parents (CI: a copy of shared/ next to the clone); else /work/shared/reference (a clone
made elsewhere on a development machine). None when none exists: the tests that need it skip
with that reason.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["SHARED_REFERENCE", "shared_reference_dir"]


def shared_reference_dir() -> Path | None:
    env = os.environ.get("MONITOR_TEST_REFERENCE_DIR")
    if env:
        return Path(env) if Path(env).is_dir() else None
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "reference"
        if candidate.is_dir():
            return candidate
    fallback = Path("/work/shared/reference")
    return fallback if fallback.is_dir() else None


SHARED_REFERENCE = shared_reference_dir()
