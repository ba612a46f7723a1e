"""End-to-end tests of the star method: simulator -> inbox -> ingest -> processing -> results.

One scenario (module fixture, real SQLite catalogue in a temporary site) is run step by step and
every step is recorded; the tests then check the records against the simulator's truth:

1. campaigns C1 (2024-01, with the simulator's bad files and a few injected defects) and
   C2 (2025-01) are ingested and processed;
2. processing again does nothing;
3. a new month C3 (2026-01) is delivered: only its acquisitions are measured and only its
   starpool gets results;
4. late data for C1 arrive: C1 gets a new result version, the old one is kept;
5. ``--reprocess``: a new version of every starpool result.

The true calibration drifts by ``DRIFT_PER_YEAR`` (blue band 1.5 times faster, as in the
simulator), so three campaigns two years apart give an end-to-end drift check; the 0.1 %/year
drift accuracy over 2 years and 6 campaigns is checked on a starpool history built with the
science functions (``test_drift_rate_two_years_six_campaigns``), which needs no FITS files.

Only PHR1A, no MOON/GEOM files, 20 stars per campaign: the module runs in about a minute on 2 cores,
most of it in the starpool PSF fits (15 + 5 + 5 + 15 of them).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits
from sqlmodel import Session, col, func, select

from monitor.calibration.service import run_processing
from monitor.calibration.star import StarSummary
from monitor.calibration.star_photometry import campaign_period
from monitor.catalogue import star_results
from monitor.catalogue.models import (
    Acquisition,
    DriftResult,
    StarPhotometry,
    Starpool,
    StarpoolResult,
    StarWindow,
)
from monitor.domain import BANDS_BY_MISSION, BandHeader, Mission, Satellite
from monitor.ingest.service import run_ingest
from monitor.io.reference_data import load_johnson_v, load_rsr, load_star_catalogue
from monitor.results import build_results, star_traces
from monitor.science.constants import SECONDS_PER_YEAR
from monitor.science.drift import fit_drift
from monitor.science.encircled_energy import encircled_energy_square_mean
from monitor.science.instrument import E_PER_DN_REFERENCE, READ_NOISE_DN, SATURATE_DN, pixscale_urad
from monitor.science.photometry import a_coefficient, a_coefficient_sigma, measure_star
from monitor.science.psf_renderer import render_star
from monitor.science.star_reference import is_calibration_star, star_band_irradiance_w_m2_um
from monitor.science.starpool import combine_starpool
from monitor.settings import Settings, load_settings
from monitor.simulate.campaign import BAND_DRIFT_FACTOR, DEFAULT_A0, SATELLITE_A_FACTOR, simulate_campaigns
from monitor.simulate.star import default_psf_params, default_vignette_shape, simulate_star_vignette
from monitor.simulate.truth import SimulationTruth
from monitor.site import init_site, session_scope, utc_now

SAT = Satellite.PHR1A
MISSION = Mission.PHR
BANDS = BANDS_BY_MISSION[MISSION]
T0 = datetime(2024, 1, 1, tzinfo=UTC)  # reference epoch of the true A_k(t)
DRIFT_PER_YEAR = -0.03  # true dA/A per year (PAN, red, NIR; B0 x1.5, B1 x1.1: BAND_DRIFT_FACTOR)
LATE = 4  # late acquisitions delivered for the first month
STARS = 20  # per campaign (the brief's ~25; 20 keeps the PSF fits of the module under a minute)
# Campaign starts: two years apart in total so that three starpools constrain a drift.
C1, C2, C3 = T0, datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)


def _true_rate(band: str) -> float:
    return DRIFT_PER_YEAR * BAND_DRIFT_FACTOR.get(band, 1.0)


def _years(t: datetime) -> float:
    return (t - T0).total_seconds() / SECONDS_PER_YEAR


def _campaign(inbox: Path, start: datetime, seed: int, n: int, *, bad_files: bool = False) -> SimulationTruth:
    """One monthly campaign of PHR1A starting at ``start`` on the global truth A_k(t) = A0 (1 + r (t - T0)).

    The simulator's truth starts at its own ``start``: A0 is passed at that epoch through
    ``truth_a`` (the relative rate then differs from the global one by r^2 * 1 month, < 1e-4 of
    A: negligible). The tests use the per-file ``a_true`` of the truth anyway.
    """
    truth_a = {
        SAT.value: {
            b: DEFAULT_A0[MISSION][b] * SATELLITE_A_FACTOR[SAT] * (1.0 + _true_rate(b) * _years(start)) for b in BANDS
        }
    }
    return simulate_campaigns(
        inbox, start=start, months=1, seed=seed, satellites=[SAT], stars_per_campaign=n, moon_per_month=0,
        geom_per_month=0, bad_files=bad_files, truth_a=truth_a, drift_per_year=DRIFT_PER_YEAR,
        # Saturating set-ups: 20 % of the acquisitions (default 3 %), and stars up to V = 4.5 so
        # that the gain range (GAINFACT <= 4) can reach saturation: ~1 saturated band per campaign.
        saturated_fraction=0.2, v_range=(2.0, 4.5),
    )


# --------------------------------------------------------------------------- injected defects


def _injectable(truth: SimulationTruth, settings: Settings, used: set[str]) -> tuple[str, Path]:
    """A valid, unsaturated float32 uncompressed STAR file not used by another injection."""
    ids = Counter(f.acq_id for f in truth.files)
    for f in truth.files:
        if (f.type == "STAR" and ids[f.acq_id] == 1  # not the original of the duplicate/conflict files
                and f.kind == "valid" and f.status == "ok" and f.file.endswith(".fits")
                and f.acq_id not in used and all(b.reason is None for b in f.bands.values())):
            path = settings.inbox / f.file
            with fits.open(path) as hd:
                if all(hd[b].header["BITPIX"] == -32 for b in BANDS):
                    assert f.acq_id is not None
                    used.add(f.acq_id)
                    return f.acq_id, path
    raise AssertionError("no injectable file")


def _inject_defects(truth: SimulationTruth, settings: Settings) -> dict[str, tuple[str, str]]:
    """Damage four files of C1 before ingest; returns {kind: (acq_id, band)}.

    - ``nan-core``: the B1 pixel next to the star's pixel is NaN -> every window holds a NaN;
    - ``nan-far``: one P pixel 10 columns from the star is NaN -> windows h >= 12 are hit, h <= 8 not;
    - ``edge``: P image rolled so that the star is in column 57 (STARX moved with it) -> windows
      h >= 8 cut by the edge, h <= 5 not;
    - ``off-centre``: B2 ``STARX`` 15 px off (ICD promises +-3 px) -> star not found where predicted.
    """
    used: set[str] = set()
    by_id = {f.acq_id: f for f in truth.files if f.status == "ok"}
    out: dict[str, tuple[str, str]] = {}
    acq, path = _injectable(truth, settings, used)
    x, y = by_id[acq].bands["B1"].star_x, by_id[acq].bands["B1"].star_y
    with fits.open(path, mode="update") as hd:
        hd["B1"].data[int(round(y)), int(round(x)) + 1] = np.nan
    out["nan-core"] = (acq, "B1")
    acq, path = _injectable(truth, settings, used)
    x, y = by_id[acq].bands["P"].star_x, by_id[acq].bands["P"].star_y
    with fits.open(path, mode="update") as hd:
        hd["P"].data[int(round(y)), int(round(x)) + 10] = np.nan
    out["nan-far"] = (acq, "P")
    acq, path = _injectable(truth, settings, used)
    shift = 57 - int(round(by_id[acq].bands["P"].star_x))  # star to column 57 of 0..63
    with fits.open(path, mode="update") as hd:
        hd["P"].data = np.roll(hd["P"].data, shift, axis=1)
        hd["P"].header["STARX"] = float(hd["P"].header["STARX"]) + shift
    out["edge"] = (acq, "P")
    acq, path = _injectable(truth, settings, used)
    with fits.open(path, mode="update") as hd:
        hd["B2"].header["STARX"] = float(hd["B2"].header["STARX"]) + 15.0
    out["off-centre"] = (acq, "B2")
    return out


# --------------------------------------------------------------------------- scenario


@dataclass
class Step:
    summary: StarSummary
    n_photometry_rows: int
    measured_acq_ids: set[str]  # acquisitions photometered by this step's run
    versions: dict[tuple[str, str], list[int]]  # (period_key, band) -> result versions
    n_drift_rows: int


@dataclass
class Scenario:
    settings: Settings
    truths: list[SimulationTruth]
    injected: dict[str, tuple[str, str]]
    steps: dict[str, Step] = field(default_factory=dict)

    @functools.cached_property
    def files(self) -> dict[str, Any]:
        return {f.acq_id: f for t in self.truths for f in t.files if f.acq_id and f.status == "ok"}

    def key(self, start: datetime) -> str:
        return f"{SAT.value}-{campaign_period(start, 'month')[0]}"


def _snapshot(session: Session, summary: StarSummary, run_id: int | None) -> Step:
    versions: dict[tuple[str, str], list[int]] = {}
    for res, pool in session.exec(select(StarpoolResult, Starpool).join(Starpool)).all():
        versions.setdefault((pool.period_key, res.band), []).append(res.version)
    measured = {
        acq.acq_id
        for acq in session.exec(select(Acquisition).join(
            StarPhotometry, col(StarPhotometry.acquisition_id) == col(Acquisition.id)).where(
            StarPhotometry.run_id == run_id))
    }
    return Step(
        summary=summary,
        n_photometry_rows=session.exec(select(func.count()).select_from(StarPhotometry)).one(),
        measured_acq_ids=measured,
        versions={k: sorted(v) for k, v in versions.items()},
        n_drift_rows=session.exec(select(func.count()).select_from(DriftResult)).one(),
    )


def _ingest_and_process(sc: Scenario, name: str, *, reprocess: bool = False, ingest: bool = True) -> None:
    with session_scope(sc.settings) as session:
        if ingest:
            run_ingest(session, sc.settings, utc_now())
        out = run_processing(session, sc.settings, utc_now(), reprocess=reprocess)
        sc.steps[name] = _snapshot(session, out.parts["star"], out.run_id)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    root = tmp_path_factory.mktemp("star_pipeline")
    settings = load_settings(root / "site", env={"MONITOR_INGEST_SETTLE_SECONDS": "0"})
    init_site(settings)
    t1 = _campaign(settings.inbox, C1, seed=11, n=STARS, bad_files=True)
    t2 = _campaign(settings.inbox, C2, seed=12, n=STARS)
    sc = Scenario(settings, [t1, t2], _inject_defects(t1, settings))
    _ingest_and_process(sc, "initial")
    _ingest_and_process(sc, "again")
    sc.truths.append(_campaign(settings.inbox, C3, seed=13, n=STARS))
    _ingest_and_process(sc, "new_month")
    sc.truths.append(_campaign(settings.inbox, C1, seed=14, n=LATE))  # late data for the C1 month
    _ingest_and_process(sc, "late")
    _ingest_and_process(sc, "reprocess", reprocess=True, ingest=False)
    return sc


def _latest_results(sc: Scenario) -> list[tuple[StarpoolResult, Starpool]]:
    with session_scope(sc.settings) as session:
        return [r for b in BANDS for r in star_results.latest_starpool_results(session, SAT.value, b)]


# --------------------------------------------------------------------------- truth-side expectations


@functools.cache
def _noiseless_ratio(band: str, oversamp: int) -> tuple[float, ...]:
    """Expected window sum / S_k of the photometry for a noiseless truth-PSF star, per window.

    It is the truth-PSF encircled energy of the window minus the PSF wing that falls in the
    background region (``measure_star`` subtracts it with the background; about 0.3 % of the
    flux for PAN at h = 20). Averaged over 4 sub-pixel phases (fixed seed).
    """
    rng = np.random.default_rng(5)
    psf = default_psf_params(MISSION.value, band)
    shape = default_vignette_shape(MISSION.value, band, oversamp)
    rows, cols = shape
    hws = (2, 3, 5, 8, 12, 20)
    out = []
    for _ in range(4):
        c = ((cols - 1) / 2 + rng.uniform(-1.5, 1.5), (rows - 1) / 2 + rng.uniform(-1.5, 1.5) * oversamp)
        img = 30.0 + render_star(shape, c, psf, oversamp=float(oversamp), total_flux=1e5 / oversamp)
        hdr = BandHeader(band=band, shape=shape, dark_dn=30.0, gain_factor=1.0, oversamp=float(oversamp), binning=1,
                         pixscale_urad=1.0, lineper_ms=0.1, saturate_dn=1e12, star_x=c[0], star_y=c[1])
        ph = measure_star(img, hdr, hws)
        out.append(ph.sums_dn / 1e5)
    return tuple(float(v) for v in np.mean(out, axis=0))


def _expected_ratio(sc: Scenario, band: str, h: int, acq_ids: list[str]) -> float:
    hws = (2, 3, 5, 8, 12, 20)
    return float(np.mean([_noiseless_ratio(band, int(sc.files[a].oversamp))[hws.index(h)] for a in acq_ids]))


def _truth_a(sc: Scenario, band: str, acq_ids: list[str]) -> float:
    return float(np.mean([sc.files[a].bands[band].a_true for a in acq_ids]))


def test_noiseless_photometry_matches_truth_psf_encircled_energy() -> None:
    """The expected EE = 1 bias used below is the truth PSF's EE (psf.encircled_energy_square_mean)
    less the wing inside the background region: 0 to 0.45 % of the flux (PAN, h = 20, r_in ~ 26 px:
    the r^-3 wing ~ 2 lambda N / (pi^2 (1 - eps)) / (2 pi r^3) per pixel times the window area)."""
    for band in BANDS:
        for o in (1, 3):
            got = np.array(_noiseless_ratio(band, o))
            ee = encircled_energy_square_mean([2, 3, 5, 8, 12, 20], default_psf_params(MISSION.value, band), o)
            fits_in = [0, 1, 2, 3, 4, 5] if band == "P" else [0, 1, 2, 3, 4]  # MS h = 20 is cut by the 32-px vignette
            diff = got[fits_in] - ee[fits_in]
            assert np.all(diff <= 1e-4), (band, o, diff)
            assert np.all(diff >= -0.0045), (band, o, diff)


# --------------------------------------------------------------------------- accuracy vs truth


@pytest.mark.slow
def test_starpool_a_k_against_truth(scenario: Scenario) -> None:
    """Reported A_k per starpool and band against the truth (mean true A_k of the stars used).

    With the PSF-fit EE correction (``ee_source`` "psf-fit ..."): within 0.3 % (ICD target) or
    3 sigma if larger, and the 3-pool mean per band within 0.3 % or 2 sigma. Without it
    (``ee_source`` "none ..."): the largest window with EE = 1, biased low as the truth PSF says.
    """
    results = _latest_results(scenario)
    assert len(results) == 3 * len(BANDS)
    pooled: dict[str, list[tuple[float, float, float]]] = {}
    for res, pool in results:
        used = [a for a, s in res.per_star.items() if s["used"]]
        assert res.n_used == len(used) >= STARS - 5
        truth = _truth_a(scenario, res.band, used)
        ratio, sigma = res.a / truth, res.a_sigma / truth
        if res.ee_source.startswith("none"):
            # EE = 1 at the largest usable window (PAN h = 20; MS h = 12: h = 20 is cut by the
            # 32-px vignette): biased low by the light outside the window.
            assert res.half_width_px == (20 if res.band == "P" else 12)
            expected = _expected_ratio(scenario, res.band, res.half_width_px, used)
            # Tolerance: 3.5 sigma of the starpool estimate (its pull width is ~1, starpool.py)
            # plus 0.1 % for the spread of the truth PSF's EE with sub-pixel phase.
            assert abs(ratio - expected) <= 3.5 * sigma + 0.001, (pool.period_key, res.band, ratio, expected, sigma)
        else:
            assert res.ee_source.startswith("psf-fit")
            # PSF-based EE correction: ICD target 0.3 % per starpool, or 3 sigma if that is larger.
            expected = 1.0
            assert abs(ratio - 1.0) <= math.hypot(0.003, 3 * sigma), (pool.period_key, res.band, ratio, sigma)
        pooled.setdefault(res.band, []).append((ratio, sigma, expected))
    for band, vals in pooled.items():
        r, s, e = (np.array(v) for v in zip(*vals, strict=True))
        w = 1 / s**2
        mean, sig = float(w @ r / w.sum()), float(1 / math.sqrt(w.sum()))
        if np.all(e == 1.0):
            assert abs(mean - 1.0) <= max(0.003, 2 * sig), (band, mean, sig)
        else:
            assert abs(mean - float(np.mean(e))) <= 3 * sig + 0.001, (band, mean, sig)


@pytest.mark.slow
def test_uncorrected_largest_window_bias(scenario: Scenario) -> None:
    """The stored per-window A_k (EE = 1) of the largest usable window is biased low by the light
    outside the window: by the truth PSF's EE (psf.encircled_energy_square_mean), less the wing
    in the background region (see test_noiseless_photometry_matches_truth_psf_encircled_energy)."""
    with session_scope(scenario.settings) as session:
        last_run = session.exec(select(func.max(StarPhotometry.run_id))).one()
        rows = session.exec(
            select(StarWindow, StarPhotometry, Acquisition)
            .join(StarPhotometry, col(StarPhotometry.id) == col(StarWindow.photometry_id))
            .join(Acquisition, col(Acquisition.id) == col(StarPhotometry.acquisition_id))
            .where(StarPhotometry.run_id == last_run, StarPhotometry.status == "ok")
        ).all()
    for band in BANDS:
        h = 20 if band == "P" else 12
        sel = [(w.a / scenario.files[acq.acq_id].bands[band].a_true, acq.acq_id) for w, p, acq in rows
               if p.band == band and w.half_width_px == h and w.a is not None]
        assert len(sel) >= 3 * STARS - 8
        ratios = np.array([r for r, _ in sel])
        # Robust mean: the per-star scatter at the largest window is 1-10 % (background noise);
        # sigma of the median ~ 1.25 * std / sqrt(n).
        med = float(np.median(ratios))
        sig = 1.2533 * 1.4826 * float(np.median(np.abs(ratios - med))) / math.sqrt(ratios.size)
        expected = _expected_ratio(scenario, band, h, [a for _, a in sel])
        assert abs(med - expected) <= 3 * sig + 0.001, (band, med, expected, sig)
        if band == "P":
            # PAN loses ~1.5 % outside h = 20 (r^-3 wings); > 3 sigma of the 60-star median.
            assert med + 2 * sig < 1.0, (med, sig)


@pytest.mark.slow
def test_rejected_measurements_never_averaged(scenario: Scenario) -> None:
    results = {(p.period_key, r.band): r for r, p in _latest_results(scenario)}
    key1 = scenario.key(C1)
    # Saturated bands per the truth (the simulator flags any native pixel >= SATURATE).
    saturated = {(a, b) for a, f in scenario.files.items() for b, t in f.bands.items() if t.reason == "saturated"}
    assert saturated, "the scenario must contain saturated bands"
    for acq, band in saturated:
        pool = scenario.key(scenario.files[acq].epoch)
        res = results[(pool, band)]
        assert res.per_star[acq]["used"] is False
        assert {"acq_id": acq, "reason": "saturated"}.items() <= next(
            r for r in res.rejected if r["acq_id"] == acq).items()
    # No band flagged by the photometry as saturated unless the truth says so.
    for (_pool, band), res in results.items():
        for r in res.rejected:
            if r["reason"] == "saturated":
                assert (r["acq_id"], band) in saturated
    inj = scenario.injected
    acq, band = inj["nan-core"]
    res = results[(key1, band)]
    assert next(r for r in res.rejected if r["acq_id"] == acq)["reason"] == "nan-in-window"
    assert res.per_star[acq]["used"] is False and res.per_star[acq]["a"] is None
    acq, band = inj["off-centre"]
    res = results[(key1, band)]
    assert next(r for r in res.rejected if r["acq_id"] == acq)["reason"] == "off-centre"
    assert res.per_star[acq]["used"] is False
    # NaN far from the star / star near the edge: the measurement is kept, the hit windows are not.
    res = results[(key1, "P")]
    for kind, first_hit in (("nan-far", 12), ("edge", 8)):
        acq, _ = inj[kind]
        assert acq not in {r["acq_id"] for r in res.rejected}
        if res.half_width_px >= first_hit:
            assert res.per_star[acq]["a"] is None and res.per_star[acq]["used"] is False
        else:
            assert res.per_star[acq]["a"] is not None
    assert res.per_window["5"]["n"] >= res.per_window["20"]["n"] + 2
    with session_scope(scenario.settings) as session:
        traces = [dataclasses.asdict(p) for p in star_traces(session, SAT.value, "P")]
    usable = {(t["acq_id"], t["half_width_px"]): t["usable"] for t in traces}
    acq = inj["nan-far"][0]
    assert [usable[(acq, h)] for h in (2, 3, 5, 8, 12, 20)] == [True, True, True, True, False, False]
    acq = inj["edge"][0]
    assert [usable[(acq, h)] for h in (2, 3, 5, 8, 12, 20)] == [True, True, True, False, False, False]
    # MS windows h = 20 never fit the 32-px vignette: never averaged in.
    for (_, band), res in results.items():
        if band != "P":
            assert res.per_window["20"]["a"] is None


# --------------------------------------------------------------------------- incremental behaviour


@pytest.mark.slow
def test_incremental_processing(scenario: Scenario) -> None:
    s = scenario.steps
    k1, k2, k3 = scenario.key(C1), scenario.key(C2), scenario.key(C3)
    # Initial: both campaigns measured (bad files never reach the photometry).
    n_initial = len(s["initial"].measured_acq_ids)
    assert n_initial == s["initial"].summary.photometry
    # The bad files never reach the photometry; the all-NaN-band file does only if the ingest
    # keeps it (it refuses it whole today, see test_results_export).
    assert n_initial in (2 * STARS, 2 * STARS + 1)
    assert sorted(s["initial"].summary.starpools) == [k1, k2]
    assert s["initial"].versions == {(k, b): [1] for k in (k1, k2) for b in BANDS}
    # Again: nothing new.
    assert s["again"].summary.photometry == 0 and s["again"].summary.starpools == []
    assert s["again"].measured_acq_ids == set()
    assert s["again"].versions == s["initial"].versions
    assert s["again"].n_photometry_rows == s["initial"].n_photometry_rows
    assert s["again"].n_drift_rows == s["initial"].n_drift_rows
    # New month: only its acquisitions, only its starpool.
    new_ids = {f.acq_id for f in scenario.truths[2].files if f.type == "STAR"}
    assert s["new_month"].measured_acq_ids == new_ids
    assert s["new_month"].summary.starpools == [k3]
    assert s["new_month"].versions == {**s["initial"].versions, **{(k3, b): [1] for b in BANDS}}
    assert s["new_month"].n_drift_rows > s["again"].n_drift_rows
    # Late data for C1: a new version of C1 only, the old version is kept.
    late_ids = {f.acq_id for f in scenario.truths[3].files if f.type == "STAR"}
    assert s["late"].measured_acq_ids == late_ids
    assert s["late"].summary.starpools == [k1]
    assert s["late"].versions == {**s["new_month"].versions, **{(k1, b): [1, 2] for b in BANDS}}
    with session_scope(scenario.settings) as session:
        rows = session.exec(select(StarpoolResult).join(Starpool).where(
            Starpool.period_key == k1, StarpoolResult.band == "P").order_by(StarpoolResult.version)).all()
    assert len(rows[1].acquisition_ids) == len(rows[0].acquisition_ids) + LATE
    # Reprocess: every acquisition measured again, a new version of every starpool result.
    all_star = {a for a in scenario.files if scenario.files[a].type == "STAR"}
    measured_before = s["initial"].measured_acq_ids | new_ids | late_ids
    assert s["reprocess"].measured_acq_ids == measured_before and measured_before <= all_star
    assert sorted(s["reprocess"].summary.starpools) == sorted([k1, k2, k3])
    expected = {k: [*v, v[-1] + 1] for k, v in s["late"].versions.items()}
    assert s["reprocess"].versions == expected


# --------------------------------------------------------------------------- drift


@pytest.mark.slow
def test_drift_end_to_end(scenario: Scenario) -> None:
    """Three starpools over two years (largest window, EE = 1): the fitted rate agrees with the
    truth within 3 sigma. PAN's sigma is small enough (< 1.5 %/yr) for the -3 %/yr drift to show;
    the MS bands at h = 12 on 32-px vignettes scatter by 3-10 % per star (sigma ~4 %/yr)."""
    with session_scope(scenario.settings) as session:
        doc = build_results(session)
        for band in BANDS:
            fit = session.exec(select(DriftResult).where(  # the drift of A_k, not of the MTF (quantity mtf_*)
                DriftResult.satellite == SAT.value, DriftResult.band == band, DriftResult.model == "linear",
                DriftResult.quantity == "a",
            ).order_by(col(DriftResult.id).desc())).first()
            assert fit is not None and fit.n_points == 3
            ref = _years(fit.reference_epoch)
            truth = _true_rate(band) / (1.0 + _true_rate(band) * ref)  # dA/A at the fit's reference epoch
            if band == "P":
                assert fit.rate_sigma < 0.015, (band, fit.rate_sigma)
            assert abs(fit.rate_per_year - truth) <= 3 * fit.rate_sigma, (band, fit.rate_per_year, truth)
            entries = [d for d in doc["drift"] if d["band"] == band]
            assert len(entries) == 1 and entries[0]["method"] == "STAR" and entries[0]["satellite"] == SAT.value
            assert abs(entries[0]["rate_per_year"] - truth) <= 3 * entries[0]["rate_sigma"]


def test_drift_rate_two_years_six_campaigns() -> None:
    """Starpool history built with the science functions (simulator vignettes -> measure_star ->
    combine_starpool -> fit_drift): 6 campaigns of 40 stars over 2 years, PAN (the MS bands are
    noisier: B0 gives a rate sigma ~0.2 %/yr with the same set-up).

    Window h = 3 without EE correction: its EE is constant in time (the truth PSF does not
    change), so it cancels in the relative rate, and at h = 3 the per-star noise is ~0.3 %
    (pool ~0.06 %); the campaign-to-campaign scatter (Birge ratio up to ~1.6) brings the rate sigma
    to 0.04-0.07 %/yr: the 0.1 %/yr requirement is met at only ~1.5-2.5 sigma with 6 campaigns.
    """
    rng = np.random.default_rng(2024)
    cat = load_star_catalogue()
    ok = np.flatnonzero(is_calibration_star(cat.v_mag, cat.b_v) & (cat.v_mag >= 2.0) & (cat.v_mag <= 5.0))
    stars = rng.choice(ok, size=40, replace=False)
    vband = load_johnson_v()
    h = 3
    for band in ("P",):
        rsr = load_rsr(MISSION, band)
        e_k = star_band_irradiance_w_m2_um(cat.v_mag[stars], cat.b_v[stars], rsr.wavelength_nm, rsr.values,
                                           vband.wavelength_nm, vband.values)
        psf = default_psf_params(MISSION.value, band)
        omega = (pixscale_urad(MISSION, band) * 1e-6) ** 2
        peak = float(render_star((15, 15), (7.0, 7.0), psf, 1.0, 1.0).max())
        a0 = DEFAULT_A0[MISSION][band]
        epochs, a_pool, s_pool = [], [], []
        for k in range(6):
            t = T0 + timedelta(days=146.0 * k + float(rng.uniform(0, 3)))
            a_t = a0 * (1.0 + _true_rate(band) * _years(t))
            a_star, s_star = [], []
            for e in e_k:
                o = int(rng.integers(1, 5))
                s_unit = a_t * e / omega
                gain = float(np.clip(0.5 * 4000.0 / (s_unit * peak), 1.0, 4.0))
                shape = default_vignette_shape(MISSION.value, band, o)
                c = ((shape[1] - 1) / 2 + rng.uniform(-1.5, 1.5), (shape[0] - 1) / 2 + rng.uniform(-1.5, 1.5) * o)
                img = simulate_star_vignette(rng, total_signal_dn=o * gain * s_unit, shape=shape, center_xy=c,
                                             oversamp=o, psf=psf, dark_dn=40.0,
                                             gain_e_per_dn=E_PER_DN_REFERENCE[MISSION] / gain,
                                             read_noise_dn=READ_NOISE_DN, background_dn=2.0, saturate_dn=SATURATE_DN)
                hdr = BandHeader(band=band, shape=shape, dark_dn=40.0, gain_factor=gain, oversamp=float(o),
                                 binning=1, pixscale_urad=pixscale_urad(MISSION, band), lineper_ms=0.1,
                                 saturate_dn=SATURATE_DN, star_x=c[0] + 1.0, star_y=c[1] - 1.0)
                ph = measure_star(img, hdr, (h,), gain_e_per_dn=E_PER_DN_REFERENCE[MISSION] / gain)
                assert not ph.saturated and not ph.off_centre
                a = a_coefficient(ph.sums_dn, o, gain, e, omega)
                a_star.append(float(a[0]))
                s_star.append(float(a_coefficient_sigma(a, ph.sums_dn, ph.sigmas_dn)[0]))
            est = combine_starpool(a_star, s_star, list(range(len(a_star))))
            epochs.append(_years(t))
            a_pool.append(est.a)
            s_pool.append(est.a_sigma)
        fit = fit_drift(np.array(epochs), np.array(a_pool), np.array(s_pool))
        truth = _true_rate(band) / (1.0 + _true_rate(band) * fit.reference_time_years)
        assert fit.rate_sigma_per_year < 0.0008, (band, fit.rate_sigma_per_year)
        assert abs(fit.rate_per_year - truth) < 0.001, (band, fit.rate_per_year, truth)


# --------------------------------------------------------------------------- exports


@pytest.mark.slow
def test_results_export(scenario: Scenario) -> None:
    with session_scope(scenario.settings) as session:
        doc = build_results(session)
    latest = {(p.period_key, r.band): r for r, p in _latest_results(scenario)}
    cal = [c for c in doc["calibration"] if c["method"] == "STAR"]
    assert {(c["starpool"], c["band"]) for c in cal} == set(latest)
    assert len(cal) == len(latest)
    for c in cal:
        r = latest[(c["starpool"], c["band"])]
        assert c["satellite"] == SAT.value and c["a"] == r.a and c["a_sigma"] == r.a_sigma and c["n"] == r.n_used
        assert c["epoch"].endswith("Z")
    assert {d["band"] for d in doc["drift"]} == set(BANDS)
    with session_scope(scenario.settings) as session:
        linear = {
            d.band: d for d in session.exec(select(DriftResult).where(
                DriftResult.satellite == SAT.value, DriftResult.quantity == "a", DriftResult.model == "linear")
            ).all()
        }
    for d in doc["drift"]:  # the export carries the primary fit (issue 14), the linear one beside, never exponential
        if d["model"] == "star-offsets":
            assert d["drift_starpool_mean"]["rate_per_year"] == linear[d["band"]].rate_per_year
        else:
            assert d["model"] == "linear" and d["drift_starpool_mean"] is None
            assert d["rate_per_year"] == linear[d["band"]].rate_per_year
    # per-measurement A_k is the EE-corrected value of the starpool result that used it
    per_star = {(a, r.band): v for r in latest.values() for a, v in r.per_star.items()}
    checked = 0
    for m in doc["measurements"]:
        if m["band"] is not None and m["status"] == "ok" and (m["acq_id"], m["band"]) in per_star:
            assert m["a"] == per_star[(m["acq_id"], m["band"])]["a"]
            checked += 1
    assert checked > 50
    # Measurements: one per acquisition and band, and one per refused file.
    meas = doc["measurements"]
    per_band = {(m["acq_id"], m["band"]): m for m in meas if m["band"] is not None}
    for acq, f in scenario.files.items():
        if f.type != "STAR" or (acq, "P") not in per_band:
            continue
        for band, t in f.bands.items():
            m = per_band[(acq, band)]
            if t.reason == "saturated":
                assert (m["status"], m["reason"]) == ("rejected", "saturated")
            elif m["status"] == "ok":
                assert m["reason"] is None and m["a"] is not None and m["a_sigma"] > 0
    for kind, (acq, band) in scenario.injected.items():
        expected = {"nan-core": "nan-in-window", "off-centre": "off-centre"}.get(kind)
        m = per_band[(acq, band)]
        assert (m["status"], m["reason"]) == (("rejected", expected) if expected else ("ok", None)), kind
    refused = {m["file"]: m for m in meas if m["band"] is None}
    bad = [f for t in scenario.truths for f in t.files if f.kind != "valid"]
    assert len(bad) == 9  # the all-NaN-band file included: refused whole, reason all-nan
    for f in bad:
        m = refused[f.file]
        assert (m["status"], m["reason"]) == (f.status, f.reason), f.file
    assert {f.kind: f.reason for f in bad}["all-nan-band"] == "all-nan"
    assert Counter(m["status"] for m in meas).keys() <= {"ok", "rejected", "duplicate"}


@pytest.mark.slow
def test_star_traces(scenario: Scenario) -> None:
    """Rows per star, band and window; usable windows predicted by their starpool: ratio 1 at the
    reported window, and (EE = 1) the noiseless EE(h)/EE(h_report) at the others."""
    latest = {(p.period_key, r.band): r for r, p in _latest_results(scenario)}
    hws = (2, 3, 5, 8, 12, 20)
    with session_scope(scenario.settings) as session:
        for band in BANDS:
            traces = [dataclasses.asdict(p) for p in star_traces(session, SAT.value, band)]
            per_acq = Counter(t["acq_id"] for t in traces)
            measured = {a for a, f in scenario.files.items() if f.type == "STAR"} & set(per_acq)
            assert len(measured) >= 3 * STARS
            assert all(per_acq[a] == len(hws) for a in measured)
            assert all(t["star"].startswith("HIP ") for t in traces)
            for (key, b), res in latest.items():
                if b != band:
                    continue
                used = [a for a, s in res.per_star.items() if s["used"]]
                rows = [t for t in traces if t["acq_id"] in used and t["usable"]]
                for h in hws:
                    ratios = np.array([t["ratio_to_prediction"] for t in rows if t["half_width_px"] == h])
                    if ratios.size < 10:
                        continue
                    if res.ee_source.startswith("none"):
                        expected = (_expected_ratio(scenario, band, h, used)
                                    / _expected_ratio(scenario, band, res.half_width_px, used))
                    else:
                        expected = 1.0
                    # 3 sigma of the median of ~20 stars (1.25 * robust std / sqrt(n): 0.1 % at PAN
                    # h = 2, up to 3 % at MS h = 12) plus 3 sigma of the starpool A used as
                    # prediction, + 0.3 % for the EE model. The EE = 1 offset of PAN h = 2 (-9 %)
                    # would not pass.
                    med = float(np.median(ratios))
                    spread = 1.2533 * 1.4826 * float(np.median(np.abs(ratios - med))) / math.sqrt(ratios.size)
                    tol = 0.003 + 3.0 * math.hypot(spread, res.a_sigma / res.a)
                    assert abs(float(np.median(ratios)) - expected) < tol, (key, band, h, np.median(ratios),
                                                                           expected, tol)
            for t in traces:
                if not t["usable"]:
                    assert t["ratio_to_prediction"] is None
