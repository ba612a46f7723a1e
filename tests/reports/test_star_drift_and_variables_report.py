"""The PDF report's star-method drift and variable stars (issue 14), read back with pypdf.

Catalogue written row by row: 9 starpools over 2 years whose star mix changes (the +3 % group of
stars grows from 20 % to 80 %) under a true -3 %/yr, as tests/calibration/test_star_drift_primary.py;
the star drift stage of the pipeline then records the star-offsets fit (primary) and the linear
fit of the starpool means (biased by the mix). One star is flagged variable with a recorded
chi-square from the fourth starpool on. Checks: the A_k plot and table draw the primary
(star-offsets) drift and name it, the starpool-mean fit drawn only for comparison; the
variable-star section lists the flagged star with its statistic and has its trace figure.
Catches: the plot/table still drawing the linear fit, the section missing or empty, a wrong
statistic or star. Cannot catch: how the figure looks (looked at by eye once).
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from pypdf import PdfReader
from sqlmodel import Session

from monitor.calibration.star import StarSummary
from monitor.calibration.star_drift_stage import drift_stage
from monitor.catalogue import migrate
from monitor.catalogue.acquisitions import seed_reference
from monitor.catalogue.engine import make_engine
from monitor.reports.period import parse_period
from monitor.reports.plots import make_figures
from monitor.reports.render import render_pdf
from monitor.reports.view import build_context
from monitor.results import build_results
from monitor.settings import load_settings
from tests.catalogue import rows

T0 = datetime(2024, 1, 15, tzinfo=UTC)
A0, RATE_TRUE, NOISE_REL = 10.0, -0.03, 0.001
YEAR_S = 365.25 * 86400.0
VARIABLE_HIP, CHI2 = 1005, 87.25


def _fill(s: Session) -> datetime:
    rng = np.random.default_rng(14)
    hips = np.arange(1000, 1040)
    offset = np.where(np.arange(40) < 20, -0.03, 0.03) + rng.normal(0.0, 0.003, 40)
    end = T0 + timedelta(days=800)
    run = rows.run(s, end)
    for j in range(9):
        t = 0.25 * j
        n_hi = round(15 * (0.2 + 0.6 * j / 8))
        pick = np.concatenate([rng.choice(20, 15 - n_hi, replace=False), 20 + rng.choice(20, n_hi, replace=False)])
        pick = np.union1d(pick, [5])  # the variable star (index 5: HIP 1005) in every starpool
        a = A0 * (1.0 + RATE_TRUE * t) * (1.0 + offset[pick]) * (1.0 + NOISE_REL * rng.standard_normal(pick.size))
        a[pick == 5] *= 1.0 + 0.03 * np.sin(2.0 * np.pi * t / 0.7)  # 3 % variable
        epoch = T0 + timedelta(seconds=t * YEAR_S)
        pool = rows.starpool(s, "PHR1A", f"C{j}", epoch - timedelta(days=5), epoch + timedelta(days=5))
        per_star = {}
        for i, x in zip(pick, a, strict=True):
            entry = {"hip": int(hips[i]), "a": float(x), "a_sigma": NOISE_REL * float(x), "used": bool(i != 5)}
            if i == 5 and j >= 3:
                entry["variability"] = {"n": j + 1, "chi2": CHI2 if j == 8 else 40.0 + j, "p": 1e-12,
                                        "rms_rel": 0.021, "flagged": True}
            per_star[f"acq{j}-{hips[i]}"] = entry
        used = [e["a"] for e in per_star.values() if e["used"]]
        rows.starpool_result(s, run, pool, "P", 1, epoch, float(np.mean(used)), per_star)
    s.commit()
    drift_stage(s, load_settings(Path("/nonexistent-site"), env={}), run, end, StarSummary())
    return end


def test_pdf_draws_the_primary_star_offsets_drift_and_the_variable_stars(tmp_path: Path, catalogue_url: str) -> None:
    settings = load_settings(tmp_path, env={"MONITOR_DATABASE_URL": catalogue_url})
    engine = make_engine(catalogue_url)
    migrate.upgrade(engine)
    try:
        with Session(engine, expire_on_commit=False) as s:
            seed_reference(s)
            end = _fill(s)
            (d,) = build_results(s)["drift"]
            assert d["model"] == "star-offsets"
            ctx = build_context(s, settings, parse_period("2026-03", end), end)
    finally:
        engine.dispose()
    (sec,) = [x for x in ctx.satellites if x.satellite == "PHR1A"]
    (series,) = [c for c in sec.calibration if (c.band, c.method) == ("P", "STAR")]
    # the drawn drift is the primary one (the export's), the starpool-mean fit kept for comparison
    assert series.drift is not None and series.drift.model == "star-offsets"
    assert (series.drift.rate_per_year, series.drift.rate_sigma) == (d["rate_per_year"], d["rate_sigma"])
    assert series.starpool_mean_drift is not None
    assert series.starpool_mean_drift.rate_per_year == d["drift_starpool_mean"]["rate_per_year"]
    # its line goes through the plotted A_k (level fitted with the primary rate): mean residual ~ 0
    yrs = np.array([(t - series.drift.reference_epoch).total_seconds() / YEAR_S for t in series.epochs])
    line = series.drift.a0 * (1.0 + series.drift.rate_per_year * yrs)
    assert abs(float(np.mean(np.array(series.a) / line - 1.0))) < 0.005
    # the variable star, with its newest statistic and first flagging
    (var,) = sec.variable_stars
    assert (var.star, var.band, var.chi2, var.n_points) == (f"HIP {VARIABLE_HIP}", "P", CHI2, 9)
    assert var.first_flagged == T0 + timedelta(seconds=0.75 * YEAR_S)
    assert len(var.times) == len(series.epochs)  # every starpool of the report's history window

    figures = make_figures(ctx)
    assert figures.of("PHR1A").variable_stars is not None
    pdf = render_pdf(ctx, figures)
    reader = PdfReader(io.BytesIO(pdf))
    text = re.sub(r"\s+", " ", "\n".join(p.extract_text() for p in reader.pages))
    assert "per-star offsets" in text  # the calibration table's drift reference and the caption
    assert "Primary drift of the starpools of band(s) P" in text
    assert "PHR1A: variable stars" in text
    assert f"HIP {VARIABLE_HIP}" in text and "87.2" in text  # the table row (χ² to 0.1)
    # the variable-star figure is an image of the page that has the section
    page = next(p for p in reader.pages if "PHR1A: variable stars" in re.sub(r"\s+", " ", p.extract_text()))
    assert len(page.images) >= 1
