"""Tests of monitor.simulate.geom: ICD §3 content, units, determinism and an honest truth."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from monitor.io.fits_writer import format_fits_time
from monitor.science.orbit import KeplerOrbit
from monitor.science.pushbroom import ground_to_image
from monitor.simulate.geom import GeomSimulation, geom_inputs_from_simulation, simulate_geom_pair

EPOCH = datetime(2025, 6, 1, 10, 30, 12, 345678, tzinfo=UTC)


def make(seed: int = 5, **kw: object) -> GeomSimulation:
    return simulate_geom_pair(
        np.random.default_rng(seed),
        epoch_utc=EPOCH,
        site_lat_deg=48.85,
        site_lon_deg=2.35,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def sim() -> GeomSimulation:
    return make()


def test_header_values_and_units(sim: GeomSimulation) -> None:
    g = sim.geom
    assert sim.date_obs == datetime(2025, 6, 1, 10, 30, 12, 345000, tzinfo=UTC)  # DATE-OBS, to the ms
    assert (g.focal_mm, g.pixpitch_um, g.nsamp, g.lineper_ms) == (12905.0, 13.0, 20000, 0.1)
    assert 15.0 <= g.pitch_fore_deg <= 20.0 and -20.0 <= g.pitch_aft_deg <= -15.0
    assert (g.t0_fore - sim.date_obs).total_seconds() < -20.0 and (g.t0_aft - sim.date_obs).total_seconds() > 20.0
    assert 50.0 < (g.t0_aft - g.t0_fore).total_seconds() < 80.0  # about a minute apart
    r = np.array(sim.sc_pos_km)
    v = np.array(sim.sc_vel_km_s)
    assert np.linalg.norm(r) == pytest.approx(6366.0 + 694.0, abs=20.0)  # km (geocentric radius at 48.85 deg)
    assert np.linalg.norm(v) == pytest.approx(7.5, abs=0.05)  # km/s
    # The times are what the ICD text format holds (DATE-OBS: ms; T0_FORE/T0_AFT: us), unchanged by it.
    for t in (sim.date_obs, g.t0_fore, g.t0_aft):
        assert datetime.fromisoformat(format_fits_time(t)).replace(tzinfo=UTC) == t


def test_tables(sim: GeomSimulation) -> None:
    e, g = sim.ephem, sim.gcp
    assert set(e) == {"T", "X", "Y", "Z", "VX", "VY", "VZ"}
    assert 0.0 in e["T"] and np.all(np.diff(e["T"]) > 0)
    assert set(g) == {"ID", "ROLE", "LAT", "LON", "H", "VIEW", "LINE", "SAMPLE"}
    assert len(g["ID"]) == 2 * 36
    assert (g["ROLE"] == "CONTROL").sum() == 48 and (g["ROLE"] == "CHECK").sum() == 24
    assert set(g["VIEW"]) == {"FORE", "AFT"}
    assert np.all((g["SAMPLE"] > 0) & (g["SAMPLE"] < 20000))
    assert np.all(np.abs(g["LAT"] - 48.85) < 0.1) and np.all(np.abs(g["LON"] - 2.35) < 0.1)


def test_deterministic(sim: GeomSimulation) -> None:
    again = make()
    np.testing.assert_array_equal(again.gcp["LINE"], sim.gcp["LINE"])
    np.testing.assert_array_equal(again.ephem["X"], sim.ephem["X"])
    assert (again.date_obs, again.sc_pos_km, again.sc_vel_km_s, again.geom) == (
        sim.date_obs,
        sim.sc_pos_km,
        sim.sc_vel_km_s,
        sim.geom,
    )


def test_measurements_are_truth_plus_noise(sim: GeomSimulation) -> None:
    tr = sim.truth
    inp = geom_inputs_from_simulation(sim)
    # The reader-side camera models (parsed from the ISO header strings) equal the truth.
    for view in ("FORE", "AFT"):
        assert inp.cameras[view].t0_s == pytest.approx(tr["cameras"][view].t0_s, abs=1e-9)
        sel = sim.gcp["VIEW"] == view
        line, sample = ground_to_image(
            inp.cameras[view], tr["attitude"][view], tr["trajectory"], tr["ground_ecef_m"][sel], inp.era_ref_rad
        )
        resid = np.column_stack([sim.gcp["LINE"][sel] - line, sim.gcp["SAMPLE"][sel] - sample])
        np.testing.assert_allclose(resid, tr["noise_px"][sel], atol=1e-5)
    assert np.std(tr["noise_px"]) == pytest.approx(0.3, rel=0.3)


def test_truth_orbit_is_integrated_not_the_polynomial(sim: GeomSimulation) -> None:
    tr = sim.truth
    poly = KeplerOrbit(tr["position_m"], tr["velocity_m_s"], 0.0, order=2)
    t = np.array([-30.0, 30.0])
    err = np.linalg.norm(poly.state(t)[0] - tr["trajectory"].state(t)[0], axis=1)
    assert np.all(err > 20.0)  # m: the 2nd-order truncation error is real in the truth
    # EPHEM (navigation) is close to, but not exactly, the truth.
    pos_nav = np.column_stack([sim.ephem[a] for a in "XYZ"]) * 1e3
    nav_err = np.linalg.norm(pos_nav - tr["trajectory"].state(sim.ephem["T"])[0], axis=1)
    assert 0.0 < np.median(nav_err) < 20.0


def test_blunder_truth() -> None:
    s = make(6, blunder=True, n_control=10, n_check=4)
    bid = s.truth["blunder_id"]
    assert bid is not None
    rows = s.gcp["ID"] == bid
    assert set(s.gcp["ROLE"][rows]) == {"CONTROL"}
    assert np.max(np.linalg.norm(s.truth["noise_px"][rows], axis=1)) > 8.0


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        make(satellite="SPOT5")
    with pytest.raises(ValueError):
        simulate_geom_pair(np.random.default_rng(0), epoch_utc=EPOCH, site_lat_deg=89.0, site_lon_deg=0.0)
