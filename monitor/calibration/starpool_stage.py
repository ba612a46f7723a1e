"""Stage 2 of the star method: the A_k of every starpool that owes a recomputation, per band.

From the stored photometry of the starpool's members (and the MTF stage's PSF fit of each band,
:mod:`monitor.calibration.mtf_stage`, for the EE correction): the starpool estimator
(:mod:`monitor.science.starpool_estimator`), the variability screening of its stars over the
satellite's history of latest results (:mod:`monitor.science.star_variability`), the
mix-corrected level (:mod:`monitor.science.star_drift`) and the uncertainty budget
(:mod:`monitor.science.star_budget`); each result is inserted as a new version and the starpool's
pending mark cleared in the same commit. Run by :func:`monitor.calibration.star.run_star_calibration`
and, per starpool, by the work units (:mod:`monitor.calibration.work`).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlmodel import Session

from monitor.calibration.pending import after_commit, unit_of_work
from monitor.calibration.star_model import (
    StarExpectation,
    StarModelKey,
    resolve_star_model,
    star_expectation,
    star_reference,
)
from monitor.catalogue import star_results, versions
from monitor.catalogue.models import ProcessingRun, Starpool, StarpoolResult
from monitor.domain import REF_VERSION, PhotometryStatus
from monitor.science.exceptions import InsufficientDataError, InsufficientStarsError
from monitor.science.star_budget import RSR_REL, TEMPLATE_PRIOR_REL, ZERO_POINT_REL, pool_components
from monitor.science.star_drift import starpool_level_star_offsets
from monitor.science.star_variability import excess_scatter_rel, variability_test_bands, variability_test_two_way
from monitor.science.starpool import student_variance_factor
from monitor.science.starpool_estimator import EeModel, StarpoolBandEstimate, StarpoolMembers, estimate_starpool_band
from monitor.settings import Settings

if TYPE_CHECKING:
    from monitor.calibration.star import StarSummary

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- stage 2: starpools


@dataclass(frozen=True, eq=False)
class EeCorrection(EeModel):
    """The starpool PSF fit's encircled energy per member and window (and PSF-fit signals), with
    the description of its source recorded as the result's ``ee_source``."""

    source: str = ""


# (session, settings, starpool, band, member rows, run, now, the MTF stage's PSF fit of that band
# or None) -> the EE correction (None: EE = 1); it consumes the stage's fit and never fits itself
EeProvider = Callable[[Session, Settings, Starpool, str, list[star_results.StarMemberRow], ProcessingRun, datetime,
                       Any], EeCorrection | None]


PSF_FLUX_KEY = "psf"  # per_window key of the PSF-fit-signal estimate; half_width_px 0 in the result


def _members(settings: Settings, rows: list[star_results.StarMemberRow], half_widths: list[int]) -> StarpoolMembers:
    """The photometry of a starpool's members in one band, as the estimator's arrays (NaN: none)."""
    n, m = len(rows), len(half_widths)
    table = {name: np.full((n, m), np.nan) for name in ("a", "a_sigma", "sum_dn", "sum_sigma_dn")}
    for i, r in enumerate(rows):
        for w in r.windows:
            j = half_widths.index(w.half_width_px)
            if w.a is not None and w.a_sigma is not None:
                table["a"][i, j], table["a_sigma"][i, j] = w.a, w.a_sigma
            if w.sum_dn is not None and w.sigma_dn is not None:
                table["sum_dn"][i, j], table["sum_sigma_dn"][i, j] = w.sum_dn, w.sigma_dn
    e_k = [r.photometry.irradiance_w_m2_um for r in rows]
    return StarpoolMembers(
        star_ids=tuple(r.acquisition.acq_id for r in rows),
        accepted=np.array([r.photometry.status == PhotometryStatus.OK for r in rows], dtype=bool),
        half_widths_px=np.array(half_widths, dtype=np.int64), **table,
        gain_e_per_dn=np.array([settings.star.e_per_dn_reference / r.band_image.gain_factor for r in rows]),
        oversamp=np.array([r.band_image.oversamp for r in rows], dtype=np.float64),
        gain_factor=np.array([r.band_image.gain_factor for r in rows], dtype=np.float64),
        irradiance_w_m2_um=np.array([np.nan if e is None else e for e in e_k], dtype=np.float64),
        pixel_solid_angle_sr=np.array([(r.band_image.pixscale_urad * 1e-6) ** 2 for r in rows]),
    )


def _per_window(result: StarpoolBandEstimate) -> dict[str, Any]:
    """``per_window`` of a starpool result: each window's estimate (or why none), then the PSF-fit signal's."""
    out: dict[str, Any] = {}
    for w in result.windows:
        if w.estimate is None:
            out[str(w.half_width_px)] = {"a": None, "a_sigma": None, "n": len(w.members), "note": w.note}
        else:
            out[str(w.half_width_px)] = {"a": w.estimate.a, "a_sigma": w.estimate.a_sigma, "n": w.estimate.n_used,
                                         "tau_rel": w.estimate.tau, "ee_mean": w.ee_mean}
    if result.psf_flux is not None and result.psf_flux.estimate is not None:
        est = result.psf_flux.estimate
        out[PSF_FLUX_KEY] = {"a": est.a, "a_sigma": est.a_sigma, "n": est.n_used, "tau_rel": est.tau}
    return out


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _star_history(per_star: list[tuple[int, str, dict[str, Any]]], pool: Starpool,
                  band: str) -> list[tuple[int, int, float, float]]:
    """(hip, starpool id, A_i, sigma) of every star of the other starpools of this satellite and
    band, from their latest results (``per_star``: :func:`star_results.latest_per_star`; the
    variability history, :mod:`monitor.science.star_variability`)."""
    out: list[tuple[int, int, float, float]] = []
    for other_id, other_band, entries in per_star:
        if other_id == pool.id or other_band != band:
            continue
        for entry in entries.values():
            hip, a, sig = entry.get("hip"), entry.get("a"), entry.get("a_sigma")
            if hip is not None and a is not None and sig is not None:
                out.append((int(hip), other_id, a, sig))
    return out


def _flagged_elsewhere(per_star: list[tuple[int, str, dict[str, Any]]], pool: Starpool, band: str) -> set[int]:
    """HIP numbers flagged variable by the latest result of any starpool and band of this
    satellite (not this starpool and band's own): a star variable in one band is excluded from
    A_k in every band from then on."""
    out: set[int] = set()
    for other_id, other_band, entries in per_star:
        if other_id == pool.id and other_band == band:
            continue
        out.update(int(e["hip"]) for e in entries.values()
                   if e.get("hip") is not None and (e.get("variability") or {}).get("flagged"))
    return out


def _variability(history: list[tuple[int, int, float, float]], pool_id: int, hips: list[int], a: np.ndarray,
                 a_sigma: np.ndarray) -> dict[int, dict[str, Any]]:
    """Variability test of this starpool's stars over their history with this starpool's points
    (:func:`monitor.science.star_variability.variability_test_two_way`: per-starpool and per-star
    terms removed, so neither drift nor the star mix reads as variability)."""
    own = [(h, pool_id, float(a[i]), float(a_sigma[i])) for i, h in enumerate(hips)
           if np.isfinite(a[i]) and np.isfinite(a_sigma[i])]
    points = history + own
    if not own:
        return {}
    arr = np.array(points, dtype=np.float64)
    test = variability_test_two_way(arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), arr[:, 2], arr[:, 3])
    mine = set(hips)
    return {int(h): {"n": int(test.n_points[k]), "chi2": _finite_or_none(test.chi2[k]),
                     "p": _finite_or_none(test.p_value[k]), "rms_rel": _finite_or_none(test.rms_rel[k]),
                     "flagged": bool(test.flagged[k])}
            for k, h in enumerate(test.star) if int(h) in mine}


def _variability_bands(per_star: list[tuple[int, str, dict[str, Any]]], pool: Starpool, band: str, hips: list[int],
                       a: np.ndarray, a_sigma: np.ndarray) -> dict[int, dict[str, Any]]:
    """The band-average variability test of this starpool's stars
    (:func:`monitor.science.star_variability.variability_test_bands`) over the latest results of
    every starpool and band of the satellite, this band's points of this starpool from this
    computation: a variation seen in every band stands out where each band alone is too noisy."""
    points = [(int(e["hip"]), other_id, other_band, float(e["a"]), float(e["a_sigma"]))
              for other_id, other_band, entries in per_star if not (other_id == pool.id and other_band == band)
              for e in entries.values() if e.get("hip") is not None and e.get("a") and e.get("a_sigma")]
    assert pool.id is not None
    points += [(h, pool.id, band, float(a[i]), float(a_sigma[i])) for i, h in enumerate(hips)
               if np.isfinite(a[i]) and np.isfinite(a_sigma[i]) and a[i] > 0.0 and a_sigma[i] > 0.0]
    mine = set(hips)
    if not any(p[0] in mine for p in points):
        return {}
    test = variability_test_bands([p[0] for p in points], [p[1] for p in points], [p[2] for p in points],
                                  [p[3] for p in points], [p[4] for p in points])
    return {int(h): {"n": int(test.n_points[k]), "chi2": _finite_or_none(test.chi2[k]),
                     "p": _finite_or_none(test.p_value[k]), "flagged": bool(test.flagged[k])}
            for k, h in enumerate(test.star) if int(h) in mine}


def _star_offset_level(per_star: list[tuple[int, str, dict[str, Any]]], starts: dict[int, datetime],
                       pool: Starpool, band: str, hips: list[int], a: np.ndarray, a_sigma: np.ndarray,
                       used: np.ndarray, star_sys: np.ndarray, excluded: set[int],
                       expectation: Callable[[int], StarExpectation] | None = None,
                       outlier_sigma: float | None = None) -> dict[str, Any] | None:
    """The mix-corrected A_k of this starpool (``a_star_offsets`` of its result, beside the ICD's
    starpool mean): :func:`monitor.science.star_drift.starpool_level_star_offsets` on the per-star
    coefficients used by the starpools of this satellite and band that start no later than this
    one (append-only: a later starpool never changes it; reprocessing recomputes it from the same
    history), this starpool's own used stars included. Each point's sigma carries its star's
    excess scatter (as in the starpool mean); stars flagged variable anywhere (``excluded``) are
    left out, their history included. None when this starpool has no used star.

    ``expectation`` (REF-2, issue 14): each star's coefficient is rescaled to the system's
    kernel-mean expectation of its band irradiance and its offset gets the library's local
    template scatter as its prior sigma (rescaled by EM), points beyond ``outlier_sigma`` left out
    (:mod:`monitor.science.star_expectation`; measured in benchmarks/star_ref2.py)."""
    assert pool.id is not None
    start = starts.get(pool.id)
    pts: list[tuple[int, int, float, float]] = []
    for other_id, other_band, entries in per_star:
        if other_id == pool.id or other_band != band or start is None or starts.get(other_id, start) > start:
            continue
        for e in entries.values():
            hip, ea, es = e.get("hip"), e.get("a"), e.get("a_sigma")
            if not e.get("used") or hip is None or not ea or not es or int(hip) in excluded:
                continue
            sys_rel = float((e.get("variability") or {}).get("excess_scatter_rel") or 0.0)
            pts.append((other_id, int(hip), float(ea), math.hypot(float(es), sys_rel * float(ea))))
    own = [(pool.id, h, float(a[i]), math.hypot(float(a_sigma[i]), float(star_sys[i] * a[i])))
           for i, h in enumerate(hips) if used[i] and np.isfinite(a[i]) and np.isfinite(a_sigma[i])]
    if not own:
        return None
    arr = np.array(pts + own, dtype=np.float64)
    prior = None
    if expectation is not None:
        exp = [expectation(int(h)) for h in arr[:, 1]]
        arr[:, 2:4] *= np.array([e.a_scale for e in exp])[:, None]
        spread = np.array([e.spread_rel for e in exp])
        prior = spread if np.all(np.isfinite(spread)) else None
    try:
        lev = starpool_level_star_offsets(arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), arr[:, 2],
                                          arr[:, 3], pool.id, star_tau_rel=prior, scale_star_tau=prior is not None,
                                          outlier_sigma=outlier_sigma)
    except InsufficientDataError:
        return None
    return {"a": lev.a, "a_sigma": lev.a_sigma, "a_sigma_common": lev.a_sigma_common, "tau_rel": lev.tau_rel,
            "n_stars": lev.n_stars, "n_stars_linked": lev.n_stars_linked, "n_starpools": lev.n_pools,
            "chi2_dof": _finite_or_none(lev.chi2_dof), "estimator": lev.estimator, "n_outliers": lev.n_outliers,
            # the template (SED) term of this starpool's own stars: the library's local scatter, rms
            **({"template_prior_rms_rel": float(np.sqrt(np.mean(prior[-len(own):] ** 2)))}
               if prior is not None else {})}


def _budget(members: StarpoolMembers, result: StarpoolBandEstimate, correction: EeModel | None, model: str,
            prior_rel: float, star_sys_rel: np.ndarray, rsr_sources: set[str]) -> dict[str, float]:
    """``a_sigma_components`` of the reported estimate (:mod:`monitor.science.star_budget`)."""
    est = result.reported.estimate
    assert est is not None
    idx = result.reported.members[est.used]
    a, sig = result.a[idx], result.a_sigma[idx]
    gain = members.gain_e_per_dn[idx]
    if result.is_psf_flux and correction is not None and correction.psf_flux_dn is not None:
        assert correction.psf_flux_sigma_dn is not None
        flux, flux_sig = correction.psf_flux_dn[idx], correction.psf_flux_sigma_dn[idx]
        model_key = "psf_model"
    else:
        j = list(members.half_widths_px).index(result.reported.half_width_px)
        flux, flux_sig = members.sum_dn[idx, j], members.sum_sigma_dn[idx, j]
        model_key = "ee_correction"
    photon = np.sqrt(np.clip(flux, 0.0, None) / gain) / flux
    stat = flux_sig / flux
    background = np.sqrt(np.clip(stat**2 - photon**2, 0.0, None))
    model_rel = np.sqrt(np.clip((sig / a) ** 2 - stat**2, 0.0, None))
    mu = est.a
    sys_rel = star_sys_rel[idx]
    template = math.hypot(prior_rel, est.tau)  # stated prior and the starpool's star-to-star scatter
    w = 1.0 / (sig**2 + (sys_rel * mu) ** 2 + (template * mu) ** 2)
    # the template and star-systematic terms are fractions of the starpool's level (as in the
    # weights and in combine_starpool), the measurement terms of each star's own A_i
    per_star: dict[str, Any] = {"photon": photon, "background": background, model_key: model_rel,
                                "template": template * mu / a, "star_systematic": sys_rel * mu / a}
    rsr = max(RSR_REL["nominal" if any(s.startswith("nominal") for s in rsr_sources) else "measured"], 0.0)
    common = correction.flux_common_rel_sigma if result.is_psf_flux and correction is not None else None
    return pool_components(a, w, per_star, mu, zero_point_rel=ZERO_POINT_REL.get(model, ZERO_POINT_REL[REF_VERSION]),
                           rsr_rel=rsr, common_rel=common, variance_factor=student_variance_factor(est.n_used, est.tau))


def starpool_band(session: Session, settings: Settings, run: ProcessingRun, pool: Starpool, band: str,
                   now: datetime, ee_provider: EeProvider | None, psf: Any = None,
                   per_star_history: list[tuple[int, str, dict[str, Any]]] | None = None) -> StarpoolResult | None:
    """The A_k result of one starpool and band; ``psf`` is the MTF stage's fit of that band
    (:func:`monitor.calibration.mtf_stage.starpool_mtf`), handed to ``ee_provider``; ``per_star_history``:
    :func:`star_results.latest_per_star` of the satellite as the catalogue holds it now (read here
    when None; a caller computing every band of a starpool reads it once and adds each band's new
    result, :func:`star_results.with_latest_per_star`)."""
    rows = star_results.starpool_member_rows(session, pool.id, band)  # type: ignore[arg-type]
    if not rows:
        return None
    half_widths = sorted({w.half_width_px for r in rows for w in r.windows})
    if not half_widths:  # every member of this band was rejected before any window (all NaN...)
        log.info("starpool %s band %s: no member has a measured window", pool.period_key, band)
        return None
    correction = ee_provider(session, settings, pool, band, rows, run, now, psf) if ee_provider else None
    models = sorted({r.photometry.reference_model for r in rows if r.photometry.status == PhotometryStatus.OK})
    model = models[0] if len(models) == 1 else ("+".join(models) or REF_VERSION)
    prior = TEMPLATE_PRIOR_REL.get(model, 0.0)
    members = _members(settings, rows, half_widths)
    hips = [int(r.acquisition.hip or 0) for r in rows]
    per_star = (per_star_history if per_star_history is not None
                else star_results.latest_per_star(session, pool.satellite))  # one read for the three uses
    per_star_history = per_star  # ``per_star`` is reused below for this band's per-star entries
    history = _star_history(per_star, pool, band)
    try:
        result = estimate_starpool_band(members, correction,
                                        reference_half_width_px=settings.star.reference_half_width_px,
                                        outlier_sigma=settings.star.outlier_sigma, star_systematic_rel=prior)
        assert pool.id is not None
        variability = _variability(history, pool.id, hips, result.a, result.a_sigma)
        for h, joint in _variability_bands(per_star, pool, band, hips, result.a, result.a_sigma).items():
            entry = variability.setdefault(h, {"n": 0, "chi2": None, "p": None, "rms_rel": None, "flagged": False})
            entry["band_average"] = joint  # the test on the bands' mean residual (a grey variation)
            entry["flagged"] = bool(entry["flagged"] or joint["flagged"])
        elsewhere = _flagged_elsewhere(per_star, pool, band)
        for h in elsewhere.intersection(hips):
            entry = variability.setdefault(h, {"n": 0, "chi2": None, "p": None, "rms_rel": None, "flagged": False})
            entry["flagged_in_another_band_or_starpool"] = True
        variable = np.array([bool(variability.get(h, {}).get("flagged")) or h in elsewhere for h in hips],
                            dtype=bool)
        traced_a, traced_sigma = result.a.copy(), result.a_sigma.copy()  # a flagged star keeps its trace
        # each star's own scatter over its history beyond its photometric noise (0 without history)
        star_sys = excess_scatter_rel([variability.get(h, {}).get("rms_rel") or 0.0 for h in hips],
                                      [variability.get(h, {}).get("n", 0) for h in hips],
                                      np.where(np.isfinite(result.a), result.a_sigma / result.a, 0.0))
        for i, h in enumerate(hips):
            if h in variability:
                variability[h]["excess_scatter_rel"] = float(star_sys[i])
        if np.any(variable & members.accepted) or np.any(star_sys > 0.0):
            # variable stars never enter A_k; the others carry their own systematic: combine again
            members = dataclasses.replace(members, accepted=members.accepted & ~variable)
            result = estimate_starpool_band(members, correction,
                                            reference_half_width_px=settings.star.reference_half_width_px,
                                            outlier_sigma=settings.star.outlier_sigma,
                                            star_systematic_rel=np.hypot(prior, star_sys))
    except InsufficientStarsError:
        log.warning("starpool %s band %s: no window has enough stars", pool.period_key, band)
        return None
    source = correction.source if correction is not None else (
        "none (largest window, EE = 1: MTF stage off, [star] mtf = false)" if not settings.star.mtf
        else "none (largest window, EE = 1: no PSF fit available)")
    if result.is_psf_flux:
        source = f"{source}; reported A_k from the PSF-fit signal (window {PSF_FLUX_KEY})"
    est = result.reported.estimate
    assert est is not None
    acq_ids = [r.acquisition.acq_id for r in rows]
    rejected = [{"acq_id": acq_ids[i], "reason": "outlier", "residual_sigma": z} for i, z in result.outliers()]
    rejected += [{"acq_id": acq_ids[i], "reason": "variable", "hip": hips[i], **variability[hips[i]]}
                 for i in range(len(rows)) if variable[i] and rows[i].photometry.status == PhotometryStatus.OK]
    rejected += [{"acq_id": r.acquisition.acq_id, "reason": r.photometry.reason, "message": r.photometry.message}
                 for r in rows if r.photometry.status != PhotometryStatus.OK]
    per_star = {
        acq_ids[i]: {
            "hip": hips[i], "a": _finite_or_none(traced_a[i] if variable[i] else result.a[i]),
            "a_sigma": _finite_or_none(traced_sigma[i] if variable[i] else result.a_sigma[i]),
            "used": bool(result.used[i]), "ee": {str(h): float(result.ee[i, k]) for k, h in enumerate(half_widths)},
            **({"variability": variability[hips[i]]} if hips[i] in variability else {}),
        }
        for i in range(len(rows))
    }
    mix_corrected = _star_offset_level(
        per_star_history, star_results.starpool_starts(session, pool.satellite), pool, band, hips, result.a,
        result.a_sigma, result.used, star_sys, {h for h, v in variability.items() if v["flagged"]} | elsewhere,
        expectation=functools.partial(_expectation, _key_of(settings, model), pool.satellite, band),
        outlier_sigma=settings.star.outlier_sigma)
    epochs = [r.acquisition.date_obs.timestamp() for i, r in enumerate(rows) if result.used[i]]
    epoch = datetime.fromtimestamp(float(np.mean(epochs)), tz=UTC)
    refs = {r.acquisition.hip: star_reference(_key_of(settings, model), int(r.acquisition.hip or 0),
                                              pool.satellite, band) for r in rows}
    rsr_sources = {ref.rsr_source for ref in refs.values()}
    reference: dict[str, Any] = {
        **resolve_star_model(settings).record(), "reference_model": model,
        "rsr": sorted({f"{ref.rsr_source} sha256:{ref.rsr_checksum}" for ref in refs.values()}),
        "star_systematic_prior_rel": prior,
        "templates": {str(h): ref.template for h, ref in refs.items() if ref.template},
        "variable_stars": sorted(h for h, v in variability.items()
                                 if v["flagged"] or v.get("flagged_in_another_band_or_starpool")),
        # the mix-corrected A_k beside the ICD's (a, a_sigma): module star_drift, STARPOOL_LEVEL_ESTIMATOR
        **({"a_star_offsets": mix_corrected} if mix_corrected is not None else {}),
    }
    version = versions.next_result_version(session, StarpoolResult, starpool_id=pool.id, band=band)
    return StarpoolResult(
        starpool_id=pool.id, band=band, version=version, run_id=run.id, epoch=epoch, a=est.a, a_sigma=est.a_sigma,
        n_used=est.n_used, n_rejected=len(rejected), half_width_px=result.reported.half_width_px, ee_source=source,
        tau_rel=est.tau, chi2_dof=_finite_or_none(est.chi2_dof), rejected=rejected, acquisition_ids=acq_ids,
        per_window=_per_window(result), per_star=per_star, created_at=now, reference_model=model,
        reference=reference,
        a_sigma_components=_budget(members, result, correction, model, prior, star_sys, rsr_sources),
    )


def _expectation(key: StarModelKey, satellite: str, band: str, hip: int) -> StarExpectation:
    """:func:`star_expectation` with the arguments in the order ``functools.partial`` fills them."""
    return star_expectation(key, hip, satellite, band)


def _key_of(settings: Settings, model: str) -> StarModelKey:
    """The star-model key of the configured inputs for ``model`` (REF-1 when mixed/unknown)."""
    key = resolve_star_model(settings).key
    if model == key.model:
        return key
    return StarModelKey(REF_VERSION, None, key.rsr_dir)


def add_starpool_results(session: Session, settings: Settings, run: ProcessingRun, pool: Starpool, now: datetime,
                         ee_provider: EeProvider | None, fits: Mapping[str, Any]) -> None:
    """Add the A_k result of every band of one starpool (``fits``: the MTF stage's PSF fit per band).

    The variability history (:func:`star_results.latest_per_star`) is read once for all bands and
    kept current with each band's new result, which a read per band would see (that read grows with
    the number of earlier starpools)."""
    assert pool.id is not None
    history = star_results.latest_per_star(session, pool.satellite)
    for band in star_results.starpool_bands(session, pool.id):
        result = starpool_band(session, settings, run, pool, band, now, ee_provider, fits.get(band),
                               per_star_history=history)
        if result is not None:
            versions.add_rows(session, [result])
            history = star_results.with_latest_per_star(history, pool.id, band, result.per_star or {})


def starpool_stage(session: Session, settings: Settings, run: ProcessingRun, now: datetime, summary: StarSummary,
                   ee_provider: EeProvider | None, progress: Callable[..., None] | None = None) -> None:
    """Recompute every starpool that owes it: the MTF stage (its PSF fits and MTF rows), then the
    A_k of all its bands, and the cleared mark in one commit. A starpool whose recomputation fails
    without a verdict keeps its mark (next run). ``progress(done, total, label)`` is called before
    each band's PSF/MTF fit (the long part)."""
    from monitor.calibration.mtf_stage import starpool_mtf

    pools = list(star_results.starpools_pending(session))
    for i, pool in enumerate(pools):
        assert pool.id is not None
        key = pool.period_key

        def report(band: str, j: int, n: int, i: int = i, key: str = key) -> None:
            if progress is not None:
                progress(i, len(pools), f"PSF/MTF {key} {band} ({j + 1}/{n})")

        with unit_of_work(session, summary, key, log, "starpool"):
            fits = starpool_mtf(session, settings, pool, run, now, report)
            add_starpool_results(session, settings, run, pool, now, ee_provider, fits)
            star_results.clear_starpool_pending(session, pool.id)
            session.commit()
            after_commit("starpool")
            summary.starpools.append(key)
            summary.mtf_fits += sum(f is not None for f in fits.values())
    if progress is not None and pools:
        progress(len(pools), len(pools), "PSF/MTF done")
