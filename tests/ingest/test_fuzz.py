"""Fuzz the ingest validation: 300 seeded mutations of valid STAR, MOON and GEOM files.

For each case, :func:`validate_acquisition` (what the ingest calls) must return, or raise
:class:`InvalidAcquisitionError` with a non-empty, one-line, printable message: never any other
exception, and within a few seconds and a few hundred MB whatever the file declares. The
mutations (``tests/ingest/fuzzing.py``) are shared with ``benchmarks/fuzz.py``; a failing case is
reproduced with ``make_case(write_bases(dir), index)``.
"""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

from monitor.io.fits_reader import InvalidAcquisitionError, validate_acquisition

from .fuzzing import MUTATIONS, make_case, write_bases

N_CASES = 300
SEED = 2025
MAX_SECONDS = 5.0
MAX_TRACED_BYTES = 300 << 20


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return write_bases(tmp_path_factory.mktemp("bases"))


@pytest.mark.parametrize("index", range(N_CASES))
def test_validation_refuses_or_accepts_cleanly(bases: dict[str, bytes], tmp_path: Path, index: int) -> None:
    case = make_case(bases, index, SEED)
    path = tmp_path / case.name
    path.write_bytes(case.data)
    tracemalloc.start()
    t = time.perf_counter()
    try:
        validate_acquisition(path)
    except InvalidAcquisitionError as exc:
        message = exc.message
        assert message and "\n" not in message and "\r" not in message and message.isprintable(), case.describe()
        assert str(exc).startswith(f"{exc.reason.value}: "), case.describe()
    finally:
        elapsed = time.perf_counter() - t
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert elapsed < MAX_SECONDS, f"{case.describe()}: {elapsed:.1f} s"
    assert peak < MAX_TRACED_BYTES, f"{case.describe()}: {peak >> 20} MiB"


def test_every_mutation_is_exercised() -> None:
    assert N_CASES >= 3 * len(MUTATIONS)  # each mutation on each base kind at least once
