"""Fuzz the ingest: seeded mutations of valid STAR, MOON and GEOM files, judged by the ICD oracle.

1. Validation, 300 cases in-process: :func:`validate_acquisition` (what the ingest calls) must
   return or raise :class:`InvalidAcquisitionError` with a non-empty, one-line, printable message,
   never any other exception, within a few seconds and a few hundred MB whatever the file
   declares; and its verdict must be one the ICD allows for that mutant (``Case.expect``: a mutant
   that must be refused is refused with a reason of its family, a valid one is accepted).
2. End to end, a CI-sized run of ``benchmarks/fuzz.py`` (real ``monitor`` subprocesses on a real
   site: mutants, innocent controls and odd inbox entries in one inbox): the same zeros as the
   full benchmark (no wrong acceptance, no innocent affected, no inbox entry left without a
   reason, no traceback, every command under 1 GB of RSS).

The mutations (``tests/ingest/fuzzing.py``) are shared with ``benchmarks/fuzz.py``; a failing case
is reproduced with ``make_case(write_bases(dir), index)``.
"""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

from monitor.io.acquisition import validate_acquisition
from monitor.io.errors import InvalidAcquisitionError
from monitor.reference_stars import star_target_problem
from tests.benchmark_scripts import load_benchmark

from .fuzzing import MUTATIONS, make_case, write_bases

N_CASES = 300
SEED = 2025
MAX_SECONDS = 5.0
MAX_TRACED_BYTES = 300 << 20


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return write_bases(tmp_path_factory.mktemp("bases"))


@pytest.mark.parametrize("index", range(N_CASES))
def test_validation_gives_the_verdict_the_icd_requires(bases: dict[str, bytes], tmp_path: Path, index: int) -> None:
    case = make_case(bases, index, SEED)
    path = tmp_path / "case.fits"  # odd names are the end-to-end test's business
    path.write_bytes(case.data)
    tracemalloc.start()
    t = time.perf_counter()
    reason = None
    try:
        validate_acquisition(path, check_target=star_target_problem)  # as the ingest validates
    except InvalidAcquisitionError as exc:
        message = exc.message
        assert message and "\n" not in message and "\r" not in message and message.isprintable(), case.describe()
        assert str(exc).startswith(f"{exc.reason.value}: "), case.describe()
        reason = exc.reason.value
    finally:
        elapsed = time.perf_counter() - t
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert elapsed < MAX_SECONDS, f"{case.describe()}: {elapsed:.1f} s"
    assert peak < MAX_TRACED_BYTES, f"{case.describe()}: {peak >> 20} MiB"
    assert case.expect.allows(reason is None, reason), (
        f"{case.describe()}: the ICD requires {case.expect.verdict} {list(case.expect.reasons)}, got "
        f"{'accepted' if reason is None else reason}")


def test_every_mutation_is_exercised() -> None:
    assert N_CASES >= 3 * len(MUTATIONS)  # each mutation on each base kind at least once


@pytest.mark.slow
def test_end_to_end_fuzz_reaches_the_zeros(tmp_path: Path) -> None:
    """A CI-sized run of the benchmark: 2 x 26 mutants (every mutation family on STAR and on MOON),
    6 controls and the odd inbox entries in one site, through ingest, process and results."""
    bench = load_benchmark("fuzz")
    n = 2 * len(MUTATIONS)
    doc = bench.run_benchmark(bench.parse_args(["--cases", str(n), "--batch", str(n // 2), "--sites", "1",
                                                "--controls", "3", "--no-report", "--no-legal-max",
                                                "--workdir", str(tmp_path)]))
    details = doc["details"]
    assert doc["mutants"] == n and doc["controls"] == 6 and doc["inbox_entries"] > 10
    assert doc["wrong_acceptances"] == 0, details["wrong_acceptances"]
    assert doc["innocents_affected"] == 0, details["innocents_affected"]
    assert doc["inbox_entries_left_without_a_reason"] == 0, details["inbox_entries_left_without_a_reason"]
    assert doc["mutants_without_a_verdict"] == 0, details["mutants_without_a_verdict"]
    assert doc["commands_with_traceback"] == 0, details["offending_commands"]
    assert doc["max_rss_within_limit"], doc["max_rss_mb"]
    assert doc["accepted"] > 0 and doc["refused_by_reason"], doc
