"""The retry policy of ``monitor process`` (monitor.failures), stage by stage, on real files.

For each unit of work (a star, Moon or GEOM acquisition; a starpool; a drift series):

- a *transient* failure (the archived file moved away or replaced by a directory: the tests run
  as root, where ``chmod 000`` does not stop reads) leaves the unit pending with no verdict row,
  the others are processed, the run is recorded ``partial`` with one problem line, and a second
  run after the file is back processes it;
- an *internal* error (a science function monkeypatched to raise for one unit) leaves it pending
  too, its traceback is logged with its id, the run goes on (the later stages run) and is
  recorded ``partial``;
- a *data* problem still gets its permanent verdict row, logged at WARNING, and is not retried;
- a run interrupted between the photometry commit and the starpool stage, or before the drift
  fits, is caught up by the next plain run, which then holds exactly the results of an
  uninterrupted run.

Small campaigns (4 stars a month: no PSF fit, except the one test that needs it) keep the module
at a few seconds per test. The catalogue is a SQLite file: the policy does not depend on the
backend, and the PostgreSQL pass of CI runs the whole chain (test_processing_catalogue.py) and
the one case that needs a server (a connection lost in the middle of a run).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from astropy.io import fits
from sqlmodel import col, select

from monitor.calibration import geometry as geo_mod
from monitor.calibration import moon as moon_mod
from monitor.calibration import star as star_mod
from monitor.calibration import star_drift_stage as drift_mod
from monitor.calibration import star_photometry as photometry_mod
from monitor.calibration import starpool_stage as starpool_mod
from monitor.calibration.pending import UnitFailure
from monitor.calibration.service import ProcessingSummary, run_processing
from monitor.calibration.star import StarSummary
from monitor.calibration.star_photometry import campaign_period
from monitor.catalogue import migrate
from monitor.catalogue.engine import make_engine
from monitor.catalogue.models import (
    Acquisition,
    BandImage,
    DriftResult,
    GeometryResult,
    MoonMeasurement,
    MtfResult,
    ProcessingRun,
    StarPhotometry,
    Starpool,
    StarpoolResult,
)
from monitor.failures import FailureKind
from monitor.ingest.service import run_ingest
from monitor.science import starpool_estimator
from monitor.settings import Settings, load_settings
from monitor.simulate.campaign import simulate_campaigns
from monitor.simulate.truth import SimulationTruth
from monitor.site import init_site, session_scope, utc_now

START = datetime(2025, 1, 1, tzinfo=UTC)
VERDICT_ROWS = {"STAR": StarPhotometry, "MOON": MoonMeasurement, "GEOM": GeometryResult}
STAGE_OF_TYPE = {"STAR": "star", "MOON": "moon", "GEOM": "geometry"}


# --------------------------------------------------------------------------- campaigns and sites


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'catalogue.db'}"


def _simulate(root: Path, **kwargs: Any) -> tuple[Path, SimulationTruth]:
    """A campaign with plain float32 FITS files (no uint16, no gzip: defects are injected in place)."""
    options: dict[str, Any] = dict(start=START, months=1, seed=7, satellites=["PHR1A"], stars_per_campaign=0,
                                   moon_per_month=0, geom_per_month=0, bad_files=False, saturated_fraction=0.0,
                                   uint16_fraction=0.0, gzip_fraction=0.0)
    options.update(kwargs)
    return root, simulate_campaigns(root, **options)


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, SimulationTruth]]:
    """Inboxes simulated once for the module, copied into each test's site."""
    root = tmp_path_factory.mktemp("sources")
    return {
        "star": _simulate(root / "star", months=2, stars_per_campaign=4),  # two starpools: a drift
        "mixed": _simulate(root / "mixed", satellites=["PHR1A", "PNEO3"], stars_per_campaign=4, moon_per_month=1,
                           geom_per_month=1),
        "moon": _simulate(root / "moon", satellites=["PNEO3"], moon_per_month=2),
        "geom": _simulate(root / "geom", geom_per_month=2),
    }


def _site(tmp_path: Path, url: str | None, source: Path, prepare: Callable[[Path], None] | None = None
          ) -> Settings:
    """A site whose catalogue (``url``, or the site's own SQLite file when None) holds the
    ingested files of ``source`` (``prepare`` edits the inbox first)."""
    env = {"MONITOR_INGEST_SETTLE_SECONDS": "0"} | ({"MONITOR_DATABASE_URL": url} if url else {})
    settings = load_settings(tmp_path / "site", env=env)
    init_site(settings)
    for f in source.iterdir():
        shutil.copy2(f, settings.inbox / f.name)
    if prepare is not None:
        prepare(settings.inbox)
    with session_scope(settings) as session:
        summary = run_ingest(session, settings, utc_now())
    assert summary.ingested and not summary.rejected
    return settings


def _process(settings: Settings) -> ProcessingSummary:
    with session_scope(settings) as session:
        return run_processing(session, settings, utc_now())


def _run(settings: Settings, run_id: int | None) -> ProcessingRun:
    with session_scope(settings) as session:
        run = session.get(ProcessingRun, run_id)
        assert run is not None
        return run


def _acquisitions(settings: Settings, acq_type: str) -> list[Acquisition]:
    """Archived acquisitions of a type, in processing order (DATE-OBS)."""
    with session_scope(settings) as session:
        return list(session.exec(select(Acquisition).where(Acquisition.acq_type == acq_type)
                                 .order_by(col(Acquisition.date_obs), col(Acquisition.id))).all())


def _verdicts(settings: Settings, acq_type: str) -> dict[str, int]:
    """ACQ_ID -> number of verdict rows (photometry, Moon measurement or geometry result)."""
    model = VERDICT_ROWS[acq_type]
    with session_scope(settings) as session:
        ids = session.exec(select(Acquisition.acq_id).join(model, col(model.acquisition_id) == col(Acquisition.id))
                           ).all()
    return {a.acq_id: list(ids).count(a.acq_id) for a in _acquisitions(settings, acq_type)}


@contextmanager
def _unreadable(path: Path, how: str) -> Iterator[None]:
    """The archived file is gone (``moved``) or a directory stands in its place (``directory``)."""
    away = path.with_name(path.name + ".away")
    path.rename(away)
    if how == "directory":
        path.mkdir()
    try:
        yield
    finally:
        if how == "directory":
            path.rmdir()
        away.rename(path)


def _records(caplog: pytest.LogCaptureFixture, level: int, *words: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == level and all(w in r.getMessage() for w in words)]


def _assert_partial(settings: Settings, summary: ProcessingSummary, expected_line_start: str) -> None:
    """The run left exactly one unit pending, with this problem line, and was recorded ``partial``."""
    assert len(summary.problems) == 1 and summary.problems[0].startswith(expected_line_start), summary.problems
    last_line = summary.lines()[-1]
    assert last_line.startswith("problems: 1 unit(s) left pending") and summary.problems[0] in last_line
    run = _run(settings, summary.run_id)
    assert run.outcome == "partial" and summary.problems[0] in run.message


def _assert_ok(settings: Settings, summary: ProcessingSummary) -> None:
    assert summary.problems == [] and not summary.lines()[-1].startswith("problems")
    assert _run(settings, summary.run_id).outcome == "ok"


# --------------------------------------------------------------------------- summary


def test_summary_lines_name_the_units_left_pending() -> None:
    """One line per stage (with its counts), then one line about the problems (the first ten)."""
    star = StarSummary(photometry=3, starpools=["PHR1A-2025-01"])
    failures = [UnitFailure(f"ACQ{i}", FailureKind.TRANSIENT, "OSError: gone") for i in range(11)]
    failures.append(UnitFailure("PHR1A-2025-01", FailureKind.INTERNAL, "TypeError: defect", "Traceback ..."))
    for failure in failures:
        star.leave_pending(failure, logging.getLogger("test"), "stage")
    summary = ProcessingSummary()
    summary.add("star", star)
    assert summary.problems[0] == "ACQ0: transient: OSError: gone"
    assert summary.problems[-1] == "PHR1A-2025-01: internal error: TypeError: defect"
    stage_line, problems_line = summary.lines()
    assert stage_line == ("star: 3 acquisitions measured (0 bands rejected), starpools recomputed: PHR1A-2025-01, "
                          "0 drift fits, 0 alerts, 11 deferred, 1 internal error(s)")
    assert problems_line.startswith("problems: 12 unit(s) left pending for the next run: ACQ0: transient: OSError")
    assert problems_line.endswith("ACQ9: transient: OSError: gone; and 2 more")
    assert ProcessingSummary(parts={"star": StarSummary()}).lines() == [
        "star: 0 acquisitions measured (0 bands rejected), starpools recomputed: none, 0 drift fits, 0 alerts"]


# --------------------------------------------------------------------------- acquisitions: transient


@pytest.mark.parametrize(("source", "acq_type", "how"), [
    ("star", "STAR", "moved"), ("star", "STAR", "directory"), ("moon", "MOON", "moved"), ("geom", "GEOM", "directory"),
])
def test_unreadable_archived_file_is_left_pending(tmp_path: Path, sqlite_url: str, sources: Any,
                                                  caplog: pytest.LogCaptureFixture, source: str, acq_type: str,
                                                  how: str) -> None:
    """Before: a permanent ``unreadable`` (star, Moon) or ``failed`` (geometry) verdict."""
    settings = _site(tmp_path, sqlite_url, sources[source][0])
    target = _acquisitions(settings, acq_type)[0]
    stage = STAGE_OF_TYPE[acq_type]
    with _unreadable(settings.site / target.archive_path, how):
        first = _process(settings)
    rows = _verdicts(settings, acq_type)
    assert rows.pop(target.acq_id) == 0  # no verdict row
    assert rows and all(n > 0 for n in rows.values())  # the others are processed
    assert first.parts[stage].deferred == 1 and first.parts[stage].errors == 0
    _assert_partial(settings, first, f"{target.acq_id}: transient: ")
    assert _records(caplog, logging.WARNING, target.acq_id, "transient")
    second = _process(settings)  # the file is back
    assert _verdicts(settings, acq_type)[target.acq_id] > 0
    assert second.parts[stage].deferred == 0
    _assert_ok(settings, second)


@pytest.mark.parametrize("compress", [False, True], ids=["fits", "fits.gz"])
def test_archived_moon_file_damaged_since_ingest_is_a_verdict(tmp_path: Path, sqlite_url: str, sources: Any,
                                                              compress: bool) -> None:
    """An archived Moon file cut short after its ingest (disk damage) gets a permanent truncated
    verdict on every band; before, astropy's errors on the damaged file were an OSError or a
    KeyError (for a .fits.gz): left pending and retried at every run."""
    import gzip

    settings = _site(tmp_path, sqlite_url, sources["moon"][0])
    target = _acquisitions(settings, "MOON")[0]
    path = settings.site / target.archive_path
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    cut = data[: len(data) - 20000]
    path.write_bytes(gzip.compress(cut) if compress else cut)
    summary = _process(settings)
    _assert_ok(settings, summary)
    with session_scope(settings) as session:
        rows = session.exec(select(MoonMeasurement).where(MoonMeasurement.acquisition_id == target.id)).all()
    assert rows and {(r.status, r.reason) for r in rows} == {("rejected", "truncated")}
    assert _process(settings).parts["moon"].acquisitions == 0  # a verdict: not retried


# --------------------------------------------------------------------------- acquisitions: internal errors


def _crash(*_: Any, **__: Any) -> None:
    """A stage replaced by this stops the run there, as a killed process would."""
    raise RuntimeError("simulated crash")


def _raise_once(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, exc: Exception,
                when: Callable[..., bool] = lambda *a, **k: True) -> list[int]:
    """Replace ``module.name`` by a function raising ``exc`` on the first call with ``when(...)``
    true (a programming error for that one unit); returns the list of calls that raised."""
    real = getattr(module, name)
    raised: list[int] = []

    def patched(*args: Any, **kwargs: Any) -> Any:
        if not raised and when(*args, **kwargs):
            raised.append(1)
            raise exc
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, patched)
    return raised


def _assert_internal_error_left_pending(settings: Settings, summary: ProcessingSummary, caplog: Any,
                                        acq_type: str, acq_id: str, error: str) -> None:
    stage = STAGE_OF_TYPE[acq_type]
    rows = _verdicts(settings, acq_type)
    assert rows.pop(acq_id) == 0 and all(n > 0 for n in rows.values())
    assert summary.parts[stage].errors == 1 and summary.parts[stage].deferred == 0
    _assert_partial(settings, summary, f"{acq_id}: internal error: {error}")
    (record,) = _records(caplog, logging.ERROR, acq_id, "internal error")
    assert "Traceback (most recent call last)" in record.getMessage() and error in record.getMessage()


def test_star_photometry_internal_error_does_not_stop_the_run(tmp_path: Path, sqlite_url: str, sources: Any,
                                                              caplog: pytest.LogCaptureFixture,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: the exception failed the whole run, and the geometry and Moon stages never ran."""
    settings = _site(tmp_path, sqlite_url, sources["mixed"][0])
    target = _acquisitions(settings, "STAR")[1]
    _raise_once(monkeypatch, photometry_mod, "star_reference", KeyError("simulated defect"),
                when=lambda _model, hip, *_: hip == target.hip)
    first = _process(settings)
    _assert_internal_error_left_pending(settings, first, caplog, "STAR", target.acq_id, "KeyError: 'simulated defect'")
    assert first.parts["star"].photometry == 3
    assert first.parts["geometry"].processed == 2 and first.parts["moon"].acquisitions == 1  # the run went on
    monkeypatch.undo()
    second = _process(settings)
    assert _verdicts(settings, "STAR")[target.acq_id] == 5 and second.parts["star"].photometry == 1
    _assert_ok(settings, second)


@pytest.mark.parametrize("function", ["moon_irradiance", "measure_moon_band"])
def test_moon_internal_error_is_left_pending(tmp_path: Path, sqlite_url: str, sources: Any,
                                             caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
                                             function: str) -> None:
    """Before: a KeyError from the irradiance became a permanent ``unknown-band`` row, one from the
    photometry an ``unreadable`` row. Raised on the third band: none of the acquisition's bands
    gets a row (one commit per acquisition)."""
    settings = _site(tmp_path, sqlite_url, sources["moon"][0])
    target = _acquisitions(settings, "MOON")[0]  # processed first
    calls: list[int] = []

    def third_call(*_: Any, **__: Any) -> bool:
        calls.append(1)
        return len(calls) == 3

    error = KeyError("simulated defect") if function == "moon_irradiance" else TypeError("simulated defect")
    _raise_once(monkeypatch, moon_mod, function, error, when=third_call)
    first = _process(settings)
    text = "KeyError: 'simulated defect'" if function == "moon_irradiance" else "TypeError: simulated defect"
    _assert_internal_error_left_pending(settings, first, caplog, "MOON", target.acq_id, text)
    monkeypatch.undo()
    second = _process(settings)
    assert _verdicts(settings, "MOON")[target.acq_id] == 7
    _assert_ok(settings, second)


def test_geometry_internal_error_is_left_pending(tmp_path: Path, sqlite_url: str, sources: Any,
                                                 caplog: pytest.LogCaptureFixture,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: a permanent ``failed`` row "internal error (...)"."""
    settings = _site(tmp_path, sqlite_url, sources["geom"][0])
    target = _acquisitions(settings, "GEOM")[0]
    _raise_once(monkeypatch, geo_mod, "adjust_stereo_geometry", TypeError("simulated defect"))
    first = _process(settings)
    _assert_internal_error_left_pending(settings, first, caplog, "GEOM", target.acq_id, "TypeError: simulated defect")
    monkeypatch.undo()
    _assert_ok(settings, _process(settings))
    assert _verdicts(settings, "GEOM")[target.acq_id] == 1


# --------------------------------------------------------------------------- acquisitions: data problems


def test_star_data_problem_is_a_logged_verdict(tmp_path: Path, sqlite_url: str, sources: Any,
                                               caplog: pytest.LogCaptureFixture) -> None:
    """A NaN next to the star's pixel in B1: rejected ``nan-in-window`` for good (and now logged)."""
    inbox, truth = sources["star"]
    f = next(f for f in truth.files if f.type == "STAR")

    def damage(site_inbox: Path) -> None:
        x, y = f.bands["B1"].star_x, f.bands["B1"].star_y
        with fits.open(site_inbox / f.file, mode="update") as hd:
            hd["B1"].data[int(round(y)), int(round(x)) + 1] = np.nan

    settings = _site(tmp_path, sqlite_url, inbox, prepare=damage)
    first = _process(settings)
    _assert_ok(settings, first)
    assert first.parts["star"].rejected_bands == 1
    with session_scope(settings) as session:
        rows = session.exec(select(StarPhotometry).join(Acquisition).where(Acquisition.acq_id == f.acq_id)).all()
    assert {(r.band, r.status, r.reason) for r in rows if r.status != "ok"} == {("B1", "rejected", "nan-in-window")}
    assert _records(caplog, logging.WARNING, str(f.acq_id), "B1", "nan-in-window")
    second = _process(settings)
    assert second.parts["star"].photometry == 0  # a verdict is not retried
    _assert_ok(settings, second)


def test_moon_band_without_reference_rsr_is_rejected(tmp_path: Path, sqlite_url: str, sources: Any) -> None:
    """The band's REF-1 response is checked explicitly (not inferred from a KeyError)."""
    settings = _site(tmp_path, sqlite_url, sources["moon"][0])
    acq = _acquisitions(settings, "MOON")[0]
    with session_scope(settings) as session:
        bands = list(session.exec(select(BandImage).where(BandImage.acquisition_id == acq.id)).all())
    foreign = BandImage.model_validate({**bands[0].model_dump(exclude={"id"}), "band": "B0"})  # a PHR band name
    rows = moon_mod.measure_acquisition(acq, [*bands[:2], foreign], settings.site, settings, 1, utc_now())
    assert [(r.band, r.status, r.reason) for r in rows] == [
        (bands[0].band, "ok", None), (bands[1].band, "ok", None), ("B0", "rejected", "unknown-band")]
    assert "no spectral response for PNEO band 'B0'" in rows[2].message


# --------------------------------------------------------------------------- starpools


def _pools(settings: Settings) -> dict[str, Starpool]:
    with session_scope(settings) as session:
        return {p.period_key: p for p in session.exec(select(Starpool)).all()}


def _pool_results(settings: Settings) -> dict[tuple[str, str, int], tuple[Any, ...]]:
    """(starpool key, band, version) -> the numbers of the result."""
    with session_scope(settings) as session:
        rows = session.exec(select(StarpoolResult, Starpool).join(Starpool)).all()
    return {(p.period_key, r.band, r.version): (r.a, r.a_sigma, r.n_used, r.n_rejected, r.half_width_px, r.ee_source,
                                                 r.acquisition_ids, r.per_window, r.per_star) for r, p in rows}


def _drifts(settings: Settings) -> dict[tuple[str, str, str], tuple[Any, ...]]:
    """(band, quantity, model) -> the numbers of the STAR drift fits (each fitted once)."""
    with session_scope(settings) as session:
        rows = session.exec(select(DriftResult).where(DriftResult.method == "STAR")).all()
    out = {(d.band, d.quantity, d.model): (d.a0, d.a0_sigma, d.rate_per_year, d.rate_sigma, d.n_points) for d in rows}
    assert len(out) == len(rows)
    return out


def test_unreadable_member_keeps_the_starpool_owing(tmp_path: Path, sqlite_url: str,
                                                    tmp_path_factory: pytest.TempPathFactory,
                                                    caplog: pytest.LogCaptureFixture,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A member's pixels cannot be read for the PSF fit (the file went away after its photometry).
    Before: that member was dropped and a degraded result stored. Now: no result, the starpool
    owes its recomputation, the next run does it with every member."""
    source, _ = _simulate(tmp_path_factory.mktemp("psf"), stars_per_campaign=5)  # 5 = MIN_PSF_STARS
    settings = _site(tmp_path, sqlite_url, source)
    member = _acquisitions(settings, "STAR")[2]
    path = settings.site / member.archive_path
    real_stage = star_mod.starpool_stage

    def file_goes_away(*args: Any, **kwargs: Any) -> None:
        path.rename(path.with_name(path.name + ".away"))
        real_stage(*args, **kwargs)

    monkeypatch.setattr(star_mod, "starpool_stage", file_goes_away)
    first = _process(settings)
    monkeypatch.undo()
    (key,) = _pools(settings)
    assert first.parts["star"].photometry == 5 and first.parts["star"].starpools == []
    assert first.parts["star"].deferred == 1
    _assert_partial(settings, first, f"{key}: transient: FileNotFoundError")
    assert _records(caplog, logging.WARNING, key, "transient")
    assert _pool_results(settings) == {} and _pools(settings)[key].pending_since is not None
    with session_scope(settings) as session:
        assert session.exec(select(MtfResult)).all() == []  # nothing of the starpool was kept
    path.with_name(path.name + ".away").rename(path)
    second = _process(settings)
    _assert_ok(settings, second)
    assert second.parts["star"].starpools == [key] and _pools(settings)[key].pending_since is None
    sources = [r[5] for r in _pool_results(settings).values()]  # ee_source: the PSF fit used every member
    assert len(sources) == 5 and all(s.startswith(("psf-fit (5 stars", "none")) for s in sources), sources
    assert any(s.startswith("psf-fit") for s in sources)


def test_starpool_internal_error_is_left_owing(tmp_path: Path, sqlite_url: str, sources: Any,
                                               caplog: pytest.LogCaptureFixture,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _site(tmp_path, sqlite_url, sources["star"][0])
    target = _acquisitions(settings, "STAR")[0]  # a member of the first month's starpool
    # the starpool combination, called by the use-case through science.starpool_estimator
    _raise_once(monkeypatch, starpool_estimator, "combine_starpool", TypeError("simulated defect"),
                when=lambda a, s, ids, *_, **__: target.acq_id in ids)
    first = _process(settings)
    monkeypatch.undo()
    key1, key2 = sorted(_pools(settings))
    assert first.parts["star"].starpools == [key2] and first.parts["star"].errors == 1
    _assert_partial(settings, first, f"{key1}: internal error: TypeError: simulated defect")
    (record,) = _records(caplog, logging.ERROR, key1, "internal error")
    assert "Traceback (most recent call last)" in record.getMessage()
    assert {k for k, _, _ in _pool_results(settings)} == {key2}
    assert _pools(settings)[key1].pending_since is not None and _pools(settings)[key2].pending_since is None
    assert _drifts(settings) == {}  # one starpool: nothing to fit yet
    second = _process(settings)
    _assert_ok(settings, second)
    assert second.parts["star"].starpools == [key1]
    assert {k for k, _, _ in _pool_results(settings)} == {key1, key2}
    assert len(_drifts(settings)) == 2 * 5  # linear and exponential, every band


def test_starpool_without_enough_stars_is_not_retried(tmp_path: Path, sqlite_url: str,
                                                      tmp_path_factory: pytest.TempPathFactory,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """"Not enough stars" is the data's verdict on a starpool: no result, and the mark is cleared."""
    source, _ = _simulate(tmp_path_factory.mktemp("two_stars"), stars_per_campaign=2)
    settings = _site(tmp_path, sqlite_url, source)
    first = _process(settings)
    (key,) = _pools(settings)
    _assert_ok(settings, first)
    assert first.parts["star"].starpools == [key] and _pool_results(settings) == {}
    assert _pools(settings)[key].pending_since is None
    assert _records(caplog, logging.WARNING, key, "no window has enough stars")
    second = _process(settings)
    assert second.parts["star"].starpools == []
    _assert_ok(settings, second)


def test_starpool_whose_only_member_has_an_all_nan_band(tmp_path: Path, sqlite_url: str,
                                                        tmp_path_factory: pytest.TempPathFactory) -> None:
    """A legal file whose band B3 is all NaN and alone in its starpool: the band is rejected
    all-nan, the starpool has no result for it and is not retried (before: ``max()`` of no
    window raised in the starpool stage, an internal error at every run). Found by
    benchmarks/fuzz.py on a one-file site."""
    source, truth = _simulate(tmp_path_factory.mktemp("one_star"), stars_per_campaign=1)
    path = next(source.glob("*.fits"))
    with fits.open(path, mode="update") as hdul:
        hdul["B3"].data[:] = np.nan
    settings = _site(tmp_path, sqlite_url, source)
    first = _process(settings)
    _assert_ok(settings, first)
    (key,) = _pools(settings)
    assert _pools(settings)[key].pending_since is None
    with session_scope(settings) as session:
        rows = session.exec(select(StarPhotometry).where(StarPhotometry.band == "B3")).all()
    assert [(r.status, r.reason) for r in rows] == [("rejected", "all-nan")]
    assert _process(settings).parts["star"].starpools == []


def test_drift_internal_error_is_refitted_next_run(tmp_path: Path, sqlite_url: str, sources: Any,
                                                   caplog: pytest.LogCaptureFixture,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _site(tmp_path, sqlite_url, sources["star"][0])
    _raise_once(monkeypatch, drift_mod, "fit_drift", TypeError("simulated defect"))  # first series: PHR1A B0
    first = _process(settings)
    monkeypatch.undo()
    _assert_partial(settings, first, "PHR1A B0 drift: internal error: TypeError: simulated defect")
    assert _records(caplog, logging.ERROR, "PHR1A B0 drift", "Traceback")
    fitted = _drifts(settings)
    assert {b for b, _, _ in fitted} == {"B1", "B2", "B3", "P"}
    second = _process(settings)
    _assert_ok(settings, second)
    assert second.parts["star"].drift_fits == 2  # only B0, linear and exponential
    after = _drifts(settings)  # (each series fitted once: the others were not refitted)
    assert {k: v for k, v in after.items() if k[0] != "B0"} == fitted and len(after) == 2 * 5


@pytest.mark.parametrize("stage", ["starpool_stage", "drift_stage"])
def test_interrupted_run_is_caught_up(tmp_path: Path, sqlite_url: str, sources: Any,
                                      monkeypatch: pytest.MonkeyPatch, stage: str) -> None:
    """A run stops after its photometry commit (before the starpool stage), or after the starpool
    results (before the drift fits): the next plain run gives exactly the starpool results and
    drift fits of an uninterrupted run. Before: they were never computed (only the starpools
    touched by a run, and the drift of the series it changed, were)."""
    inbox = sources["star"][0]
    reference = _site(tmp_path / "reference", None, inbox)  # its own catalogue
    _assert_ok(reference, _process(reference))
    settings = _site(tmp_path / "interrupted", sqlite_url, inbox)
    monkeypatch.setattr(star_mod, stage, _crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        _process(settings)
    monkeypatch.undo()
    with session_scope(settings) as session:
        runs = session.exec(select(ProcessingRun).where(ProcessingRun.kind == "process")).all()
    assert [(r.outcome, r.message) for r in runs] == [("failed", "RuntimeError: simulated crash")]
    assert _drifts(settings) == {}
    if stage == "starpool_stage":
        assert all(p.pending_since is not None for p in _pools(settings).values()) and _pool_results(settings) == {}
    else:
        assert _pool_results(settings) == _pool_results(reference)
    last = _process(settings)
    _assert_ok(settings, last)
    assert last.parts["star"].photometry == 0
    assert last.parts["star"].starpools == (sorted(_pools(settings)) if stage == "starpool_stage" else [])
    assert _pool_results(settings) == _pool_results(reference)  # one version each
    assert _drifts(settings) == _drifts(reference) and len(_drifts(reference)) == 2 * 5


def test_interrupted_moon_drift_is_redone(tmp_path: Path, sqlite_url: str, sources: Any,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The Moon drift fits owed are derived from the catalogue too (measurements newer than the fit)."""
    settings = _site(tmp_path, sqlite_url, sources["moon"][0])
    monkeypatch.setattr(moon_mod, "_drift_stage", _crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        _process(settings)
    monkeypatch.undo()
    last = _process(settings)
    _assert_ok(settings, last)
    assert last.parts["moon"].acquisitions == 0 and last.parts["moon"].drift_fits == 7  # every PNEO band
    assert _process(settings).parts["moon"].drift_fits == 0


# --------------------------------------------------------------------------- catalogue


def test_migration_marks_never_computed_starpools_owing(tmp_path: Path, sqlite_url: str, sources: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Revision 0004 on a populated catalogue: a starpool with members and no result at all is
    owing after the upgrade (as left by an interrupted run of the older code); a computed one is not."""
    settings = _site(tmp_path, sqlite_url, sources["star"][0])
    first_key = f"PHR1A-{campaign_period(_acquisitions(settings, 'STAR')[0].date_obs, 'month')[0]}"
    _raise_once(monkeypatch, starpool_mod, "starpool_band", RuntimeError("simulated defect"),
                when=lambda session, settings, run, pool, *_, **__: pool.period_key != first_key)
    _process(settings)  # the second starpool gets no result
    monkeypatch.undo()
    engine = make_engine(sqlite_url)
    try:
        migrate.downgrade(engine, "0003")
        with engine.connect() as conn:
            assert "pending_since" not in {c["name"] for c in sa.inspect(conn).get_columns("starpool")}
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    pools = _pools(settings)
    (second_key,) = set(pools) - {first_key}
    assert pools[first_key].pending_since is None
    assert pools[second_key].pending_since == pools[second_key].created_at
    last = _process(settings)
    assert last.parts["star"].starpools == [second_key]
    _assert_ok(settings, last)


@pytest.mark.postgres
def test_lost_database_connection_ends_the_run(tmp_path: Path, postgres_url: str, sources: Any,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The server drops the run's connection in the middle of a unit (PostgreSQL: the backend is
    terminated): the run cannot go on, so it ends, recorded ``failed``, with nothing of the unit
    written; the next run does everything. (Not a unit left pending: every next unit would fail.)"""
    settings = _site(tmp_path, postgres_url, sources["geom"][0])
    admin = make_engine(postgres_url)
    real_inputs = geo_mod.geom_adjustment_inputs

    def inputs_then_connection_lost(*args: Any, **kwargs: Any) -> Any:
        inputs = real_inputs(*args, **kwargs)
        with admin.connect() as conn:  # terminate every other backend of the database: the run's
            conn.exec_driver_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        return inputs

    monkeypatch.setattr(geo_mod, "geom_adjustment_inputs", inputs_then_connection_lost)
    try:
        with pytest.raises(sa.exc.OperationalError):
            _process(settings)
    finally:
        admin.dispose()
    monkeypatch.undo()
    assert set(_verdicts(settings, "GEOM").values()) == {0}
    with session_scope(settings) as session:
        (run,) = session.exec(select(ProcessingRun).where(ProcessingRun.kind == "process")).all()
    assert run.outcome == "failed" and run.message.startswith("OperationalError")
    last = _process(settings)
    _assert_ok(settings, last)
    assert last.parts["geometry"].processed == 2
