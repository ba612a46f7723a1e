"""End-to-end tests of the Moon method: ICD-1 files -> inbox -> ingest -> processing -> results.

One scenario (module fixture, real SQLite site) is run and recorded step by step:

1. 22 MOON acquisitions are delivered: PNEO3 and PNEO4 each at signed phase angles of about
   -80, -55, -30, -5, +5, +30, +55, +80 deg (lunation of 2025-03) and -30, +30 deg (2025-09),
   plus one out-of-range acquisition each (|g| = 0.3 deg near the eclipse of 2025-03-14, and
   g = -105 deg); two bands of one file are damaged (NaN on the disk, SATURATE below the data);
   all is ingested and processed;
2. processing again does nothing (idempotence);
3. ``--reprocess`` measures everything again as new rows, with identical values.

Truth: ``A_k(t) = A0_k F_sat (1 + RATE (t - T_REF))`` with the simulator's A0 and satellite factors
(PNEO4 = 1.03 PNEO3), and the REF-1 irradiance at the geometry of SC_POS and DATE-OBS
(:func:`monitor.science.lunar_geometry.lunar_geometry`, :func:`monitor.science.lunar_model.lunar_band_irradiance`),
so ``S_k = o G A_k E_k / Omega_pix`` (ICD 1.3) is exactly what the images hold. Images follow the
PNEO instrument (native IFOV, ground binning bringing the disk to ~96 delivered pixels, dark, read
and shot noise, sky plane) as :func:`monitor.simulate.moon_acquisition.simulate_moon_acquisition` does.

Epochs: found once with ``lunar_geometry`` for PNEO3's SC_POS by a secant search on the target
phase (to 0.02 deg) and pinned here; PNEO4 observes 40 minutes later from another position,
so its phase angles differ by up to 1.5 deg (within the 2 deg pairing tolerance of the ratio).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlmodel import Session, col, func, select

from monitor.calibration.moon import FLAG_PHASE, MoonSummary, moon_irradiance, moon_phase_slope
from monitor.calibration.service import run_processing
from monitor.catalogue import moon_results
from monitor.catalogue.models import Acquisition, Alert, DriftResult, MoonMeasurement
from monitor.domain import BANDS_BY_MISSION, ICD_VERSION, AcqType, AcquisitionHeader, BandHeader, Mission, Satellite
from monitor.ingest.service import run_ingest
from monitor.io.fits_writer import write_acquisition
from monitor.reports.lunar import pneo_ratio
from monitor.results import build_results, iso_utc
from monitor.science.constants import SECONDS_PER_YEAR
from monitor.science.instrument import E_PER_DN_REFERENCE, READ_NOISE_DN, SATURATE_DN, lineper_ms, pixscale_urad
from monitor.science.lunar_comparison import FLAG_LIBRATION, model_rel_sigma, quality_flags
from monitor.science.lunar_geometry import lunar_geometry
from monitor.settings import Settings, load_settings
from monitor.simulate.acquisition import make_acq_id
from monitor.simulate.campaign import DEFAULT_A0, SATELLITE_A_FACTOR, simulate_campaigns
from monitor.simulate.moon import moon_apparent_diameter_px, simulate_moon_band
from monitor.site import init_site, session_scope, utc_now

MISSION = Mission.PNEO
BANDS = BANDS_BY_MISSION[MISSION]
SATS = (Satellite.PNEO3, Satellite.PNEO4)
T_REF = datetime(2025, 1, 1, tzinfo=UTC)
RATE = -0.015  # true dA/A per year, all bands (below the 2 %/year alert threshold)
POS = {Satellite.PNEO3: (6998.0, 0.0, 0.0), Satellite.PNEO4: (-3000.0, -4000.0, 4500.0)}  # SC_POS, km, GCRS
OVERSAMP = {Satellite.PNEO3: 1.0, Satellite.PNEO4: 2.0}
PNEO4_DELAY = timedelta(minutes=40)
DISK_PX = 96.0  # target lunar diameter in delivered pixels
# PNEO3 epochs at the nominal signed phase angle (deg) from SC_POS = POS[PNEO3].
EPOCHS = {
    (-80, 1): datetime(2025, 3, 7, 9, 12, tzinfo=UTC),
    (-55, 1): datetime(2025, 3, 9, 10, 19, tzinfo=UTC),
    (-30, 1): datetime(2025, 3, 11, 13, 58, tzinfo=UTC),
    (-5, 1): datetime(2025, 3, 13, 19, 47, tzinfo=UTC),
    (5, 1): datetime(2025, 3, 14, 17, 45, tzinfo=UTC),
    (30, 1): datetime(2025, 3, 17, 1, 41, tzinfo=UTC),
    (55, 1): datetime(2025, 3, 19, 9, 57, tzinfo=UTC),
    (80, 1): datetime(2025, 3, 21, 16, 47, tzinfo=UTC),
    (-30, 2): datetime(2025, 9, 5, 11, 54, tzinfo=UTC),
    (30, 2): datetime(2025, 9, 9, 22, 57, tzinfo=UTC),
}
FLAGGED = {  # out of the ICD 2.3 range 2 <= |g| <= 90 deg
    Satellite.PNEO3: datetime(2025, 3, 14, 6, 59, tzinfo=UTC),  # |g| = 0.34 deg (lunar eclipse)
    Satellite.PNEO4: datetime(2025, 3, 5, 12, 0, tzinfo=UTC),  # g = -105.5 deg
}
DAMAGED = (Satellite.PNEO3, (30, 2))  # NaN on the disk in G, SATURATE below the data in R
NAN_BAND, SATURATED_BAND = "G", "R"
TOL = 1e-3  # issue: A_k within 0.1 % of truth


def _a_true(sat: Satellite, band: str, t: datetime) -> float:
    years = (t - T_REF).total_seconds() / SECONDS_PER_YEAR
    return DEFAULT_A0[MISSION][band] * SATELLITE_A_FACTOR[sat] * (1.0 + RATE * years)


@dataclass
class Truth:
    satellite: str
    epoch: datetime
    phase_angle_deg: float
    nominal: int | None  # nominal phase (None: out-of-range acquisition)
    a_true: dict[str, float]
    rejected: dict[str, str] = field(default_factory=dict)  # band -> expected reason


def deliver(
    settings: Settings,
    rng: np.random.Generator,
    sat: Satellite,
    epoch: datetime,
    seq: int,
    nominal: int | None,
    damaged: bool,
) -> Truth:
    """Write one MOON acquisition (all 7 bands) into the inbox and return its truth."""
    geo = lunar_geometry(epoch, POS[sat])
    o = OVERSAMP[sat]
    bands: list[BandHeader] = []
    images: dict[str, Any] = {}
    truth = Truth(sat.value, epoch, geo.phase_angle_deg, nominal, {})
    for k, band in enumerate(BANDS):
        e_k = moon_irradiance(
            MISSION.value,
            band,
            geo.phase_angle_deg,
            geo.sun_selenographic_lon_deg,
            geo.observer_selenographic_lat_deg,
            geo.observer_selenographic_lon_deg,
            geo.d_sun_moon_km,
            geo.d_obs_moon_km,
        )
        a_k = _a_true(sat, band, epoch)
        pix = pixscale_urad(MISSION, band)
        diameter_native = moon_apparent_diameter_px(geo.d_obs_moon_km, pix)
        b = max(1, round(diameter_native / DISK_PX))
        diameter = diameter_native / b
        cols = int(math.ceil(2.2 * diameter / 8.0)) * 8
        rows = int(cols * o)
        gain = 2.0 + 0.25 * k
        dark = 30.0 + 3.0 * k
        s_true = o * gain * a_k * e_k / (pix * 1e-6) ** 2  # ICD 1.3
        image = simulate_moon_band(
            rng, total_signal_dn=s_true, shape=(rows, cols), oversamp=o, binning=1,
            phase_angle_deg=geo.phase_angle_deg, moon_diameter_px=diameter, psf_sigma_px=0.5,
            dark_dn=dark * b * b, gain_e_per_dn=E_PER_DN_REFERENCE[MISSION] / gain, read_noise_dn=READ_NOISE_DN * b,
            background_dn=1.5 * b * b, background_slope=(0.004 * b * b, -0.003 * b * b),
            saturate_dn=SATURATE_DN * b * b,
        )  # fmt: skip
        saturate = SATURATE_DN
        if damaged and band == NAN_BAND:
            image[rows // 2, cols // 2 - 3 : cols // 2 + 3] = np.nan
            truth.rejected[band] = "nan-in-window"
        if damaged and band == SATURATED_BAND:
            saturate = 0.8 * float(np.nanmax(image)) / (b * b)  # the brightest pixels reach SATURATE
            truth.rejected[band] = "saturated"
        bands.append(
            BandHeader(
                band=band,
                shape=(rows, cols),
                dark_dn=dark,
                gain_factor=gain,
                oversamp=o,
                binning=b,
                pixscale_urad=pix,
                lineper_ms=lineper_ms(MISSION, band),
                saturate_dn=saturate,
            )
        )
        images[band] = image
        truth.a_true[band] = a_k
    acq_id = make_acq_id(sat, AcqType.MOON, epoch, seq)
    header = AcquisitionHeader(
        acq_id=acq_id, mission=MISSION, satellite=sat, acq_type=AcqType.MOON, target="MOON", date_obs=epoch,
        sc_pos_km=POS[sat], sc_vel_km_s=(0.0, 7.5, 0.0), ra_deg=geo.moon_ra_deg % 360.0,
        dec_deg=geo.moon_dec_deg, icd=ICD_VERSION, bands=tuple(bands),
    )  # fmt: skip
    write_acquisition(settings.inbox / f"{acq_id}.fits", header, images, durable=False)
    return truth


@dataclass
class Scenario:
    settings: Settings
    truth: dict[str, Truth]  # acq_id -> truth
    summaries: dict[str, MoonSummary] = field(default_factory=dict)
    run_ids: dict[str, int] = field(default_factory=dict)
    counts: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # rows, drift rows, alerts


def _counts(session: Session) -> tuple[int, int, int]:
    return (
        session.exec(select(func.count()).select_from(MoonMeasurement)).one(),
        session.exec(select(func.count()).select_from(DriftResult).where(DriftResult.method == "MOON")).one(),
        session.exec(select(func.count()).select_from(Alert).where(Alert.method == "MOON")).one(),
    )


def _process(sc: Scenario, name: str, *, reprocess: bool = False, ingest: bool = False) -> None:
    with session_scope(sc.settings) as session:
        if ingest:
            run_ingest(session, sc.settings, utc_now())
        out = run_processing(session, sc.settings, utc_now(), reprocess=reprocess)
        sc.summaries[name] = out.parts["moon"]
        assert out.run_id is not None
        sc.run_ids[name] = out.run_id
        sc.counts[name] = _counts(session)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    root = tmp_path_factory.mktemp("moon_pipeline")
    settings = load_settings(root / "site", env={"MONITOR_INGEST_SETTLE_SECONDS": "0"})
    init_site(settings)
    rng = np.random.default_rng(20250314)
    truth: dict[str, Truth] = {}
    seq = 0
    for sat in SATS:
        delay = PNEO4_DELAY if sat is Satellite.PNEO4 else timedelta(0)
        plan = [(t + delay, nominal) for (nominal, _), t in EPOCHS.items()] + [(FLAGGED[sat], None)]
        for epoch, nominal in plan:
            seq += 1
            damaged = sat is DAMAGED[0] and epoch == EPOCHS[DAMAGED[1]]
            t = deliver(settings, rng, sat, epoch, seq, nominal, damaged)
            truth[make_acq_id(sat, AcqType.MOON, epoch, seq)] = t
    sc = Scenario(settings, truth)
    _process(sc, "initial", ingest=True)
    _process(sc, "again")
    _process(sc, "reprocess", reprocess=True)
    return sc


def _libration_flagged(scenario: Scenario) -> set[str]:
    """Acquisitions seen from outside ROLO's libration range (|lat| > 7, |lon| > 8 deg): flagged
    and kept out of trends since issue 16 (their phase is in range)."""
    out = set()
    for acq_id, t in scenario.truth.items():
        geo = lunar_geometry(t.epoch, POS[Satellite(t.satellite)])
        flags = quality_flags(geo.phase_angle_deg, geo.observer_selenographic_lat_deg,
                              geo.observer_selenographic_lon_deg)
        if FLAG_LIBRATION in flags and 2.0 <= abs(t.phase_angle_deg) <= 90.0:
            out.add(acq_id)
    return out


def _latest(session: Session) -> list[tuple[MoonMeasurement, Acquisition]]:
    latest = select(func.max(MoonMeasurement.id)).group_by(MoonMeasurement.acquisition_id, MoonMeasurement.band)
    q = (
        select(MoonMeasurement, Acquisition)
        .join(Acquisition, col(Acquisition.id) == col(MoonMeasurement.acquisition_id))
        .where(col(MoonMeasurement.id).in_(latest))
    )
    return [(m, a) for m, a in session.exec(q).all()]


def _rows_of_run(session: Session, run_id: int) -> list[tuple[MoonMeasurement, Acquisition]]:
    return moon_results.moon_measurements_of_run(session, run_id)


# --------------------------------------------------------------------------- accuracy


def test_a_k_within_0p1_percent_of_truth(scenario: Scenario) -> None:
    """Both satellites, 7 bands, |g| 5..80 deg waxing and waning: |A/A_true - 1| < 1e-3."""
    errors: dict[tuple[str, str], float] = {}  # (acq_id, band) -> relative error
    phases: set[int] = set()
    with session_scope(scenario.settings) as session:
        rows = _rows_of_run(session, scenario.run_ids["initial"])
    assert len(rows) == len(scenario.truth) * len(BANDS)  # one row per acquisition and band
    for m, acq in rows:
        t = scenario.truth[acq.acq_id]
        if t.nominal is None or m.band in t.rejected:
            continue
        # outside ROLO's libration range (|lat| > 7, |lon| > 8 deg) a measurement is flagged and kept
        # out of trends (issue 16); its A_k is still measured
        libration = m.reason == "libration-out-of-range"
        assert (m.status == "ok" and m.in_trend) or (libration and m.status == "flagged" and not m.in_trend), (
            acq.acq_id, m.band, m.message)
        assert m.a is not None and m.a_sigma is not None
        err = m.a / t.a_true[m.band] - 1.0
        errors[(acq.acq_id, m.band)] = err
        phases.add(round(t.phase_angle_deg))
        assert abs(err) < TOL, (acq.acq_id, m.band, t.phase_angle_deg, err)
    assert min(phases) <= -78 and max(phases) >= 78 and min(abs(g) for g in phases) <= 6
    assert {i.split("-")[0] for i, _ in errors} == {s.value for s in SATS} and {b for _, b in errors} == set(BANDS)
    assert len(errors) == 2 * 10 * 7 - 2
    # not only within tolerance: unbiased to well below it (this seed: mean ~ -3e-5, max ~ 1e-4)
    values = np.array(list(errors.values()))
    assert abs(float(values.mean())) < 2e-4 and float(np.abs(values).max()) < 5e-4


def test_geometry_and_budget_recorded(scenario: Scenario) -> None:
    """ICD 4: g (signed), Phi, theta, phi, distances, E_k and the uncertainty budget per row."""
    with session_scope(scenario.settings) as session:
        rows = _rows_of_run(session, scenario.run_ids["initial"])
    for m, acq in rows:
        t = scenario.truth[acq.acq_id]
        geo = lunar_geometry(t.epoch, POS[Satellite(t.satellite)])
        assert m.phase_angle_deg == pytest.approx(geo.phase_angle_deg, abs=1e-9)
        assert m.sun_selenographic_lon_deg == pytest.approx(geo.sun_selenographic_lon_deg, abs=1e-9)
        assert m.obs_selenographic_lat_deg == pytest.approx(geo.observer_selenographic_lat_deg, abs=1e-9)
        assert m.d_obs_moon_km == pytest.approx(geo.d_obs_moon_km, rel=1e-12)
        if t.nominal is not None:
            assert math.copysign(1.0, m.phase_angle_deg) == math.copysign(1.0, t.nominal)  # waxing < 0
        if m.status == "rejected":
            continue
        budget = m.budget
        total = math.sqrt(sum(budget[k] ** 2 for k in ("noise", "background", "aperture", "geometry", "model")))
        assert budget["total"] == pytest.approx(total)
        assert m.a_sigma == pytest.approx(m.a * total)  # type: ignore[operator]
        # the ROLO model term follows the phase (1 % from 5 to 60 deg, more outside; issue 16), the
        # drift fit uses ROLO's 0.1 % temporal precision instead
        assert budget["model"] == pytest.approx(model_rel_sigma(m.phase_angle_deg)) and budget["model"] >= 0.01
        assert budget["model_temporal"] == pytest.approx(1e-3) and 0.0 < budget["noise"] < 1e-3
        assert budget["reference_model"] == "REF-1"
        assert m.irradiance_w_m2_um == pytest.approx(budget["irradiance_w_m2_um"])
        # S_k / o = G A E / Omega_pix (ICD 1.3), with the measured A
        assert m.signal_dn == pytest.approx(
            budget["gain_factor"] * m.a * m.irradiance_w_m2_um / (budget["pixscale_urad"] * 1e-6) ** 2, rel=1e-9
        )


# --------------------------------------------------------------------------- flags, rejections


def test_out_of_range_phase_flagged_and_kept_out_of_trends(scenario: Scenario) -> None:
    with session_scope(scenario.settings) as session:
        rows = _latest(session)
        flagged = [(m, a) for m, a in rows if scenario.truth[a.acq_id].nominal is None]
        assert len(flagged) == 2 * len(BANDS)
        for m, acq in flagged:
            g = abs(scenario.truth[acq.acq_id].phase_angle_deg)
            assert g < 2.0 or g > 90.0
            assert m.status == "flagged" and not m.in_trend and m.reason == FLAG_PHASE
            assert m.a is not None  # kept, with its value (REF-1 extrapolated: still the truth here)
            assert m.a == pytest.approx(scenario.truth[acq.acq_id].a_true[m.band], rel=TOL)
        for sat in SATS:
            for band in BANDS:
                drift = session.exec(
                    select(DriftResult)
                    .where(DriftResult.satellite == sat.value, DriftResult.band == band, DriftResult.method == "MOON")
                    .order_by(col(DriftResult.id).desc())
                ).first()
                assert drift is not None
                n_rejected = sum(1 for t in scenario.truth.values() if t.satellite == sat.value and band in t.rejected)
                n_lib = sum(1 for i in _libration_flagged(scenario) if scenario.truth[i].satellite == sat.value)
                assert drift.n_points == 10 - n_rejected - n_lib  # the flagged acquisitions are not in the trend
                slope = moon_phase_slope(session, sat.value, band)
                assert slope is not None and slope.n_points == drift.n_points
        doc = build_results(session)
    flagged_ids = {a.acq_id for _, a in flagged}
    moon_cal = [c for c in doc["calibration"] if c["method"] == "MOON"]
    assert moon_cal and not [c for c in moon_cal if c["satellite"] in ("PHR1A", "PHR1B")]
    epochs = {iso_utc(scenario.truth[i].epoch) for i in flagged_ids}
    assert len(epochs) == 2 and {c["epoch"] for c in moon_cal}.isdisjoint(epochs)  # none from a flagged one


def test_damaged_bands_rejected_with_reason(scenario: Scenario) -> None:
    with session_scope(scenario.settings) as session:
        rows = _latest(session)
        doc = build_results(session)
    rejected = {(a.acq_id, m.band): m for m, a in rows if m.status == "rejected"}
    expected = {(i, b): r for i, t in scenario.truth.items() for b, r in t.rejected.items()}
    assert {k: m.reason for k, m in rejected.items()} == expected
    for m in rejected.values():
        assert m.a is None and not m.in_trend and m.message
        assert m.phase_angle_deg is not None  # the geometry is kept for the record
    entries = {(e["acq_id"], e["band"]): e for e in doc["measurements"] if e["acq_id"] in scenario.truth}
    assert len(entries) == len(scenario.truth) * len(BANDS)
    for key, reason in expected.items():
        assert entries[key]["status"] == "rejected" and entries[key]["reason"] == reason
        assert entries[key]["a"] is None


# --------------------------------------------------------------------------- export, trends


def test_results_export_calibration_moon(scenario: Scenario) -> None:
    """ICD 5: one MOON calibration entry per acquisition and usable band, A within 0.1 % of truth."""
    with session_scope(scenario.settings) as session:
        doc = build_results(session)
        pneo3_only = build_results(session, satellite="PNEO3", band="NIR")
    assert doc["icd"] == "ICD-1" and doc["reference_model"] == "REF-1"
    moon = [c for c in doc["calibration"] if c["method"] == "MOON"]
    by_epoch = {(t.satellite, iso_utc(t.epoch)): t for t in scenario.truth.values()}
    assert len(moon) == 2 * 10 * 7 - 2 - 7 * len(_libration_flagged(scenario))  # flagged: no calibration entry
    for c in moon:
        t = by_epoch[(c["satellite"], c["epoch"])]
        assert c["n"] == 1 and c["starpool"] is None and c["a_sigma"] > 0
        assert abs(c["a"] / t.a_true[c["band"]] - 1.0) < TOL
    assert {(c["satellite"], c["band"]) for c in pneo3_only["calibration"]} == {("PNEO3", "NIR")}
    drift = {(d["satellite"], d["band"]): d for d in doc["drift"] if d["method"] == "MOON"}
    assert set(drift) == {(s.value, b) for s in SATS for b in BANDS}


def test_drift_per_satellite_and_band(scenario: Scenario) -> None:
    """Six months apart, 8-10 points: the fitted dA/A per year agrees with the truth."""
    with session_scope(scenario.settings) as session:
        fits = session.exec(
            select(DriftResult).where(DriftResult.method == "MOON", DriftResult.run_id == scenario.run_ids["initial"])
        ).all()
        alerts = session.exec(select(Alert).where(Alert.method == "MOON")).all()
    assert len(fits) == 2 * 7 and {f.model for f in fits} == {"linear"}
    for f in fits:
        assert abs(f.rate_per_year - RATE) < max(3.0 * f.rate_sigma, 1e-3), (f.satellite, f.band, f.rate_per_year)
        assert f.rate_sigma < 0.005
        a_ref = _a_true(Satellite(f.satellite), f.band, f.reference_epoch.replace(tzinfo=UTC))
        assert f.a0 == pytest.approx(a_ref, rel=TOL)
    assert alerts == []  # errors far below the 1e-3 sigmas, drift below 2 %/year


def test_phase_slope_and_pneo_ratio(scenario: Scenario) -> None:
    """No phase error in the truth: slope consistent with 0; PNEO3/PNEO4 ratio = 1/1.03."""
    true_ratio = SATELLITE_A_FACTOR[Satellite.PNEO3] / SATELLITE_A_FACTOR[Satellite.PNEO4]
    with session_scope(scenario.settings) as session:
        for sat in SATS:
            for band in BANDS:
                slope = moon_phase_slope(session, sat.value, band)
                assert slope is not None
                # 80 deg x slope: below 0.05 % over the whole phase range
                assert abs(slope.slope_per_deg) * 80.0 < 5e-4, (sat, band, slope)
        for band in BANDS:
            ratio = pneo_ratio(session, scenario.settings, band)
            assert ratio is not None
            n_damaged = sum(1 for t in scenario.truth.values() if band in t.rejected)
            # every in-range PNEO3 acquisition has a PNEO4 twin; a pair with a libration-flagged member is lost
            assert ratio.n_pairs == 10 - n_damaged - len(_libration_flagged(scenario))
            assert abs(ratio.ratio / true_ratio - 1.0) < 2e-4, (band, ratio.ratio, true_ratio)
            assert 0.0 < ratio.ratio_sigma < 2e-4


# --------------------------------------------------------------------------- incremental


def test_processing_is_idempotent_and_reprocess_appends(scenario: Scenario) -> None:
    first, again, re = (scenario.summaries[k] for k in ("initial", "again", "reprocess"))
    assert first.acquisitions == len(scenario.truth) == re.acquisitions
    n_lib = len(_libration_flagged(scenario))
    assert first.bands_rejected == 2 and first.bands_flagged == 14 + 7 * n_lib
    assert first.bands_ok == len(scenario.truth) * 7 - 16 - 7 * n_lib
    assert again.acquisitions == 0 and again.drift_fits == 0
    assert scenario.counts["again"] == scenario.counts["initial"]
    rows0, drift0, _ = scenario.counts["initial"]
    rows2, drift2, _ = scenario.counts["reprocess"]
    assert rows2 == 2 * rows0 and drift2 == 2 * drift0  # append-only: new rows, old ones kept
    with session_scope(scenario.settings) as session:
        old = {(a.acq_id, m.band): m.a for m, a in _rows_of_run(session, scenario.run_ids["initial"])}
        new = {(a.acq_id, m.band): m.a for m, a in _rows_of_run(session, scenario.run_ids["reprocess"])}
    assert new == old  # deterministic: the same files give the same numbers
    # timing: the measurement stage of 22 acquisitions x 7 bands (~100 x 200 px binned images)
    assert first.seconds / first.acquisitions < 2.0


# --------------------------------------------------------------------------- campaign simulator


def test_campaign_moon_files_follow_ref1_and_process(tmp_path: Path) -> None:
    """``monitor simulate`` MOON files: they ingest cleanly, their E_k is exactly the REF-1 value the
    system computes from DATE-OBS and SC_POS, and A_k comes back within 0.1 % of the truth."""
    settings = load_settings(tmp_path / "site", env={"MONITOR_INGEST_SETTLE_SECONDS": "0"})
    init_site(settings)
    truth = simulate_campaigns(
        settings.inbox,
        start=datetime(2025, 1, 1, tzinfo=UTC),
        months=2,
        seed=5,
        satellites=["PNEO3", "PNEO4"],
        stars_per_campaign=0,
        moon_per_month=1,
        geom_per_month=0,
        bad_files=False,
    )
    files = {f.acq_id: f for f in truth.files}
    assert len(files) == 4 and {f.type for f in files.values()} == {"MOON"}
    with session_scope(settings) as session:
        ingest = run_ingest(session, settings, utc_now())
        assert sorted(ingest.ingested) == sorted(files) and not ingest.rejected
        run_processing(session, settings, utc_now())
        rows = _latest(session)
    assert len(rows) == 4 * len(BANDS)
    for m, acq in rows:
        f = files[acq.acq_id]
        bt = f.bands[m.band]
        assert m.phase_angle_deg == pytest.approx(f.extra["phase_angle_deg"], abs=1e-9)
        assert m.irradiance_w_m2_um == pytest.approx(bt.e_k, rel=1e-12)
        assert m.status == "ok", (acq.acq_id, m.band, m.message)
        assert abs(m.a / bt.a_true - 1.0) < TOL, (acq.acq_id, m.band)  # type: ignore[operator]
