"""Catalogue rows of the drift fits (A_k and MTF over time) and the alerts they raise."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, col, func, select

from monitor.catalogue.models import (
    Acquisition,
    Alert,
    DriftResult,
    MoonMeasurement,
    MtfResult,
    Starpool,
    StarpoolResult,
)
from monitor.catalogue.versions import is_latest

__all__ = [
    "star_drift_pending",
    "moon_drift_pending",
    "mtf_drift_pending",
    "latest_drifts",
    "latest_primary_drifts",
    "latest_primary_and_mtf_drifts",
    "alerts_of_runs",
]


def star_drift_pending(session: Session) -> list[tuple[str, str]]:
    """(satellite, band) whose STAR drift of A_k owes a refit: a starpool result of a later run
    than the latest drift fit (or no drift fit yet), ordered.

    Derived from the catalogue, so a run interrupted between the starpool results and the drift
    fit is caught up by the next one. Series with fewer than two starpools stay listed (nothing
    can be fitted yet): their check costs one query per run.
    """
    return _drift_pending(session, _newest_run_per_series(
        Starpool.satellite, StarpoolResult.band, StarpoolResult.run_id,
        Starpool, col(Starpool.id) == col(StarpoolResult.starpool_id)), "STAR")


def moon_drift_pending(session: Session) -> list[tuple[str, str]]:
    """(satellite, band) whose MOON drift of A_k owes a refit: a Moon measurement of a later run
    than the latest drift fit (or no drift fit yet), ordered. Series that cannot be fitted yet
    (fewer than two in-trend points) stay listed."""
    return _drift_pending(session, _newest_run_per_series(
        Acquisition.satellite, MoonMeasurement.band, MoonMeasurement.run_id,
        Acquisition, col(Acquisition.id) == col(MoonMeasurement.acquisition_id)), "MOON")


def mtf_drift_pending(session: Session) -> list[tuple[str, str]]:
    """(satellite, band) whose MTF-at-Nyquist drift owes a refit: a parametric MTF result of a later
    run than the latest MTF drift fit (``quantity`` ``mtf_along``; both directions are refitted
    together), or no such fit yet, ordered. Series with too few starpools stay listed."""
    return _drift_pending(session, _newest_run_per_series(
        Starpool.satellite, MtfResult.band, MtfResult.run_id,
        Starpool, sa.and_(col(Starpool.id) == col(MtfResult.starpool_id), col(MtfResult.method) == "parametric")),
        "STAR", quantity="mtf_along")


def _newest_run_per_series(satellite: Any, band: Any, run_id: Any, joined: type[SQLModel],
                           on: sa.ColumnElement[bool]) -> sa.Subquery:
    """(satellite, band, run_id): the newest processing run that wrote results of each series."""
    return (select(satellite, band, func.max(run_id).label("run_id")).join(joined, on)
            .group_by(satellite, band).subquery())


def _drift_pending(session: Session, latest: sa.Subquery, method: str, quantity: str = "a"
                   ) -> list[tuple[str, str]]:
    """(satellite, band) of ``latest`` (columns satellite, band, run_id) with no ``method`` drift
    fit of ``quantity`` (A_k by default) from that run or a later one."""
    fits = (
        select(DriftResult.satellite, DriftResult.band, func.max(DriftResult.run_id).label("run_id"))
        .where(DriftResult.method == method, DriftResult.quantity == quantity)
        .group_by(DriftResult.satellite, DriftResult.band)
        .subquery()
    )
    q = (
        sa.select(latest.c.satellite, latest.c.band)
        .outerjoin(fits, sa.and_(fits.c.satellite == latest.c.satellite, fits.c.band == latest.c.band))
        .where(sa.or_(fits.c.run_id.is_(None), latest.c.run_id > fits.c.run_id))
        .order_by(latest.c.satellite, latest.c.band)
    )
    return [(s, b) for s, b in session.execute(q).all()]


def latest_drifts(
    session: Session, *, satellite: str | None = None, band: str | None = None, method: str | None = None,
    quantity: str = "a", model: str = "linear",
) -> list[DriftResult]:
    """The newest drift fit of every satellite, band and method of one quantity (``a``,
    ``mtf_along``...) and model, ordered by satellite, band and method; optionally of one
    satellite, band and method."""
    q = (
        select(DriftResult)
        .where(is_latest(DriftResult, DriftResult.satellite, DriftResult.band, DriftResult.method,
                         DriftResult.quantity, DriftResult.model,
                         where=[DriftResult.quantity == quantity, DriftResult.model == model]))
        .order_by(DriftResult.satellite, DriftResult.band, DriftResult.method)
    )
    for column, value in ((DriftResult.satellite, satellite), (DriftResult.band, band), (DriftResult.method, method)):
        if value is not None:
            q = q.where(column == value)
    return list(session.exec(q).all())


STAR_OFFSETS_MODEL = "star-offsets"


def latest_primary_drifts(
    session: Session, *, satellite: str | None = None, band: str | None = None, method: str | None = None,
) -> list[tuple[DriftResult, DriftResult | None]]:
    """The primary drift of A_k of every satellite, band and method, with the linear fit of the
    starpool means when the primary one is another fit (else None), ordered like :func:`latest_drifts`.

    Primary (:mod:`monitor.science.star_drift`): the star-offsets fit when the star drift stage
    recorded one together with the newest linear fit (same run and time: it records it only when
    enough stars were seen in two or more starpools), else the newest linear fit."""
    q = (  # one query for both models (the report counts its queries)
        select(DriftResult)
        .where(is_latest(DriftResult, DriftResult.satellite, DriftResult.band, DriftResult.method,
                         DriftResult.quantity, DriftResult.model,
                         where=[DriftResult.quantity == "a",
                                col(DriftResult.model).in_(["linear", STAR_OFFSETS_MODEL])]))
        .order_by(DriftResult.satellite, DriftResult.band, DriftResult.method)
    )
    for column, value in ((DriftResult.satellite, satellite), (DriftResult.band, band), (DriftResult.method, method)):
        if value is not None:
            q = q.where(column == value)
    return _primary_pairs(list(session.exec(q).all()))


MTF_QUANTITIES = ("mtf_along", "mtf_across")


def latest_primary_and_mtf_drifts(session: Session) -> tuple[list[tuple[DriftResult, DriftResult | None]],
                                                              list[DriftResult]]:
    """:func:`latest_primary_drifts` of every series, and the newest linear MTF-at-Nyquist drift
    fit of every satellite, band and direction (quantities :data:`MTF_QUANTITIES`), in one query
    (the report reads one query per kind of row)."""
    q = (
        select(DriftResult)
        .where(is_latest(DriftResult, DriftResult.satellite, DriftResult.band, DriftResult.method,
                         DriftResult.quantity, DriftResult.model,
                         where=[col(DriftResult.quantity).in_(["a", *MTF_QUANTITIES]),
                                col(DriftResult.model).in_(["linear", STAR_OFFSETS_MODEL])]))
        .order_by(DriftResult.satellite, DriftResult.band, DriftResult.method, DriftResult.quantity)
    )
    found = list(session.exec(q).all())
    mtf = [d for d in found if d.quantity in MTF_QUANTITIES and d.model == "linear"]
    return _primary_pairs([d for d in found if d.quantity == "a"]), mtf


def _primary_pairs(found: list[DriftResult]) -> list[tuple[DriftResult, DriftResult | None]]:
    """The primary drift of A_k of each series of ``found`` (the newest linear and star-offsets
    fits of A_k), with the linear fit when the primary one is another fit (else None)."""
    linear = [d for d in found if d.model == "linear"]
    offsets = {(d.satellite, d.band, d.method): d for d in found if d.model == STAR_OFFSETS_MODEL}
    out: list[tuple[DriftResult, DriftResult | None]] = []
    for lin in linear:
        off = offsets.get((lin.satellite, lin.band, lin.method))
        if off is not None and (off.run_id, off.created_at) == (lin.run_id, lin.created_at):
            out.append((off, lin))
        else:
            out.append((lin, None))
    return out


def alerts_of_runs(session: Session, run_ids: Collection[int]) -> list[Alert]:
    """The alerts raised by these processing runs, in the order they were raised."""
    if not run_ids:
        return []
    return list(session.exec(select(Alert).where(col(Alert.run_id).in_(sorted(run_ids))).order_by(Alert.id)).all())
