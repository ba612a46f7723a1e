"""A GLOD variant through the whole chain: the real 2014-03-18 SEVIRI observation rewritten as
LIME TBX writes its observation files (netCDF strings, a scalar sat_pos_ref, sat_pos in metres,
irr_obs in W m-2 nm-1, no imagette nor counts) gives the same ratios as the original; a file of
several observations is quarantined with its reason; nothing crashes."""

from __future__ import annotations

from pathlib import Path

import netCDF4
import numpy as np
import pytest

from monitor.calibration.service import run_processing
from monitor.ingest.service import run_ingest
from monitor.io.glod import read_glod
from monitor.lunar_results import comparisons_csv, write_comparison_netcdf
from monitor.results import build_results
from monitor.settings import load_settings
from monitor.site import init_site, session_scope, utc_now

SRF = "W_XX-EUMETSAT-Darmstadt_VIS+IR+SRF_MSG3+SEVIRI_C_EUMG.nc"
OBS_2014 = "W_XX-EUMETSAT-Darmstadt,VISNIR+SUBSET+MOON,MSG3+SEVIRI_C_EUMG_20140318140112_01.nc"
RATIO_2014 = {"VIS006": 0.94297, "VIS008": 1.00645, "NIR016": 1.14733}  # the original file's (chain test)


def _lime_style(src: Path, out: Path, dates: int = 1) -> None:
    obs = read_glod(src)
    with netCDF4.Dataset(str(out), "w", format="NETCDF4") as ds:
        ds.instrument = obs.instrument
        ds.data_source = "rewritten for a test"
        ds.createDimension("chan", len(obs.channels))
        ds.createDimension("date", dates)
        ds.createDimension("sat_xyz", 3)
        v = ds.createVariable("channel_name", str, ("chan",))
        for k, c in enumerate(obs.channels):
            v[k] = c.name
        ds.createVariable("sat_pos_ref", str, ())[...] = np.array(obs.sat_pos_ref, dtype=object)
        v = ds.createVariable("date", "f8", ("date",))
        v.units = "seconds since 1970-01-01 00:00:00"
        v[:] = [obs.date_obs.timestamp() + 3600.0 * k for k in range(dates)]
        v = ds.createVariable("sat_pos", "f8", ("sat_xyz",))
        v.units = "m"
        v[:] = np.array(obs.sat_pos_km) * 1000.0
        v = ds.createVariable("irr_obs", "f8", ("chan",), fill_value=-999.0)
        v.units = "W m-2 nm-1"
        v[:] = [c.irr_obs_w_m2_um / 1000.0 for c in obs.channels]


def test_lime_style_variant_gives_the_original_ratios(tmp_path: Path, glod_reference: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "monitor.toml").write_text(f'[instruments."MSG3 SEVIRI"]\nsrf = "{glod_reference / SRF}"\n')
    settings = load_settings(site, env={"MONITOR_INGEST_SETTLE_SECONDS": "0"})
    init_site(settings)
    _lime_style(glod_reference / OBS_2014, settings.inbox / "lime.nc")
    _lime_style(glod_reference / OBS_2014, settings.inbox / "two.nc", dates=2)
    with session_scope(settings) as session:
        ing = run_ingest(session, settings, utc_now())
        assert ing.ingested == ["MSG3 SEVIRI 2014-03-18T14:01:12.000000Z"]
        assert ing.rejected == [("two.nc", "bad-value")]
        run_processing(session, settings, utc_now())
        doc = build_results(session)
        csv_text = comparisons_csv(session)
        assert write_comparison_netcdf(tmp_path / "cmp.nc", session, code_version="test") == 1
    rows = {r["channel"]: r for r in doc["lunar_comparison"]}
    assert set(rows) == set(RATIO_2014)
    for ch, r in rows.items():
        assert (r["status"], r["file"], r["dc_integrated"]) == ("ok", "lime.nc", None)
        assert r["ratio"] == pytest.approx(RATIO_2014[ch], abs=2e-5)  # as the original file's
        assert 0.005 < r["ratio_sigma"] / r["ratio"] < 0.03
    assert len(csv_text.splitlines()) == 4
    (two,) = [m for m in doc["measurements"] if m["reason"] == "bad-value"]
    assert two["file"] == "two.nc"
    assert "several observations in one file" in caplog.text


OBS_2013 = "W_XX-EUMETSAT-Darmstadt,VISNIR+SUBSET+MOON,MSG3+SEVIRI_C_EUMG_20130101145644_01.nc"


def test_report_lunar_section_of_the_real_seviri_files(tmp_path: Path, glod_reference: Path) -> None:
    """The PDF report's lunar-comparison section, read back: per channel N, MRD, the largest
    disagreement of the own integration with dc_obs (< 1 %) and the latest ratio +- sigma."""
    import io
    import re
    import shutil
    from datetime import UTC, datetime

    from pypdf import PdfReader

    from monitor.reports.lunar import lunar_comparison_section
    from monitor.reports.period import parse_period
    from monitor.reports.service import make_report

    site = tmp_path / "site"
    site.mkdir()
    (site / "monitor.toml").write_text(f'[instruments."MSG3 SEVIRI"]\nsrf = "{glod_reference / SRF}"\n')
    settings = load_settings(site, env={"MONITOR_INGEST_SETTLE_SECONDS": "0"})
    init_site(settings)
    for name in (OBS_2013, OBS_2014):
        shutil.copy(glod_reference / name, settings.inbox / name)
    with session_scope(settings) as session:
        run_ingest(session, settings, utc_now())
        run_processing(session, settings, utc_now())
        (sec,) = lunar_comparison_section(session)
        outcome = make_report(session, settings, datetime(2015, 1, 2, tzinfo=UTC), parse_period("2014"),
                              scheduled=False, send=False)
    assert (sec.instrument, sec.n_observations, sec.n_flagged) == ("MSG3 SEVIRI", 2, 3)  # 2013: libration
    rows = {r.channel: r for r in sec.stats}
    assert set(rows) == set(RATIO_2014)
    for ch, r in rows.items():
        assert r.stats.n == 1 and r.stats.mrd == pytest.approx(RATIO_2014[ch] - 1.0, abs=2e-5)
        assert r.max_abs_dc_diff is not None and r.max_abs_dc_diff < 0.01  # done-when: within 1 %
        assert r.last_ratio == pytest.approx(RATIO_2014[ch], abs=2e-5) and 0.005 < r.last_ratio_sigma < 0.03
    assert outcome.path is not None
    pages = PdfReader(io.BytesIO(outcome.path.read_bytes())).pages
    text = re.sub(r"\s+", " ", "\n".join(p.extract_text() for p in pages))
    assert "Lunar comparisons (GSICS lunar observation files)" in text
    assert "max |Σ − dc_obs|" in text and "5-10 %" in text
    assert f"{RATIO_2014['VIS006']:.4f} ±" in text  # the latest VIS006 ratio, as the results
    assert "VIS006 1 0 −5.70 %" in text  # N, 3σ-rejected, MRD
