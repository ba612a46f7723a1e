"""Catalogue rows of the along-track stereo geometry (GEOM acquisitions, ICD 3): the GEOM keys
and the geometry results."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from monitor.catalogue.acquisitions import pending_acquisitions
from monitor.catalogue.models import Acquisition, GeometryResult, GeomHeaderRow
from monitor.catalogue.versions import in_period, is_latest
from monitor.domain import AcqType, GeometryStatus

__all__ = [
    "geom_acquisitions_pending",
    "geom_header_of",
    "geometry_results_of",
    "geometry_in",
]


def geom_acquisitions_pending(session: Session, reprocess_after_run: int | None = None) -> Sequence[Acquisition]:
    """Archived GEOM acquisitions without a geometry result (or, when ``reprocess_after_run`` is
    given, without a geometry result from a run newer than that id), oldest first.

    A ``failed`` result counts as done: the acquisition is retried only by a reprocessing.
    """
    return pending_acquisitions(session, AcqType.GEOM, GeometryResult, reprocess_after_run)


def geom_header_of(session: Session, acquisition_id: int) -> GeomHeaderRow | None:
    """The ICD 3 primary keys of a GEOM acquisition (None when the row is missing)."""
    return session.get(GeomHeaderRow, acquisition_id)


def geometry_results_of(session: Session, acquisition_id: int) -> Sequence[GeometryResult]:
    """Every geometry result of an acquisition, oldest first."""
    q = select(GeometryResult).where(GeometryResult.acquisition_id == acquisition_id).order_by(col(GeometryResult.id))
    return session.exec(q).all()


def geometry_in(
    session: Session, satellite: str | None, since: datetime | None, until: datetime | None
) -> list[tuple[GeometryResult, Acquisition]]:
    """The latest geometry result of every GEOM acquisition when it succeeded, with the
    acquisition, ordered by acquisition time; of one satellite (None: all), with
    ``since <= date_obs < until`` (a bound None: open)."""
    q = (
        select(GeometryResult, Acquisition)
        .join(Acquisition, col(Acquisition.id) == col(GeometryResult.acquisition_id))
        .where(is_latest(GeometryResult, GeometryResult.acquisition_id), GeometryResult.status == GeometryStatus.OK,
               *in_period(Acquisition.date_obs, since, until))
        .order_by(Acquisition.date_obs)
    )
    if satellite is not None:
        q = q.where(Acquisition.satellite == satellite)
    return [(g, a) for g, a in session.exec(q).all()]
