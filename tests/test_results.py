"""The ICD 5 results document: the latest version of every result, and its filters.

The catalogue is written row by row (tests/catalogue/rows.py): two STAR satellites, a Moon
satellite pair, GEOM acquisitions, refused files, and older versions of every kind of result
that must not show. The filters (``--satellite``, ``--band``, ``--since``, ``--until``) are applied
in SQL; each filtered document must equal the unfiltered one filtered here by the rules of
ICD 5, written independently of the queries: a row is kept when its satellite and band match
and its time (starpool epoch, observation time, MTF starpool start, reception time) is in
``[since, until)``; drift fits have no time; rows without a band (geometry, refused files) are of
no band, refused files of no satellite.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import Session

from monitor.catalogue import acquisitions, migrate
from monitor.catalogue.engine import make_engine
from monitor.io.reference_data import load_star_catalogue
from monitor.results import build_results
from tests.catalogue import rows


def _t(month: int, day: int) -> datetime:
    return datetime(2025, month, day, 12, tzinfo=UTC)


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Catalogue:
    """What the filters need to know of every row, from the fixture (not from the document)."""

    def __init__(self) -> None:
        self.acq: dict[str, tuple[str, datetime]] = {}  # acq_id -> (satellite, date_obs)
        self.refused: dict[str, datetime] = {}  # file name -> received_at
        self.pool_start: dict[str, datetime] = {}  # starpool key -> period start


def _fill(session: Session) -> Catalogue:
    cat = Catalogue()
    hip = int(load_star_catalogue().hip[0])
    r1, r2 = rows.run(session, _t(1, 31)), rows.run(session, _t(4, 30))

    def acq(acq_id: str, sat: str, kind: str, when: datetime, bands: tuple[str, ...]) -> Any:
        cat.acq[acq_id] = (sat, when)
        return rows.acquisition(session, acq_id, sat, kind, when, bands, hip=hip if kind == "STAR" else None)

    a1 = acq("PHR1A-S1", "PHR1A", "STAR", _t(1, 10), ("P", "B0"))
    a2 = acq("PHR1A-S2", "PHR1A", "STAR", _t(2, 10), ("P", "B0"))
    a3 = acq("PHR1B-S3", "PHR1B", "STAR", _t(3, 5), ("P",))
    rows.photometry(session, r1, a1, "P", "rejected", reason="saturated")  # older version
    rows.photometry(session, r2, a1, "P", "ok", a=10.0)
    rows.photometry(session, r1, a1, "B0", "ok", a=8.0)
    rows.photometry(session, r1, a2, "P", "ok", a=10.2)
    rows.photometry(session, r1, a2, "B0", "rejected", reason="off-centre")
    rows.photometry(session, r1, a3, "P", "ok", a=11.0)
    s1 = rows.starpool(session, "PHR1A", "PHR1A-2025-01", _t(1, 1), _t(2, 1), [a1])
    s2 = rows.starpool(session, "PHR1A", "PHR1A-2025-02", _t(2, 1), _t(3, 1), [a2])
    s3 = rows.starpool(session, "PHR1B", "PHR1B-2025-03", _t(3, 1), _t(4, 1), [a3])
    for pool in (s1, s2, s3):
        cat.pool_start[pool.period_key] = pool.period_start
    rows.starpool_result(session, r1, s1, "P", 1, _t(1, 10), 9.8, {"PHR1A-S1": {"a": 9.7, "a_sigma": 0.1}})
    rows.starpool_result(session, r2, s1, "P", 2, _t(1, 10), 9.9, {"PHR1A-S1": {"a": 10.1, "a_sigma": 0.1}})
    rows.starpool_result(session, r1, s1, "B0", 1, _t(1, 10), 8.1, {"PHR1A-S1": {"a": 8.2, "a_sigma": 0.1}})
    rows.starpool_result(session, r1, s2, "P", 1, _t(2, 10), 10.0, {"PHR1A-S2": {"a": 10.3, "a_sigma": 0.1}})
    rows.starpool_result(session, r1, s3, "P", 1, _t(3, 5), 11.1, {"PHR1B-S3": {"a": 11.2, "a_sigma": 0.1}})
    for pool, band in ((s1, "P"), (s2, "P"), (s3, "P"), (s1, "B0")):
        rows.mtf(session, r1, pool, band, "along", "parametric", 1, 0.10)
        rows.mtf(session, r2, pool, band, "along", "parametric", 2, 0.11)  # the latest version
        rows.mtf(session, r1, pool, band, "across", "parametric", 1, 0.12)
        rows.mtf(session, r1, pool, band, "along", "epsf", 1, 0.13)  # the cross-check: not exported
    rows.drift(session, r1, "PHR1A", "P", "STAR", -0.010)
    rows.drift(session, r2, "PHR1A", "P", "STAR", -0.011)  # the latest linear fit
    rows.drift(session, r2, "PHR1A", "P", "STAR", -0.5, model="exponential")
    rows.drift(session, r2, "PHR1A", "P", "STAR", -0.5, quantity="mtf_along")
    rows.drift(session, r1, "PHR1A", "B0", "STAR", -0.020)
    rows.drift(session, r1, "PNEO3", "B", "MOON", -0.030)
    m1 = acq("PNEO3-M1", "PNEO3", "MOON", _t(1, 20), ("B", "G"))
    m2 = acq("PNEO3-M2", "PNEO3", "MOON", _t(3, 20), ("B",))
    m3 = acq("PNEO4-M3", "PNEO4", "MOON", _t(2, 15), ("B",))
    rows.moon(session, r1, m1, "B", "rejected", reason="bad-value")  # older version
    rows.moon(session, r2, m1, "B", "ok", a=5.0)
    rows.moon(session, r1, m1, "G", "flagged", a=6.0)  # no calibration result, an "ok" measurement
    rows.moon(session, r1, m2, "B", "rejected", reason="bad-value")
    rows.moon(session, r1, m3, "B", "ok", a=5.2)
    g1 = acq("PHR1A-G1", "PHR1A", "GEOM", _t(2, 1), ())
    g2 = acq("PHR1A-G2", "PHR1A", "GEOM", _t(3, 1), ())
    rows.geometry(session, r1, g1, "failed")
    rows.geometry(session, r2, g1, "ok")
    rows.geometry(session, r1, g2, "ok")
    rows.geometry(session, r2, g2, "failed")  # its latest result failed: not exported
    for name, reason, when in (("PHR1A-dup.fits", "duplicate", _t(1, 15)), ("cut.fits", "truncated", _t(3, 10))):
        rows.rejection(session, name, reason, when)
        cat.refused[name] = when
    return cat


@pytest.fixture()
def catalogue(catalogue_url: str) -> Iterator[tuple[Session, Catalogue]]:
    engine = make_engine(catalogue_url)
    migrate.upgrade(engine)
    try:
        with Session(engine) as session:
            acquisitions.seed_reference(session)
            cat = _fill(session)
            session.commit()
            yield session, cat
    finally:
        engine.dispose()


def _in(t: datetime, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or t >= since) and (until is None or t < until)


def _expected(doc: dict[str, Any], cat: Catalogue, satellite: str | None, band: str | None,
              since: datetime | None, until: datetime | None) -> dict[str, Any]:
    def sat_band(sat: str | None, b: str | None) -> bool:
        return (satellite is None or sat == satellite) and (band is None or b == band)

    def measurement(m: dict[str, Any]) -> bool:
        if m["file"] in cat.refused:
            return satellite is None and band is None and _in(cat.refused[m["file"]], since, until)
        sat, when = cat.acq[m["acq_id"]]
        return sat_band(sat, m["band"]) and _in(when, since, until)

    return {
        **doc,
        "calibration": [c for c in doc["calibration"]
                        if sat_band(c["satellite"], c["band"]) and _in(_iso(c["epoch"]), since, until)],
        "mtf": [m for m in doc["mtf"]
                if sat_band(m["satellite"], m["band"]) and _in(cat.pool_start[m["starpool"]], since, until)],
        "drift": [d for d in doc["drift"] if sat_band(d["satellite"], d["band"])],
        "measurements": [m for m in doc["measurements"] if measurement(m)],
        "geometry": [g for g in doc["geometry"]
                     if sat_band(cat.acq[g["acq_id"]][0], None) and _in(cat.acq[g["acq_id"]][1], since, until)],
    }


def _plain(doc: dict[str, Any]) -> dict[str, Any]:
    import json

    return json.loads(json.dumps(doc))


def test_latest_versions_and_icd_rules(catalogue: tuple[Session, Catalogue]) -> None:
    session, _ = catalogue
    doc = _plain(build_results(session))
    star = {(c["starpool"], c["band"]): c["a"] for c in doc["calibration"] if c["method"] == "STAR"}
    assert star == {("PHR1A-2025-01", "P"): 9.9, ("PHR1A-2025-01", "B0"): 8.1, ("PHR1A-2025-02", "P"): 10.0,
                    ("PHR1B-2025-03", "P"): 11.1}
    moon = [(c["satellite"], c["band"], c["a"]) for c in doc["calibration"] if c["method"] == "MOON"]
    assert moon == [("PNEO3", "B", 5.0), ("PNEO4", "B", 5.2)]  # not the flagged G, not the rejected M2
    assert {(m["starpool"], m["band"], m["direction"]): m["mtf"] for m in doc["mtf"]} == {
        (p, b, d): (0.11 if d == "along" else 0.12)
        for p, b in (("PHR1A-2025-01", "P"), ("PHR1A-2025-02", "P"), ("PHR1B-2025-03", "P"), ("PHR1A-2025-01", "B0"))
        for d in ("along", "across")}
    assert [(d["satellite"], d["band"], d["method"], d["rate_per_year"]) for d in doc["drift"]] == [
        ("PHR1A", "B0", "STAR", -0.020), ("PHR1A", "P", "STAR", -0.011), ("PNEO3", "B", "MOON", -0.030)]
    meas = {(m["acq_id"], m["band"]): (m["status"], m["reason"], m["a"]) for m in doc["measurements"]}
    assert meas[("PHR1A-S1", "P")] == ("ok", None, 10.1)  # the starpool's EE-corrected value
    assert meas[("PHR1A-S2", "B0")] == ("rejected", "off-centre", None)
    assert meas[("PNEO3-M1", "B")] == ("ok", None, 5.0)
    assert meas[("PNEO3-M1", "G")] == ("ok", None, 6.0)  # flagged is no rejection
    assert meas[("PNEO3-M2", "B")] == ("rejected", "bad-value", None)
    assert meas[("PHR1A-G1", None)] == ("ok", None, None)  # an acquisition without band rows
    assert meas[(None, None)] == ("rejected", "truncated", None)
    assert [m["status"] for m in doc["measurements"] if m["file"] == "PHR1A-dup.fits"] == ["duplicate"]
    dates = [m["acq_id"] for m in doc["measurements"] if m["acq_id"] is not None]
    assert dates[:3] == ["PHR1A-S1", "PHR1A-S1", "PNEO3-M1"]  # by observation time, then ACQ_ID and band
    assert [g["acq_id"] for g in doc["geometry"]] == ["PHR1A-G1"]


FILTERS = [
    {"satellite": "PHR1A"},
    {"satellite": "PNEO3"},
    {"band": "P"},
    {"band": "B"},
    {"since": _t(2, 1)},
    {"until": _t(2, 15)},
    {"since": _t(1, 15), "until": _t(3, 1)},
    {"satellite": "PHR1A", "band": "P", "since": _t(1, 15), "until": _t(3, 1)},
    {"band": "B0", "until": _t(2, 1)},
    {"satellite": "PHR1B", "since": _t(3, 6)},
]


def test_filters_select_what_icd5_says(catalogue: tuple[Session, Catalogue]) -> None:
    """One catalogue for every filter combination (a fresh catalogue per combination costs a
    migration each)."""
    session, cat = catalogue
    everything = _plain(build_results(session))
    for filters in FILTERS:
        filtered = _plain(build_results(session, **filters))
        args = {k: filters.get(k) for k in ("satellite", "band", "since", "until")}
        assert filtered == _expected(everything, cat, **args), filters
