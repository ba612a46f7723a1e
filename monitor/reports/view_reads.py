"""What the report's view model reads from the catalogue: one query per need, every satellite at
once (:class:`CatalogueView`); :mod:`monitor.reports.view` assembles the report from it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlmodel import Session

from monitor.catalogue import (
    acquisitions,
    alerts,
    drift_results,
    geometry_results,
    moon_results,
    mtf_results,
    star_results,
)
from monitor.catalogue.alerts import AlertRow
from monitor.catalogue.models import (
    Acquisition,
    DriftResult,
    GeometryResult,
    MoonMeasurement,
    MtfResult,
    Rejection,
    StarPhotometry,
    Starpool,
    StarpoolResult,
)
from monitor.reports.period import Period
from monitor.results import TracePoint, trace_points

__all__ = ["CatalogueView", "grouped", "mtf_rows_by_key", "read_catalogue", "trace_points_by_band"]

_T = TypeVar("_T")
_K = TypeVar("_K")


def mtf_rows_by_key(rows: list[tuple[MtfResult, Starpool]]
              ) -> dict[tuple[str, str, str, str], list[tuple[MtfResult, Starpool]]]:
    """MTF rows by (satellite, band, direction, method), plus method ``reported``: per starpool the
    row the system reports (parametric, or the ePSF where the fit was flagged; issue 15)."""
    out = grouped(rows, lambda mp: (mp[1].satellite, mp[0].band, mp[0].direction, mp[0].method))
    for m, p in mtf_results.reported_rows(rows):
        out.setdefault((p.satellite, m.band, m.direction, mtf_results.REPORTED), []).append((m, p))
    return out


def grouped(rows: Iterable[_T], key: Callable[[_T], _K]) -> dict[_K, list[_T]]:
    """Rows by ``key(row)``, in their order."""
    out: dict[_K, list[_T]] = defaultdict(list)
    for row in rows:
        out[key(row)].append(row)
    return out


@dataclass(frozen=True)
class CatalogueView:
    """Everything the report reads from the catalogue: one query per need, every satellite at once.

    Trends cover ``[since, period end)``, events (geometry, rejections) the period only.
    """

    starpools: dict[tuple[str, str], list[tuple[StarpoolResult, Starpool]]]  # (satellite, band), by epoch
    drifts: dict[tuple[str, str, str], DriftResult]  # (satellite, band, method): newest linear A_k fit
    # (satellite, band, method): primary A_k drift (star-offsets when recorded, else the linear fit;
    # drift_results.latest_primary_drifts), the drift of the summary table
    primary_drifts: dict[tuple[str, str, str], DriftResult]
    mtf_drifts: dict[tuple[str, str, str], DriftResult]  # (satellite, band, direction): newest linear MTF drift
    alerts: list[AlertRow]  # the alerts active at some time of the period
    mtf: dict[tuple[str, str, str, str], list[tuple[MtfResult, Starpool]]]  # (satellite, band, direction, method)
    traces: dict[tuple[str, str], list[tuple[int | None, TracePoint]]]  # (satellite, band): (starpool id, point)
    moon: dict[str, list[tuple[MoonMeasurement, Acquisition]]]  # satellite: latest per acquisition and band
    geometry: dict[str, list[tuple[GeometryResult, Acquisition]]]  # satellite, by time
    star_rejected: dict[str, list[tuple[StarPhotometry, Acquisition]]]  # satellite, by time and band
    ingest_rejected: list[Rejection]


def trace_points_by_band(session: Session, since: datetime, until: datetime, satellite: str | None = None,
            band: str | None = None) -> dict[tuple[str, str], list[tuple[int | None, TracePoint]]]:
    """The trace points of ``[since, until)`` by (satellite, band), each with its time bin (the
    starpool id of its latest result); of every satellite and band, or of one."""
    rows = star_results.trace_rows(session, satellite, band, since=since, until=until)
    return {key: [(None if r.starpool_result is None else r.starpool_result.starpool_id, p) for r, p in pairs]
            for key, pairs in grouped(zip(rows, trace_points(rows), strict=True),
                                       lambda rp: (rp[0].acquisition.satellite, rp[1].band)).items()}


def read_catalogue(session: Session, period: Period, since: datetime, with_traces: bool = True) -> CatalogueView:
    """What the report of ``period`` reads: trends over ``[since, period end)`` (the trace points
    only ``with_traces``), events over the period."""
    end = period.end
    pairs, mtf_drifts = drift_results.latest_primary_and_mtf_drifts(session)
    drifts = [lin if lin is not None else d for d, lin in pairs]
    return CatalogueView(
        starpools=grouped(star_results.latest_starpool_results(session, since=since, until=end),
                           lambda rp: (rp[1].satellite, rp[0].band)),
        drifts={(d.satellite, d.band, d.method): d for d in drifts},
        primary_drifts={(d.satellite, d.band, d.method): d for d, _ in pairs},
        mtf_drifts={(d.satellite, d.band, d.quantity.removeprefix("mtf_")): d for d in mtf_drifts
                    if d.method == "STAR"},
        alerts=alerts.alerts_for_period(session, period.start, end),
        mtf=mtf_rows_by_key(mtf_results.latest_mtf_history(session, method=None, until=end, since=since)),
        traces=trace_points_by_band(session, since, end) if with_traces else {},
        moon=grouped(moon_results.latest_moon_measurements(session, since=since, until=end),
                      lambda ma: ma[1].satellite),
        geometry=grouped(geometry_results.geometry_in(session, None, period.start, end),
                          lambda ga: ga[1].satellite),
        star_rejected=grouped(star_results.star_rejections_in(session, None, period.start, end),
                               lambda pa: pa[1].satellite),
        ingest_rejected=acquisitions.all_rejections(session, period.start, end),
    )
