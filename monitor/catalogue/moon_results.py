"""Catalogue rows of the Moon method: Moon measurements per acquisition and band (append-only;
the latest measurement of an acquisition and band is the one with the highest id)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select

from monitor.catalogue.acquisitions import pending_acquisitions
from monitor.catalogue.models import Acquisition, MoonMeasurement
from monitor.catalogue.versions import in_period, is_latest
from monitor.domain import AcqType, MoonStatus

__all__ = [
    "moon_acquisitions_pending",
    "moon_trend_rows",
    "moon_measurements_of_run",
    "latest_moon_measurements",
]


def moon_acquisitions_pending(session: Session, reprocess_after_run: int | None = None) -> Sequence[Acquisition]:
    """Archived MOON acquisitions without Moon measurements (or, when ``reprocess_after_run`` is
    given, without measurements from a run newer than that id), oldest first."""
    return pending_acquisitions(session, AcqType.MOON, MoonMeasurement, reprocess_after_run)


def _in_trend(*where: Any) -> Select[MoonMeasurement, Acquisition]:
    """(MoonMeasurement, Acquisition) matching ``where`` whose measurement is usable for trends
    (status ``ok``, ``in_trend``, with A), in acquisition-time order."""
    return (
        select(MoonMeasurement, Acquisition)
        .join(Acquisition, col(Acquisition.id) == col(MoonMeasurement.acquisition_id))
        .where(*where, MoonMeasurement.status == MoonStatus.OK, col(MoonMeasurement.in_trend).is_(True),
               col(MoonMeasurement.a).is_not(None))
        .order_by(Acquisition.date_obs, Acquisition.id)
    )


def moon_trend_rows(session: Session, satellite: str, band: str) -> list[tuple[MoonMeasurement, Acquisition]]:
    """(MoonMeasurement, Acquisition) of the latest measurement of every acquisition of
    ``satellite`` in ``band`` when that measurement is usable for trends (status ``ok``,
    ``in_trend``, with A), ordered by acquisition time."""
    q = _in_trend(is_latest(MoonMeasurement, MoonMeasurement.acquisition_id, where=[MoonMeasurement.band == band]),
                  Acquisition.satellite == satellite)
    return [(m, a) for m, a in session.exec(q).all()]


def moon_trend_series(session: Session, satellites: Sequence[str]
                      ) -> dict[tuple[str, str], list[tuple[MoonMeasurement, Acquisition]]]:
    """:func:`moon_trend_rows` of every band of ``satellites`` in one query: ``(satellite, band)`` ->
    its rows in acquisition-time order."""
    q = _in_trend(is_latest(MoonMeasurement, MoonMeasurement.acquisition_id, MoonMeasurement.band),
                  col(Acquisition.satellite).in_(list(satellites)))
    out: dict[tuple[str, str], list[tuple[MoonMeasurement, Acquisition]]] = {}
    for m, a in session.exec(q).all():
        out.setdefault((a.satellite, m.band), []).append((m, a))
    return out


def moon_measurements_of_run(session: Session, run_id: int) -> list[tuple[MoonMeasurement, Acquisition]]:
    """(MoonMeasurement, Acquisition) inserted by processing run ``run_id``."""
    q = (
        select(MoonMeasurement, Acquisition)
        .join(Acquisition, col(Acquisition.id) == col(MoonMeasurement.acquisition_id))
        .where(MoonMeasurement.run_id == run_id)
        .order_by(Acquisition.date_obs, MoonMeasurement.band)
    )
    return [(m, a) for m, a in session.exec(q).all()]


def latest_moon_measurements(
    session: Session, satellite: str | None = None, band: str | None = None, *, since: datetime | None = None,
    until: datetime | None = None,
) -> list[tuple[MoonMeasurement, Acquisition]]:
    """The latest measurement of every Moon acquisition and band (any status), with its
    acquisition, ordered by satellite, band and acquisition time; optionally of one satellite and
    one band, with ``since <= date_obs < until``."""
    q = (
        select(MoonMeasurement, Acquisition)
        .join(Acquisition, col(Acquisition.id) == col(MoonMeasurement.acquisition_id))
        .where(is_latest(MoonMeasurement, MoonMeasurement.acquisition_id, MoonMeasurement.band,
                         where=[] if band is None else [MoonMeasurement.band == band]),
               *in_period(Acquisition.date_obs, since, until))
        .order_by(Acquisition.satellite, MoonMeasurement.band, Acquisition.date_obs)
    )
    if satellite is not None:
        q = q.where(Acquisition.satellite == satellite)
    return [(m, a) for m, a in session.exec(q).all()]
