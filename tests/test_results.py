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

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import Session

from monitor.results import build_results
from tests.catalogue import rows

_t = rows.t


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _in(t: datetime, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or t >= since) and (until is None or t < until)


def _expected(doc: dict[str, Any], cat: rows.Example, satellite: str | None, band: str | None,
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
        "mtf_drift": [d for d in doc["mtf_drift"] if sat_band(d["satellite"], d["band"])],
        "measurements": [m for m in doc["measurements"] if measurement(m)],
        "geometry": [g for g in doc["geometry"]
                     if sat_band(cat.acq[g["acq_id"]][0], None) and _in(cat.acq[g["acq_id"]][1], since, until)],
    }


def _plain(doc: dict[str, Any]) -> dict[str, Any]:
    import json

    return json.loads(json.dumps(doc))


def test_latest_versions_and_icd_rules(example_catalogue: tuple[Session, rows.Example]) -> None:
    session, _ = example_catalogue
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


def test_filters_select_what_icd5_says(example_catalogue: tuple[Session, rows.Example]) -> None:
    """One catalogue for every filter combination (a fresh catalogue per combination costs a
    migration each)."""
    session, cat = example_catalogue
    everything = _plain(build_results(session))
    for filters in FILTERS:
        filtered = _plain(build_results(session, **filters))
        args = {k: filters.get(k) for k in ("satellite", "band", "since", "until")}
        assert filtered == _expected(everything, cat, **args), filters


def test_trace_point_without_a_coefficient_in_its_starpool_has_no_ratio() -> None:
    """A star measured in a band where its starpool could give it no A_k (``per_star`` ``a`` null:
    too faint in the band for the PSF fit, whose EE at the fitted centre was ~1e-7) is not usable
    and has no ratio; in the 2025 demo report such a star (HIP 27658, PHR1B B3) had a ratio of 1e7
    that flattened every panel of the band. A star with a coefficient keeps its ratio."""
    from types import SimpleNamespace

    from monitor.results import trace_points

    result = SimpleNamespace(a=5.0, rejected=[], per_star={
        "FAINT": {"hip": 1, "a": None, "a_sigma": None, "used": False, "ee": {"5": 2.0e-7}},
        "GOOD": {"hip": 2, "a": 5.1, "a_sigma": 0.05, "used": True, "ee": {"5": 0.98}},
    })
    rows = [
        SimpleNamespace(
            window=SimpleNamespace(a=a_window, half_width_px=5, normalised_count=25.0, sum_dn=100.0, sigma_dn=10.0),
            photometry=SimpleNamespace(reason=None, band="B3", status="ok"),
            acquisition=SimpleNamespace(acq_id=acq_id, date_obs=datetime(2025, 3, 13, tzinfo=UTC), target="HIP"),
            starpool_result=result,
        )
        for acq_id, a_window in (("FAINT", 5.0), ("GOOD", 4.9))
    ]
    faint, good = trace_points(rows)  # type: ignore[arg-type]
    assert faint.usable is False and faint.ratio_to_prediction is None
    assert faint.reason == "no coefficient in its starpool"
    assert good.usable is True and good.ratio_to_prediction == pytest.approx(4.9 / (0.98 * 5.0), rel=1e-12)
