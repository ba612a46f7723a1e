"""benchmarks/star_ref2.py on a short history: it used to crash with ``--months`` <= 6.

The worst pool "after the warm-up" (the first ``WARMUP`` = 6 starpools left out) took the max of an
empty sequence when the run had no starpool after the warm-up, in ``run`` and then in ``summarise``;
with one month the drift fits had a single epoch. Now those entries are None (and ``summarise``
takes the worst over the runs that have one), and fewer than two months is refused with a clear
message (a drift needs two epochs). Catches: the crash coming back, a short run's after-warm-up
entry made up from the warm-up pools. Cannot catch: anything about the numbers themselves (the
benchmark's own JSON is where they are judged).
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.benchmark_scripts import load_benchmark
from tests.reference_dirs import SHARED_REFERENCE

SHARED = SHARED_REFERENCE or Path("/nonexistent/shared/reference")

pytestmark = pytest.mark.skipif(
    not (SHARED / "pickles").is_dir(), reason="site REF-2 inputs (Pickles library) not installed here"
)


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_benchmark("star_ref2")


def test_short_history_runs_and_summarises(bench: ModuleType) -> None:
    months = 3  # <= WARMUP: no starpool after the warm-up
    doc = bench.run(SHARED / "pickles", SHARED / "rsr_measured", months, 12, 30, 1, -0.01, 1)
    pipeline = doc["bands"]["B2"][bench.PIPELINE]
    assert pipeline["n_pools"] == months
    assert pipeline["worst_pool_after_warmup_pct"] is None
    assert pipeline["floor_worst_pool_after_warmup_pct"] is None
    assert pipeline["worst_pool_pct"] is not None
    summary = bench.summarise([doc])
    assert summary["bands"]["B2"][bench.PIPELINE]["worst_pool_after_warmup_pct"] is None
    # the runs that have one give the summary's worst; the others do not count
    assert bench._worst_of([None, -0.4, 0.3, None]) == -0.4


def test_one_month_is_refused_clearly(
    bench: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "star_ref2.py",
            "--library",
            str(SHARED / "pickles"),
            "--rsr-dir",
            str(SHARED / "rsr_measured"),
            "--months",
            "1",
        ],
    )
    with pytest.raises(SystemExit) as exc:
        bench.main()
    assert exc.value.code == 2
    assert "--months must be >= 2" in capsys.readouterr().err
    with pytest.raises(ValueError, match="two starpool epochs"):
        bench.run(SHARED / "pickles", SHARED / "rsr_measured", 1, 12, 30, 1, -0.01, 1)
