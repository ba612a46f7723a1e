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


def test_other_instrument_oversampled_along_columns(tmp_path: Path) -> None:
    """An instrument of another agency (JMA-like: 1.75 oversampling along the COLUMNS, -1 padding
    outside the scan under valid_min = 0, int32 counts) with its own SRF file goes through the
    chain: the own integration finds the column axis and agrees with the file's gross dc_obs."""
    import math
    from datetime import UTC, datetime

    from monitor.catalogue import lunar_comparisons as lc
    from monitor.io.glod import SpectralResponse, write_srf
    from monitor.science.lunar_geometry import lunar_geometry
    from monitor.science.observer_frames import observer_gcrs_km

    t0 = datetime(2013, 7, 25, 3, 51, 38, tzinfo=UTC)
    pos = (-34519.78, 24189.64, 9.54)  # km, ITRF93 (geostationary, 145 E)
    geo = lunar_geometry(t0, observer_gcrs_km(pos, "ITRF93", t0).gcrs_km)
    radius_px = 60.0
    omega = (math.asin(1737.4 / geo.d_obs_moon_km) / radius_px) ** 2  # sr: the Moon is 60 native px
    rows, cols, sub, over, offset = 260, 330, 4, 1.75, 50
    yy, xx = np.mgrid[0:rows * sub, 0:cols * sub]
    inside = (((xx + 0.5) / sub - 170.0) / over) ** 2 + ((yy + 0.5) / sub - 130.0) ** 2 <= radius_px**2
    signal = 300.0 * inside.reshape(rows, sub, cols, sub).mean(axis=(1, 3))
    img = np.round(offset + signal + np.random.default_rng(5).normal(0.0, 1.0, (rows, cols))).astype(np.int32)
    img[:, :20] = -1  # outside the scan
    mask = img >= 70
    site = tmp_path / "site"
    site.mkdir()
    lam = np.arange(550.0, 901.0, 5.0)
    write_srf(tmp_path / "srf.nc", [SpectralResponse("VIS", lam, np.ones(lam.size))])
    (site / "monitor.toml").write_text(f'[instruments."TEST2 Imager"]\nsrf = "{tmp_path / "srf.nc"}"\n')
    settings = load_settings(site, env={"MONITOR_INGEST_SETTLE_SECONDS": "0"})
    init_site(settings)
    with netCDF4.Dataset(str(settings.inbox / "jma-like.nc"), "w") as ds:
        ds.instrument = "TEST2 Imager"
        for name, size in (("chan", 1), ("chan_strlen", 3), ("date", 1), ("sat_ref_strlen", 6), ("sat_xyz", 3),
                           ("col", cols), ("row", rows)):
            ds.createDimension(name, size)
        ds.createVariable("channel_name", "S1", ("chan", "chan_strlen"))[:] = netCDF4.stringtochar(
            np.array(["VIS"], dtype="S3"))
        v = ds.createVariable("date", "f8", ("date",))
        v.units = "seconds since 1970-01-01T00:00:00Z"
        v[:] = [t0.timestamp()]
        v = ds.createVariable("sat_pos", "f8", ("sat_xyz",), fill_value=-999.0)
        v.units, v.valid_min = "km", 0.0
        v[:] = pos
        ds.createVariable("sat_pos_ref", "S1", ("sat_ref_strlen",))[:] = np.array(list("ITRF93"), dtype="S1")
        per = {"irr_obs": 1.0e-3, "pix_solid_ang": omega, "ovrsamp_fa": over, "dc_obs_offset": float(offset)}
        for name, value in per.items():
            ds.createVariable(name, "f8", ("chan",), fill_value=-999.0)[:] = [value]
        counts = {"dc_obs": int(img[mask].sum()), "moon_pix_num": int(mask.sum()), "moon_pix_thld": 70}
        for name, value in counts.items():
            ds.createVariable(name, "i4", ("chan",), fill_value=np.int32(-999))[:] = [value]
        v = ds.createVariable("dc_obs_imgt", "i4", ("row", "col", "chan"), fill_value=np.int32(-999))
        v.valid_min, v.valid_max = np.int32(0), np.int32(1000000)
        v[:] = img[:, :, None]
    with session_scope(settings) as session:
        assert run_ingest(session, settings, utc_now()).ingested == ["TEST2 Imager 2013-07-25T03:51:38.000000Z"]
        run_processing(session, settings, utc_now())
        ((row, _),) = lc.latest_lunar_comparisons(session)
    assert row.status == "ok" and row.budget["oversampling_axis"] == "columns"
    assert row.budget["dc_convention"] == "gross"
    assert row.dc_integrated == pytest.approx(float(signal[:, 20:].sum()), rel=0.003)  # the disk written
    assert row.dc_integrated / row.dc_file - 1.0 == pytest.approx(0.0, abs=0.01)  # done-when criterion
