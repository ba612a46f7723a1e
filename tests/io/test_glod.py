"""GLOD observation and SRF files (ICD 6): the real EUMETSAT SEVIRI files, and bad files refused
with a reason (never another exception)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from monitor.domain import GlodChannel, GlodObservation, RejectReason
from monitor.io.errors import InvalidAcquisitionError
from monitor.io.glod import SpectralResponse, read_glod, read_glod_bytes, read_srf, write_glod, write_srf

SEVIRI_2013 = "W_XX-EUMETSAT-Darmstadt,VISNIR+SUBSET+MOON,MSG3+SEVIRI_C_EUMG_20130101145644_01.nc"
SEVIRI_SRF = "W_XX-EUMETSAT-Darmstadt_VIS+IR+SRF_MSG3+SEVIRI_C_EUMG.nc"


def test_real_seviri_file(glod_reference: Path) -> None:
    obs = read_glod(glod_reference / SEVIRI_2013)
    assert obs.instrument == "MSG3 SEVIRI"
    assert obs.date_obs == datetime(2013, 1, 1, 14, 56, 44, tzinfo=UTC)
    assert obs.sat_pos_ref == "ITRF93"
    assert obs.sat_pos_km == pytest.approx((42069.67982869, -2551.87170835, 998.48108832))
    # HRVIS is all fill (-999): a missing channel, left out
    assert [c.name for c in obs.channels] == ["VIS006", "VIS008", "NIR016"]
    vis = obs.channels[0]
    assert vis.imagette_dn.shape == (499, 499)
    assert int(np.isfinite(vis.imagette_dn).sum()) == 147 * 147  # the rest is fill
    assert (vis.dc_obs, vis.moon_pix_num, vis.moon_pix_thld) == (612348.0, 6310, 53.0)
    assert vis.offset_dn == pytest.approx(51.00387324)
    assert vis.pixel_solid_angle_sr == pytest.approx(7.03120534e-09)
    assert vis.irr_obs_w_m2_um == pytest.approx(1.05821483e-03)
    assert obs.observation_id == "MSG3 SEVIRI 2013-01-01T14:56:44.000000Z"


def test_real_srf_file(glod_reference: Path) -> None:
    srf = read_srf(glod_reference / SEVIRI_SRF)
    assert {"VIS006", "VIS008", "NIR016", "HRVIS"} <= set(srf)
    vis = srf["VIS006"]
    assert vis.wavelength_nm[0] == pytest.approx(485.0) and vis.wavelength_nm[-1] == pytest.approx(785.0)
    assert vis.wavelength_nm.size == 101 and np.all(np.diff(vis.wavelength_nm) > 0)  # -9999 padding dropped
    assert float(vis.response.max()) == pytest.approx(1.0)


def _observation(**over: object) -> GlodObservation:
    img = np.full((40, 50), 10.0)
    img[10:30, 15:35] = 500.0
    ch = GlodChannel(name="B1", imagette_dn=img, offset_dn=10.0, dc_obs=196000.0, moon_pix_num=400,
                     moon_pix_thld=20.0, pixel_solid_angle_sr=1e-10, oversampling=1.5, irr_obs_w_m2_um=2e-3)
    base = dict(instrument="TEST IMG", date_obs=datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=UTC),
                sat_pos_km=(7000.0, 10.0, -20.0), sat_pos_ref="J2000", channels=(ch,))
    base.update(over)
    return GlodObservation(**base)  # type: ignore[arg-type]


def test_write_read_round_trip(tmp_path: Path) -> None:
    obs = _observation()
    write_glod(tmp_path / "o.nc", obs, {"title": "test"})
    back = read_glod(tmp_path / "o.nc")
    assert back.instrument == "TEST IMG" and back.sat_pos_ref == "J2000"
    assert back.date_obs == obs.date_obs
    c = back.channels[0]
    assert np.array_equal(c.imagette_dn, obs.channels[0].imagette_dn)
    assert (c.dc_obs, c.moon_pix_num, c.oversampling, c.irr_obs_w_m2_um) == (196000.0, 400, 1.5, 2e-3)
    assert back.attributes["title"] == "test"


def test_srf_write_read_round_trip(tmp_path: Path) -> None:
    lam = np.arange(400.0, 501.0)
    write_srf(tmp_path / "s.nc", [SpectralResponse("B1", lam, np.hanning(lam.size)),
                                  SpectralResponse("B2", lam[:50], np.ones(50))])
    srf = read_srf(tmp_path / "s.nc")
    assert np.allclose(srf["B1"].wavelength_nm, lam) and srf["B2"].wavelength_nm.size == 50


def _edited(tmp_path: Path, edit: object) -> bytes:
    path = tmp_path / "e.nc"
    write_glod(path, _observation())
    with netCDF4.Dataset(str(path), "a") as ds:
        edit(ds)  # type: ignore[operator]
    return path.read_bytes()


def _set_ref(ds: netCDF4.Dataset) -> None:
    ds.variables["sat_pos_ref"][:] = np.array(list("MARS  "), dtype="S1")


def _fill_pos(ds: netCDF4.Dataset) -> None:
    ds.variables["sat_pos"][:] = [-999.0, 0.0, 0.0]


def _fill_all(ds: netCDF4.Dataset) -> None:
    ds.variables["irr_obs"][:] = [-999.0]


def _no_instrument(ds: netCDF4.Dataset) -> None:
    ds.delncattr("instrument")


@pytest.mark.parametrize(("edit", "reason"), [
    (_set_ref, RejectReason.BAD_VALUE),
    (_fill_pos, RejectReason.BAD_VALUE),
    (_fill_all, RejectReason.BAD_VALUE),
    (_no_instrument, RejectReason.MISSING_KEY),
], ids=["unknown-frame", "filled-position", "all-channels-missing", "no-instrument"])
def test_bad_content_refused_with_reason(tmp_path: Path, edit: object, reason: RejectReason) -> None:
    with pytest.raises(InvalidAcquisitionError) as info:
        read_glod_bytes(_edited(tmp_path, edit))
    assert info.value.reason is reason


def test_missing_required_variable(tmp_path: Path) -> None:
    path = tmp_path / "m.nc"
    with netCDF4.Dataset(str(path), "w") as ds:
        ds.setncattr("instrument", "X")
        ds.createDimension("chan", 1)
        ds.createVariable("irr_obs", "f8", ("chan",))[:] = [1.0]
    with pytest.raises(InvalidAcquisitionError) as info:
        read_glod(path)
    assert info.value.reason is RejectReason.MISSING_KEY
    assert "sat_pos" in info.value.message


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_truncated_or_foreign_bytes_are_not_netcdf(tmp_path: Path, cut: float) -> None:
    path = tmp_path / "t.nc"
    write_glod(path, _observation())
    data = path.read_bytes()
    with pytest.raises(InvalidAcquisitionError) as info:
        read_glod_bytes(data[: int(len(data) * cut)])
    assert info.value.reason in (RejectReason.NOT_NETCDF, RejectReason.BAD_VALUE)
    with pytest.raises(InvalidAcquisitionError) as info:
        read_glod_bytes(b"SIMPLE  =                    T" + b" " * 100)
    assert info.value.reason is RejectReason.NOT_NETCDF


def test_channel_axis_first_and_metres(tmp_path: Path) -> None:
    """Another producer's layout: dc_obs_imgt (chan, row, col), sat_pos in metres, string names."""
    path = tmp_path / "other.nc"
    img = np.full((2, 30, 30), 5.0)
    img[:, 10:20, 10:20] = 300.0
    with netCDF4.Dataset(str(path), "w") as ds:
        ds.setncattr("instrument", "OTHER IMG")
        for name, size in (("chan", 2), ("date", 1), ("sat_xyz", 3), ("row", 30), ("col", 30)):
            ds.createDimension(name, size)
        v = ds.createVariable("channel_name", str, ("chan",))
        v[0], v[1] = "C1", "C2"
        v = ds.createVariable("date", "f8", ("date",))
        v.units = "days since 2020-01-01 00:00:00"
        v[:] = [1.5]
        v = ds.createVariable("sat_pos", "f8", ("sat_xyz",))
        v.units = "m"
        v[:] = [7.0e6, 0.0, 0.0]
        ds.createVariable("sat_pos_ref", str, ())[...] = "GCRS"
        ds.createVariable("dc_obs_imgt", "f8", ("chan", "row", "col"))[:] = img
        ds.createVariable("irr_obs", "f8", ("chan",))[:] = [1e-3, 2e-3]
    obs = read_glod(path)
    assert obs.date_obs == datetime(2020, 1, 2, 12, tzinfo=UTC)
    assert obs.sat_pos_km == pytest.approx((7000.0, 0.0, 0.0))
    assert [c.name for c in obs.channels] == ["C1", "C2"]
    assert obs.channels[1].imagette_dn.shape == (30, 30)
    assert obs.channels[0].dc_obs is None and obs.channels[0].offset_dn is None  # optional, absent
