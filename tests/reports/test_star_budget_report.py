"""The report's star-method section (issue 14): the uncertainty budget of the newest starpool A_k
per satellite and band, the reference model of each, its variable stars, and the REF-1 note said
once when a result of the black-body model is shown (and not at all with REF-2 only).

Catalogue written row by row (two bands of one satellite, one starpool each, budget components
and variable stars set by hand); the rendered HTML is read back. Catches: the table missing a
component or showing it unscaled (fractions of A, shown in %), the wrong model per row, a
variable star not listed, the REF-1 note missing, repeated, or shown with REF-2 only.
Cannot catch: whether the components are right (tests/science/test_star_variability_drift.py and
tests/calibration/test_star_ref2_pipeline.py) or how the table looks.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import Session

from monitor.catalogue import migrate
from monitor.catalogue.acquisitions import seed_reference
from monitor.catalogue.engine import make_engine
from monitor.domain import REF1_STAR_NOTE
from monitor.reports.period import parse_period
from monitor.reports.render import render_html
from monitor.reports.view import build_context
from monitor.science.star_budget import COMPONENT_KEYS
from monitor.settings import load_settings
from tests.catalogue import rows

EPOCH = datetime(2026, 3, 10, tzinfo=UTC)
COMPONENTS = {
    "photon": 0.0012,
    "background": 0.0003,
    "ee_correction": 0.0021,
    "psf_model": 0.0,
    "template": 0.0043,
    "star_systematic": 0.0007,
    "zero_point": 0.005,
    "rsr": 0.005,
}


def _context(tmp_path: Path, catalogue_url: str, models: dict[str, str]):  # type: ignore[no-untyped-def]
    engine = make_engine(catalogue_url)
    migrate.upgrade(engine)
    try:
        with Session(engine, expire_on_commit=False) as s:
            seed_reference(s)
            run = rows.run(s, EPOCH)
            pool = rows.starpool(s, "PHR1A", "2026-03", EPOCH - timedelta(days=3), EPOCH + timedelta(days=3))
            for band, model in models.items():
                res = rows.starpool_result(s, run, pool, band, 1, EPOCH, 10.0)
                res.reference_model = model
                res.a_sigma_components = COMPONENTS
                res.reference = {"reference_model": model, "variable_stars": [32349] if band == "B0" else []}
            s.commit()
            settings = load_settings(tmp_path, env={"MONITOR_DATABASE_URL": catalogue_url})
            return build_context(s, settings, parse_period("2026-03", EPOCH), EPOCH + timedelta(days=30))
    finally:
        engine.dispose()


def _section(html: str) -> str:
    m = re.search(r'<section class="star-budget">(.*?)</section>', html, re.S)
    assert m, "no star-budget section"
    return m.group(1)


def test_budget_table_and_the_ref1_note_once(tmp_path: Path, catalogue_url: str) -> None:
    ctx = _context(tmp_path, catalogue_url, {"P": "REF-1", "B0": "REF-2"})
    assert ctx.reference_note == REF1_STAR_NOTE and ctx.reference_model == "REF-1+REF-2"
    by_band = {b.band: b for b in ctx.star_budget}
    assert set(by_band) == {"P", "B0"} and by_band["P"].reference_model == "REF-1"
    assert by_band["B0"].variable_stars == (32349,) and by_band["B0"].a_sigma_pct == 1.0  # 0.01 A in %
    html = render_html(ctx)
    assert html.count("REF-1 star model:") == 1  # said once, in the section
    section = _section(html)
    assert "REF-1 star model:" in section
    cells = {}
    for tr in re.findall(r"<tr>(.*?)</tr>", section, re.S)[1:]:
        tds = [re.sub(r"<[^>]+>", "", td).strip() for td in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]
        cells[tds[1]] = tds
    heads = ["photon", "background", "ee_correction", "psf_model", "template", "star_systematic", "zero_point", "rsr"]
    assert set(heads) == set(COMPONENT_KEYS)
    for band, model in (("P", "REF-1"), ("B0", "REF-2")):
        row = cells[band]
        assert row[0] == "PHR1A" and row[2] == "2026-03" and row[3] == model and row[4] == "1.00"
        assert row[5:13] == [f"{100 * COMPONENTS[k]:.2f}" for k in heads], row
    assert cells["B0"][13] == "HIP 32349" and cells["P"][13] == ""


def test_no_ref1_note_with_ref2_only(tmp_path: Path, catalogue_url: str) -> None:
    ctx = _context(tmp_path, catalogue_url, {"P": "REF-2", "B0": "REF-2"})
    assert ctx.reference_note == "" and ctx.reference_model == "REF-2"
    html = render_html(ctx)
    assert "REF-1 star model" not in html and "REF-2" in _section(html)
