"""Helpers of the shared-work tests: a site from a directory of simulated files, and the star
results of a catalogue as plain values keyed by what they are about (comparable across catalogues
whose ids differ)."""

from __future__ import annotations

import hashlib
import math
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from monitor.catalogue.models import (
    Acquisition,
    BandImage,
    DriftResult,
    MtfResult,
    StarPhotometry,
    Starpool,
    StarpoolResult,
    StarWindow,
)
from monitor.ingest.service import run_ingest
from monitor.settings import Settings, load_settings
from monitor.site import init_site, open_engine, session_scope, utc_now

Snapshot = dict[str, dict[tuple[Any, ...], tuple[Any, ...]]]


def make_site(root: Path, files: Path, env: dict[str, str] | None = None) -> Settings:
    """A new site at ``root`` (catalogue from ``env``, default SQLite), with ``files`` ingested."""
    settings = load_settings(root, env={"MONITOR_INGEST_SETTLE_SECONDS": "0", **(env or {})})
    init_site(settings)
    for f in files.iterdir():
        shutil.copy2(f, settings.inbox / f.name)
    with session_scope(settings) as session:
        summary = run_ingest(session, settings, utc_now())
    assert summary.ingested and not summary.rejected, summary
    return settings


def _latest(rows: list[tuple[tuple[Any, ...], int, tuple[Any, ...]]]) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """(key, id, values) rows -> key: values of the row with the highest id."""
    out: dict[tuple[Any, ...], tuple[int, tuple[Any, ...]]] = {}
    for key, row_id, values in rows:
        if key not in out or row_id > out[key][0]:
            out[key] = (row_id, values)
    return {k: v for k, (_, v) in out.items()}


def snapshot(settings: Settings) -> Snapshot:
    """The latest star results of the site's catalogue (photometry, windows, starpool A_k, MTF, drift)."""
    engine = open_engine(settings)
    try:
        with Session(engine) as s:
            phot = s.exec(select(StarPhotometry, Acquisition.acq_id)
                          .join(Acquisition, StarPhotometry.acquisition_id == Acquisition.id)).all()  # type: ignore[arg-type]
            windows = s.exec(select(StarWindow, StarPhotometry, Acquisition.acq_id)
                             .join(StarPhotometry, StarWindow.photometry_id == StarPhotometry.id)  # type: ignore[arg-type]
                             .join(Acquisition, StarPhotometry.acquisition_id == Acquisition.id)).all()  # type: ignore[arg-type]
            pools = s.exec(select(StarpoolResult, Starpool.period_key)
                           .join(Starpool, StarpoolResult.starpool_id == Starpool.id)).all()  # type: ignore[arg-type]
            mtf = s.exec(select(MtfResult, Starpool.period_key)
                         .join(Starpool, MtfResult.starpool_id == Starpool.id)).all()  # type: ignore[arg-type]
            drift = s.exec(select(DriftResult)).all()
    finally:
        engine.dispose()
    return {
        "photometry": _latest([((acq, p.band), p.id, (p.status, p.reason, p.centroid_x, p.centroid_y,
                                                        p.background_dn, p.irradiance_w_m2_um, p.a, p.a_sigma))
                               for p, acq in phot]),
        "windows": _latest([((acq, p.band, w.half_width_px), p.id, (w.sum_dn, w.sigma_dn, w.a, w.a_sigma))
                            for w, p, acq in windows]),
        "starpool": _latest([((key, r.band), r.id, (r.a, r.a_sigma, r.n_used, r.n_rejected, r.half_width_px,
                                                     r.tau_rel, r.chi2_dof, r.epoch, r.ee_source))
                             for r, key in pools]),
        "mtf": _latest([((key, m.band, m.direction, m.method), m.id, (m.mtf_nyquist, m.mtf_nyquist_sigma))
                        for m, key in mtf]),
        "drift": _latest([((d.satellite, d.band, d.method, d.quantity, d.model), d.id,
                           (d.a0, d.a0_sigma, d.rate_per_year, d.rate_sigma, d.n_points)) for d in drift]),
    }


def assert_same(a: Snapshot, b: Snapshot, rel: float = 1e-12) -> int:
    """Same keys and, value by value, the same numbers to ``rel`` (other values equal); returns
    the number of numbers compared."""
    n = 0
    for table in a:
        assert a[table].keys() == b[table].keys(), table
        for key, va in a[table].items():
            vb = b[table][key]
            for x, y in zip(va, vb, strict=True):
                if isinstance(x, float) and isinstance(y, float):
                    assert math.isclose(x, y, rel_tol=rel, abs_tol=0.0) or (math.isnan(x) and math.isnan(y)), \
                        (table, key, x, y)
                    n += 1
                else:
                    assert x == y, (table, key, x, y)
    return n


def replicate_acquisitions(settings: Settings, n: int, start: datetime, step: timedelta) -> int:
    """Make the catalogue hold ``n`` archived STAR acquisitions by cloning the ingested ones (same
    archived file, new ACQ_ID and checksum), dated ``start + k * step``: a large backlog from a few
    simulated files. Returns the number of acquisitions."""
    engine = open_engine(settings)
    acq_t, band_t = Acquisition.__table__, BandImage.__table__  # type: ignore[attr-defined]
    try:
        with engine.begin() as conn:
            originals = [dict(r._mapping) for r in conn.execute(sa.select(acq_t).order_by(acq_t.c.id))]
            bands: dict[int, list[dict[str, Any]]] = {}
            for r in conn.execute(sa.select(band_t).order_by(band_t.c.id)):
                bands.setdefault(r.acquisition_id, []).append(dict(r._mapping))
            for k, row in enumerate(originals):
                conn.execute(sa.update(acq_t).where(acq_t.c.id == row["id"]).values(date_obs=start + k * step))
            clones = []
            for k in range(len(originals), n):
                src = originals[k % len(originals)]
                clones.append({**{c: v for c, v in src.items() if c != "id"}, "acq_id": f"{src['acq_id']}-C{k}",
                               "sha256": hashlib.sha256(f"{src['sha256']}{k}".encode()).hexdigest(),
                               "date_obs": start + k * step})
            if clones:
                ids = conn.execute(sa.insert(acq_t).returning(acq_t.c.id, sort_by_parameter_order=True),
                                   clones).scalars().all()
                rows = [{**{c: v for c, v in b.items() if c != "id"}, "acquisition_id": new_id}
                        for k, new_id in zip(range(len(originals), n), ids, strict=True)
                        for b in bands[originals[k % len(originals)]["id"]]]
                conn.execute(sa.insert(band_t), rows)
    finally:
        engine.dispose()
    return n
