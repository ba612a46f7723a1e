"""The star drift stage keeps the drift alerts of a series in line with its latest fit (issue 20):
opened once, kept (not duplicated) when the series is refitted with the same verdict, closed when
the refit no longer shows the drift."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import Session

from monitor.calibration.star import StarSummary
from monitor.calibration.star_drift_stage import drift_stage
from monitor.catalogue import alerts, migrate
from monitor.catalogue.acquisitions import seed_reference
from monitor.catalogue.engine import make_engine
from monitor.settings import load_settings
from tests.catalogue import rows

T0 = datetime(2024, 1, 15, tzinfo=UTC)
EPOCHS = [T0 + timedelta(days=120 * i) for i in range(6)]  # ~1.6 years


def test_star_drift_stage_opens_keeps_closes(tmp_path: Path, catalogue_url: str) -> None:
    settings = load_settings(tmp_path, env={"MONITOR_DATABASE_URL": catalogue_url})
    engine = make_engine(catalogue_url)
    migrate.upgrade(engine)
    try:
        with Session(engine, expire_on_commit=False) as s:
            seed_reference(s)
            r1 = rows.run(s, EPOCHS[-1] + timedelta(days=1))
            pools = [rows.starpool(s, "PHR1A", f"P{i}", e - timedelta(days=5), e + timedelta(days=5))
                     for i, e in enumerate(EPOCHS)]
            years = [(e - T0).days / 365.25 for e in EPOCHS]
            for pool, e, y in zip(pools, EPOCHS, years, strict=True):  # -10 %/year, 1 % sigma
                rows.starpool_result(s, r1, pool, "P", 1, e, 10.0 * (1.0 - 0.10 * y))
            s.commit()

            def stage(run_: object, now: datetime) -> StarSummary:
                summary = StarSummary()
                drift_stage(s, settings, run_, now, summary)  # type: ignore[arg-type]
                return summary

            assert stage(r1, EPOCHS[-1]).alerts == 1
            (a,) = alerts.open_alerts(s)
            assert (a.satellite, a.band, a.method, a.kind) == ("PHR1A", "P", "STAR", "drift-rate")
            assert abs(a.value + 0.10) < 0.01 and a.sigma is not None and 0 < a.sigma < 0.02
            # reprocessing: new versions of the same results, refitted: the same alert, refreshed
            r2 = rows.run(s, EPOCHS[-1] + timedelta(days=2))
            for pool, e, y in zip(pools, EPOCHS, years, strict=True):
                rows.starpool_result(s, r2, pool, "P", 2, e, 10.0 * (1.0 - 0.10 * y))
            s.commit()
            assert stage(r2, EPOCHS[-1] + timedelta(days=2)).alerts == 0
            (b,) = alerts.open_alerts(s)
            assert b.id == a.id and b.updated_at == EPOCHS[-1] + timedelta(days=2)
            # the drift is gone after recalibration of the whole series: closed
            r3 = rows.run(s, EPOCHS[-1] + timedelta(days=3))
            for pool, e in zip(pools, EPOCHS, strict=True):
                rows.starpool_result(s, r3, pool, "P", 3, e, 10.0)
            s.commit()
            stage(r3, EPOCHS[-1] + timedelta(days=3))
            assert alerts.open_alerts(s) == []
            assert [x.state for x in alerts.list_alerts(s, include_closed=True)] == ["closed"]
    finally:
        engine.dispose()
