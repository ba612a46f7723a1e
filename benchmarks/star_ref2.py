"""REF-1 against REF-2 on stars whose true spectra are NOT the system's model. Prints one JSON document.

Truth (shares nothing with the estimators but the public inputs: CALSPEC Vega, the passbands, the
measured RSRs, the catalogue's V):

* the calibration stars of a satellite: ``--set`` stars drawn once from the REF-2 calibration list
  (V 2-5.5, the simulator's range); each campaign (monthly, ``--months``) observes ``--stars`` of
  them at random: the star mix changes every month;
* the true spectrum of a star is a *different* library template of nearby colour (one of the three
  nearest in (B-V, V-I), never the one REF-2 picks, any luminosity class III-V) times a smooth
  perturbation of 1 % rms (Legendre P1, P2 over 400-1000 nm), scaled to the star's V with the
  photon-counting V average of CALSPEC Vega (``monitor.simulate.star_spectra``, which the FITS
  campaign simulator uses too with ``star_spectra="library"``); its band irradiance is the ICD 2.1
  average over the measured PHR1A RSR;
* ``--variables`` of the stars vary (sinusoid, amplitude 1.5-5 %, period 20-400 d, random phase),
  unflagged in the catalogue; the true A_k drifts by ``--drift`` per year;
* measured coefficient of a star: ``A_true(t) * E_true * var(t) / E_model * (1 + noise)``, noise
  relative 0.15 % at V = 2 growing as photon noise (x 10^(0.2 (V-2))), plus a 0.2 % floor
  (photometry beyond photon noise): the photometry chain is benchmarked elsewhere
  (benchmarks/star_precision.py); this one isolates the reference model.

Estimators, per band: REF-1 (black body, ICD 2.2), "REF-2 nearest" (the nearest template, ICD 2.2b
item 2, the pipeline's default) and REF-2 (the opt-in template blend, ``[reference] star_template =
"blend"``, ``monitor.science.star_ref2.template_weights``)
irradiances over the same measured RSRs; the starpool combination of the system (``combine_starpool``, with each
star's excess scatter over its own history as its per-star systematic); the variability test of
the system (two-way form) on each star's history up to the campaign (flagged stars excluded from
then on); the drift both from the starpool means (``fit_drift``) and with per-star offsets
(``fit_drift_star_offsets``). A star flagged in one band is excluded from A_k in every band
from the next campaign on (as the pipeline does).

"<model> star-offset levels" (REF-2 nearest and REF-2): each starpool's A_k from
``starpool_level_star_offsets`` (the pipeline's mix-corrected ``a_star_offsets``: a random-effects
fit with one offset per star over the history up to and including that starpool, append-only;
stars flagged so far left out with their history, each point's sigma with its star's excess
scatter), a_sigma its total sigma (``a_sigma`` and ``a_sigma_common`` in quadrature).

"REF-2 nearest levels <variant>" (issue 14, the project's estimator with the system's own REF-2
expectation; the ICD ``a`` keeps the nearest template): the same star-offset levels on the nearest
model's run (its flags and excess scatter), each star's coefficient rescaled to another expectation
of its E_k, and its offset given a per-star prior sigma:

* ``nearest+prior``: the nearest template, prior = the library's local scatter around it;
* ``blend+EM tau``: the kernel-mean expectation (:func:`monitor.science.star_expectation.template_expectation`,
  the blend's weights), one EM tau for every star (the v1 estimator);
* ``blend+prior``: kernel mean, prior = the local scatter of the library's band/V ratios at the
  star's colour (a stated prior from the library alone), fixed;
* ``blend+prior scaled``: the same prior times one factor fitted by EM;
* ``blend+prior scaled robust``: and points beyond 4 sigma ([star] outlier_sigma) out: **the
  pipeline's ``a_star_offsets`` under REF-2** (chosen on seeds 1-10, reported on 11-30);
* ``loclin+prior``: a local-linear regression on (B-V, V-I) at the star's colour instead of the
  kernel mean (:func:`monitor.science.star_expectation.local_linear_ratio`).

Each variant also reports the information floor of its levels (``floor_*``): the mean true
mismatch ln(E_true/E_model) of the stars seen so far (weighted 1/prior^2 with a prior), which no
estimator can take out of the data (it is degenerate with A_k). The nearest model also reports the
oracle drift (``drift_*oracle*``): the star-offsets fit of every point of the constant stars with
their true photometric sigma, the noise floor of the drift on this data.

``set_mismatch`` (truth only, no estimator): per band, the star set's weighted mean true mismatch
ln(E_true/E_blend) (weights 1/tau_i^2, tau_i the local template scatter) and ``z``, that mean over
the sd that independent per-star mismatches of sigma c tau_i give it (c: the set's rms of d_i/tau_i,
what the EM scale finds): the common template mismatch the levels' total sigma must carry. Every
starpool of a run rests on (most of) the same stars, so a run's pulls are correlated: the common
part is one draw per seed. The summary gives z's rms over seeds, the interval of the rms of that many
unit draws (chi-square, 95 %) and, per seed, z beside the pipeline's pull rms (``PIPELINE``).

The star-offsets drift leaves out, at the end, every star flagged by then (retroactively, as the
pipeline's drift stage) and carries each star's excess scatter in its points' sigma.

Per band and model: starpool A_k bias (mean of A/A_true - 1) and scatter (std), worst pool (also
after the first ``WARMUP`` starpools, and the worst departure from the run's mean error: what the
star mix moves), pull std (error / a_sigma) and pull rms (no mean removed), drift error of both
drift fits (%/yr) and of the primary one (the pipeline's rule,
``monitor.science.star_drift.is_primary``); and the variable-star detection
(fraction of injected variables with amplitude >= 1.5 % flagged in some band, of their bands
flagged, and of constant stars flagged in some band).

Usage: python benchmarks/star_ref2.py --library /work/shared/reference/pickles \
         --rsr-dir /work/shared/reference/rsr_measured [--months 24] [--stars 25] [--set 80] [--seed 1]
       [--seeds 1-20: the summary over several seeds instead, see ``summarise``]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import chi2

from monitor.io.reference_data import load_johnson_v, load_star_catalogue, load_vega_spectrum
from monitor.io.star_library import load_band_response, load_star_library
from monitor.science.drift import fit_drift
from monitor.science.exceptions import InsufficientStarsError
from monitor.science.star_budget import TEMPLATE_PRIOR_REL
from monitor.science.star_drift import fit_drift_star_offsets, is_primary, starpool_level_star_offsets
from monitor.science.star_expectation import local_linear_ratio, template_expectation
from monitor.science.star_ref2 import (
    choose_templates,
    is_ref2_calibration_star,
    photon_average,
    ref2_band_irradiance_w_m2_um,
    template_band_ratios,
    template_weights,
)
from monitor.science.star_reference import star_band_irradiance_w_m2_um
from monitor.science.star_variability import excess_scatter_rel, variability_test_bands, variability_test_two_way
from monitor.science.starpool import combine_starpool
from monitor.simulate.star_spectra import draw_true_spectra, true_band_irradiance_w_m2_um

BANDS = ("P", "B0", "B1", "B2", "B3")
WARMUP = 6  # starpools before "worst_pool_after_warmup_pct": the first ones have no star re-observed yet
PIPELINE = "REF-2 nearest levels blend+prior scaled robust"  # the pipeline's a_star_offsets under REF-2
SATELLITE = "PHR1A"
MIN_MONTHS = 2  # the drift fits need two starpool epochs; one starpool has no drift and no scatter


def _worst_pct(errors: Any) -> float | None:
    """The signed error of largest magnitude, in percent (errors relative); None when there is none
    (a history no longer than ``WARMUP`` has no starpool after the warm-up)."""
    e = np.asarray(errors, dtype=float)
    return round(100 * float(e[np.argmax(np.abs(e))]), 3) if e.size else None


def _worst_of(values: Any) -> float | None:
    """The signed value of largest magnitude among the runs' values that exist (None: none exists)."""
    vals = [x for x in values if x is not None]
    return round(float(max(vals, key=abs)), 3) if vals else None


def run(
    library: Path,
    rsr_dir: Path,
    months: int,
    n_stars: int,
    n_set: int,
    n_var: int,
    drift: float,
    seed: int,
    robust_drift: bool = True,
    joint_bands: bool = True,
) -> dict[str, Any]:
    if months < MIN_MONTHS:
        raise ValueError(f"--months must be >= {MIN_MONTHS}: the drift fits need two starpool epochs, got {months}")
    rng = np.random.default_rng(seed)
    lib = load_star_library(library)
    cat = load_star_catalogue()
    assert cat.v_i is not None and cat.hp_scatter_mag is not None and cat.var_flag is not None
    ok = (
        is_ref2_calibration_star(cat.v_mag, cat.b_v, cat.hp_scatter_mag, cat.var_flag)
        & (cat.v_mag >= 2.0)
        & (cat.v_mag <= 5.5)
        & np.isfinite(cat.v_i)
    )
    rows = rng.choice(np.flatnonzero(ok), n_set, replace=False)
    hip, v, bv, vi = cat.hip[rows], cat.v_mag[rows], cat.b_v[rows], cat.v_i[rows]
    idx, _ = choose_templates(bv, vi, lib.b_v, lib.v_i, lib.lum_class)
    truth = draw_true_spectra(rng, lib, bv, vi)  # shared with the FITS campaign simulator
    vega, vband = load_vega_spectrum(), load_johnson_v()
    zp = float(photon_average(vega.wavelength_nm, vega.values, vband.wavelength_nm, vband.values))
    weights = template_weights(bv, vi, lib.b_v, lib.v_i, lib.lum_class)
    e_true, e_ref1, e_ref2, e_near = {}, {}, {}, {}
    e_ll: dict[str, np.ndarray] = {}  # local-linear expectation (monitor.science.star_expectation)
    spread: dict[str, np.ndarray] = {}  # local template scatter around the kernel mean (per-star prior)
    spread_near: dict[str, np.ndarray] = {}  # ... around the nearest template's ratio
    vscale = zp * 10.0 ** (-0.4 * (v - 0.03))
    set_mismatch: dict[str, dict[str, float]] = {}
    for band in BANDS:
        rsr = load_band_response(SATELLITE, band, rsr_dir).spectrum
        e_true[band] = true_band_irradiance_w_m2_um(
            truth, v, rsr.wavelength_nm, rsr.values, vband.wavelength_nm, vband.values, zp
        )
        ratios = template_band_ratios(
            lib.wavelength_nm, lib.flux, rsr.wavelength_nm, rsr.values, vband.wavelength_nm, vband.values
        )
        e_near[band] = ref2_band_irradiance_w_m2_um(v, idx, ratios, zp)
        e_ref2[band] = ref2_band_irradiance_w_m2_um(v, idx, ratios, zp, template_weights=weights)
        r_blend, spread[band] = template_expectation(weights, ratios)
        spread_near[band] = np.sqrt(spread[band] ** 2 + (ratios[idx] / r_blend - 1.0) ** 2)
        # truth only, no estimator: the star set's weighted mean true mismatch against the sd that
        # independent per-star mismatches of prior c tau_i give it (c: the set's own rms of d_i / tau_i,
        # the EM scale). Every level of the run carries (most of) this one draw: its pulls are
        # correlated across the run's starpools, one independent draw of the common part per seed.
        d_mm = np.log(e_true[band] / e_ref2[band])
        tau_mm = np.maximum(spread[band], 1e-3)
        c_mm = float(np.sqrt(np.mean((d_mm / tau_mm) ** 2)))
        mean_mm = float(np.average(d_mm, weights=tau_mm**-2.0))
        sd_mm = c_mm / float(np.sqrt(np.sum(tau_mm**-2.0)))
        set_mismatch[band] = {
            "c": round(c_mm, 3),
            "weighted_mean_pct": round(100 * mean_mm, 3),
            "independent_sd_pct": round(100 * sd_mm, 3),
            "z": round(mean_mm / sd_mm, 3),
        }
        e_ll[band] = local_linear_ratio(bv, vi, lib.b_v, lib.v_i, weights, ratios) * vscale
        e_ref1[band] = star_band_irradiance_w_m2_um(
            v, bv, rsr.wavelength_nm, rsr.values, vband.wavelength_nm, vband.values
        )
    # variables
    var_i = rng.choice(n_set, n_var, replace=False)
    amp = np.zeros(n_set)
    amp[var_i] = rng.uniform(0.015, 0.05, n_var)
    period_d = rng.uniform(20.0, 400.0, n_set)
    phase = rng.uniform(0.0, 2 * np.pi, n_set)
    noise_rel = np.hypot(0.0015 * 10.0 ** (0.2 * (v - 2.0)), 0.002)
    a0 = 1000.0
    t_pool = (np.arange(months) + 0.5) / 12.0  # years
    members = [np.sort(rng.choice(n_set, n_stars, replace=False)) for _ in range(months)]
    # per-acquisition measurements shared by both models (same photons)
    meas = []
    for k, mem in enumerate(members):
        t_days = t_pool[k] * 365.25 + rng.uniform(0, 3, mem.size)
        var = 1.0 + amp[mem] * np.sin(2 * np.pi * t_days / period_d[mem] + phase[mem])
        eps = {b: rng.normal(0.0, noise_rel[mem]) for b in BANDS}
        meas.append((mem, var, eps))
    config = dict(
        months=months,
        stars_per_pool=n_stars,
        star_set=n_set,
        variables=n_var,
        drift_per_year=drift,
        seed=seed,
        library_sha256=lib.checksum[:16],
        rsr=f"measured {SATELLITE}",
    )
    out: dict[str, Any] = {"config": config, "bands": {}, "variables": {}, "set_mismatch": set_mismatch}
    flags_all: dict[str, dict[str, np.ndarray]] = {}
    a_true = a0 * (1.0 + drift * t_pool)
    # rate of ln A: ln(1 + r t) ~ r t - (r t)^2/2 -> the per-star-offset fit is compared with the true log slope
    true_log_rate = float(np.polyfit(t_pool, np.log1p(drift * t_pool), 1)[0])
    for model, e_model in (("REF-1", e_ref1), ("REF-2 nearest", e_near), ("REF-2", e_ref2)):
        prior = TEMPLATE_PRIOR_REL[model.split()[0]]
        hist: dict[str, list[tuple[int, int, float, float]]] = {b: [] for b in BANDS}
        flagged = {b: np.zeros(n_set, dtype=bool) for b in BANDS}  # the band's own test
        excluded = np.zeros(n_set, dtype=bool)  # flagged in any band so far: out of A_k in every band
        flagged_joint = np.zeros(n_set, dtype=bool)  # the band-average test's flags
        excess = {b: np.zeros(n_set) for b in BANDS}  # each star's scatter beyond photometric noise
        pools: dict[str, list[float]] = {b: [] for b in BANDS}
        sig: dict[str, list[float]] = {b: [] for b in BANDS}
        tk: dict[str, list[float]] = {b: [] for b in BANDS}
        pts: dict[str, list[tuple[float, float, float, int]]] = {b: [] for b in BANDS}
        pts_pool: dict[str, list[int]] = {b: [] for b in BANDS}  # starpool of each point of pts
        levels: dict[str, list[tuple[float, float]]] = {b: [] for b in BANDS}  # star-offset levels (REF-2)
        # the project's estimator with another expectation and/or the per-star template prior
        # (only on the ICD nearest model's run: the flags and excess scatter are that run's)
        variants = (
            {}
            if model != "REF-2 nearest"
            else {
                "nearest+prior": (e_near, spread_near, False),
                "blend+EM tau": (e_ref2, None, False),
                "blend+prior": (e_ref2, spread, False),
                "blend+prior scaled": (e_ref2, spread, True),
                "loclin+prior": (e_ll, spread, False),
                "blend+prior scaled robust": (e_ref2, spread, True),
            }
        )
        vlev: dict[str, dict[str, list[tuple[float, float, float, float]]]] = {
            x: {b: [] for b in BANDS} for x in variants
        }
        allpts: dict[str, list[tuple[int, int, float, float]]] = {b: [] for b in BANDS}  # pool, star, a, sigma
        for k, (mem, var, eps) in enumerate(meas):
            for band in BANDS:
                a_i = a_true[k] * e_true[band][mem] * var / e_model[band][mem] * (1.0 + eps[band])
                s_i = np.abs(a_i) * noise_rel[mem]
                use = ~excluded[mem]
                sys_rel = np.hypot(prior, excess[band][mem])
                try:
                    est = combine_starpool(
                        a_i[use], s_i[use], list(hip[mem][use]), 4.0, star_systematic_rel=sys_rel[use]
                    )
                except InsufficientStarsError:
                    continue
                pools[band].append(est.a / a_true[k] - 1.0)
                sig[band].append(est.a_sigma / a_true[k])
                tk[band].append(t_pool[k])
                hist[band] += [(int(mem[j]), k, a_i[j], s_i[j]) for j in range(mem.size)]
                arr = np.array(hist[band])
                test = variability_test_two_way(
                    arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), arr[:, 2], arr[:, 3]
                )
                flagged[band][test.star[test.flagged]] = True
                excess[band][test.star] = excess_scatter_rel(test.rms_rel, test.n_points, noise_rel[test.star])
                pts[band] += [(t_pool[k], a_i[j], s_i[j], int(mem[j])) for j in range(mem.size) if use[j]]
                pts_pool[band] += [k] * int(use.sum())
                allpts[band] += [(k, int(mem[j]), a_i[j], s_i[j]) for j in range(mem.size)]
                if model != "REF-1":  # the starpool's level with the stars' offsets, history up to k
                    q = np.array(allpts[band])
                    qs = q[:, 1].astype(np.int64)
                    keep = ~excluded[qs]  # stars flagged so far: out of the fit, history included
                    # each point's sigma with its star's current excess scatter (as combine_starpool's systematic)
                    s_sys = np.hypot(q[:, 3], excess[band][qs] * q[:, 2])
                    lev = starpool_level_star_offsets(q[keep, 0], qs[keep], q[keep, 2], s_sys[keep], k)
                    levels[band].append(
                        (
                            lev.a / a_true[k] - 1.0,
                            lev.a_sigma / a_true[k],
                            math.hypot(lev.a_sigma, lev.a_sigma_common) / a_true[k],
                        )
                    )
                    for name, (e_x, prior_x, scale_x) in variants.items():
                        conv = e_model[band][qs] / e_x[band][qs]  # a with E_x instead of the ICD E
                        tau_x = None if prior_x is None else prior_x[band][qs][keep]
                        lv_x = starpool_level_star_offsets(
                            q[keep, 0],
                            qs[keep],
                            (q[:, 2] * conv)[keep],
                            (s_sys * conv)[keep],
                            k,
                            star_tau_rel=tau_x,
                            scale_star_tau=scale_x,
                            outlier_sigma=4.0 if "robust" in name else None,
                        )
                        # the information floor: the mean true mismatch of the stars seen so far (what no
                        # estimator can take out of the data: it is degenerate with A_k)
                        seen = np.unique(qs[keep])
                        # (with a per-star prior the level rests on the stars of small prior: weights 1/prior^2)
                        w_seen = (
                            np.ones(seen.size) if prior_x is None else 1.0 / np.maximum(prior_x[band][seen], 1e-3) ** 2
                        )
                        floor = float(
                            np.expm1(np.average(np.log(e_true[band][seen] / e_x[band][seen]), weights=w_seen))
                        )
                        vlev[name][band].append(
                            (
                                lv_x.a / a_true[k] - 1.0,
                                lv_x.a_sigma / a_true[k],
                                math.hypot(lv_x.a_sigma, lv_x.a_sigma_common) / a_true[k],
                                floor,
                            )
                        )
            if joint_bands:  # the band-average test over the history of every band (the variation is grey)
                q = [(st, kk, b, aa, ss) for b in BANDS for (st, kk, aa, ss) in hist[b]]
                if q:
                    jt = variability_test_bands(
                        [x[0] for x in q], [x[1] for x in q], [x[2] for x in q], [x[3] for x in q], [x[4] for x in q]
                    )
                    flagged_joint[jt.star[jt.flagged]] = True
                excluded |= flagged_joint
            for band in BANDS:
                excluded |= flagged[band]
        flags_all[model] = {**flagged, "joint": flagged_joint}
        for band in BANDS:
            err, sg, t_ok = np.array(pools[band]), np.array(sig[band]), np.array(tk[band])
            fit = fit_drift(t_ok, a0 * (1.0 + drift * t_ok) * (1.0 + err), sg * a0)
            p = np.array(pts[band])
            ps = p[:, 3].astype(np.int64)
            if robust_drift:  # as the pipeline: stars flagged by now out (retroactively), excess scatter in sigma
                keep = ~excluded[ps]
                p, ps = p[keep], ps[keep]
                p[:, 2] = np.hypot(p[:, 2], excess[band][ps] * p[:, 1])
            fit2 = fit_drift_star_offsets(p[:, 0], p[:, 1], p[:, 2], ps)
            # the oracle: every point of the constant stars (the truth's variables out, whenever seen), each
            # with its true photometric sigma: the noise floor of any per-star-offset drift on this data
            qa = np.array(allpts[band])
            qa_s = qa[:, 1].astype(np.int64)
            const = amp[qa_s] == 0.0
            fit_o = fit_drift_star_offsets(
                t_pool[qa[const, 0].astype(np.int64)], qa[const, 2], qa[const, 3], qa_s[const]
            )
            # truths: the linear fit's rate is dA/A at its t_ref; the log-rate fit's the chord of ln A
            err_pools = fit.rate_per_year - drift / (1.0 + drift * fit.reference_time_years)
            err_offsets = fit2.rate_per_year - true_log_rate
            primary = is_primary(fit2)  # the pipeline's rule (monitor.science.star_drift)
            out["bands"].setdefault(band, {})[model] = {
                "bias_pct": round(100 * float(err.mean()), 3),
                "scatter_pct": round(100 * float(err.std(ddof=1)), 3),
                "worst_pool_pct": _worst_pct(err),
                "pull_std": round(float(np.std(err / sg, ddof=1)), 3),
                "worst_pool_after_warmup_pct": _worst_pct(err[WARMUP:]),
                "worst_pool_minus_mean_pct": round(100 * float(max(err - err.mean(), key=abs)), 3),
                "pull_rms": round(float(np.sqrt(np.mean((err / sg) ** 2))), 3),
                "drift_error_pools_pct_per_year": round(100 * err_pools, 4),
                "drift_sigma_pools_pct_per_year": round(100 * fit.rate_sigma_per_year, 4),
                "drift_error_star_offsets_pct_per_year": round(100 * err_offsets, 4),
                "drift_sigma_star_offsets_pct_per_year": round(100 * fit2.rate_sigma_per_year, 4),
                "drift_error_oracle_pct_per_year": round(100 * (fit_o.rate_per_year - true_log_rate), 4),
                "drift_sigma_oracle_unscaled_pct_per_year": round(
                    100 * fit_o.rate_sigma_per_year / math.sqrt(max(fit_o.chi2_dof, 1.0)), 4
                ),
                "drift_primary": "star-offsets" if primary else "starpool-mean",
                "drift_error_primary_pct_per_year": round(100 * (err_offsets if primary else err_pools), 4),
                "n_pools": int(err.size),
            }
            named = ([(f"{model} star-offset levels", levels[band])] if levels[band] else []) + [
                (f"{model} levels {x}", vlev[x][band]) for x in variants
            ]
            for label, lvl in named:  # same drift fits; A_k of each starpool from the star-offset levels
                lv = np.array(lvl)
                out["bands"][band][label] = {
                    **out["bands"][band][model],
                    "bias_pct": round(100 * float(lv[:, 0].mean()), 3),
                    "scatter_pct": round(100 * float(lv[:, 0].std(ddof=1)), 3),
                    "worst_pool_pct": _worst_pct(lv[:, 0]),
                    "pull_std": round(float(np.std(lv[:, 0] / lv[:, 1], ddof=1)), 3),
                    "pull_std_total_sigma": round(float(np.std(lv[:, 0] / lv[:, 2], ddof=1)), 3),
                    "pull_rms": round(float(np.sqrt(np.mean((lv[:, 0] / lv[:, 2]) ** 2))), 3),
                    "worst_pool_minus_mean_pct": round(100 * float(max(lv[:, 0] - lv[:, 0].mean(), key=abs)), 3),
                    "worst_pool_after_warmup_pct": _worst_pct(lv[WARMUP:, 0]),
                    "n_pools": int(lv.shape[0]),
                    **(
                        {
                            "floor_worst_pool_pct": _worst_pct(lv[:, 3]),
                            "floor_worst_pool_after_warmup_pct": _worst_pct(lv[WARMUP:, 3]),
                            "errors": lv.round(6).tolist(),
                        }
                        if lv.shape[1] > 3
                        else {}
                    ),
                }
    n_obs = np.bincount(np.concatenate(members), minlength=n_set)
    for model in flags_all:
        f = np.array([flags_all[model][b] for b in BANDS] + [flags_all[model]["joint"]])  # (bands + joint, stars)
        is_var = amp >= 0.015
        any_band = f.any(axis=0)
        out["variables"][model] = {
            "stars_flagged_fraction": round(float(any_band[is_var].mean()), 3) if is_var.any() else None,
            "star_band_flagged_fraction": round(float(f[:-1, is_var].mean()), 3) if is_var.any() else None,
            "false_flag_star_fraction": round(float(any_band[~is_var].mean()), 4),
        }
        out.setdefault("variable_stars", {})[model] = [
            {
                "hip": int(hip[i]),
                "amplitude_pct": round(100 * float(amp[i]), 2),
                "n_obs": int(n_obs[i]),
                "period_days": round(float(period_d[i]), 1),
                # the variation at the star's epochs (what any test can see): peak-to-peak, %
                "sampled_ptp_pct": round(
                    100 * float(np.ptp([v[list(m).index(i)] for m, v, _ in meas if i in m])) if n_obs[i] else 0.0, 2
                ),
                "bands_flagged": [b for k, b in enumerate((*BANDS, "joint")) if f[k, i]],
            }
            for i in np.flatnonzero(is_var)
        ]
    return out


def summarise(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate runs of several seeds: per band and model the mean bias (+- its standard error over
    seeds), the largest per-seed bias and worst pool, the pull-std range, and the primary drift
    error's mean (+- standard error), rms, mean fitted sigma and fraction of runs within 0.05 %/yr;
    per model the variables flagged and the false flags over all runs."""
    out: dict[str, Any] = {"seeds": [d["config"]["seed"] for d in docs], "bands": {}, "variables": {}}

    def mean_sem(x: np.ndarray) -> list[float]:
        return [round(float(x.mean()), 4), round(float(x.std(ddof=1) / np.sqrt(x.size)), 4) if x.size > 1 else None]

    for band in BANDS:
        for model in docs[0]["bands"][band]:
            r = [d["bands"][band][model] for d in docs]
            bias = np.array([x["bias_pct"] for x in r])
            drift = np.array([x["drift_error_primary_pct_per_year"] for x in r])
            out["bands"].setdefault(band, {})[model] = {
                "bias_pct_mean_sem": mean_sem(bias),
                "bias_pct_largest_seed": round(float(bias[np.argmax(np.abs(bias))]), 3),
                "worst_pool_pct": _worst_of(x["worst_pool_pct"] for x in r),
                "worst_pool_after_warmup_pct": _worst_of(x["worst_pool_after_warmup_pct"] for x in r),
                "worst_pool_rms_over_seeds_pct": round(
                    float(np.sqrt(np.mean([x["worst_pool_pct"] ** 2 for x in r]))), 3
                ),
                "pull_std_range": [min(x["pull_std"] for x in r), max(x["pull_std"] for x in r)],
                "pull_std_mean": round(float(np.mean([x["pull_std"] for x in r])), 3),
                "pull_rms_all": round(float(np.sqrt(np.mean([x["pull_rms"] ** 2 for x in r]))), 3),
                "worst_pool_minus_mean_pct": round(float(max((x["worst_pool_minus_mean_pct"] for x in r), key=abs)), 3),
                **(
                    {"pull_std_total_sigma_mean": round(float(np.mean([x["pull_std_total_sigma"] for x in r])), 3)}
                    if "pull_std_total_sigma" in r[0]
                    else {}
                ),
                "drift_error_primary_pct_per_year_mean_sem": mean_sem(drift),
                "drift_error_primary_pct_per_year_rms": round(float(np.sqrt(np.mean(drift**2))), 4),
                "drift_sigma_primary_pct_per_year_mean": round(
                    float(
                        np.mean(
                            [
                                x["drift_sigma_star_offsets_pct_per_year"]
                                if x["drift_primary"] == "star-offsets"
                                else x["drift_sigma_pools_pct_per_year"]
                                for x in r
                            ]
                        )
                    ),
                    4,
                ),
                "drift_within_0p05_fraction": round(float(np.mean(np.abs(drift) <= 0.05)), 3),
                "drift_error_oracle_pct_per_year_rms": round(
                    float(np.sqrt(np.mean([x["drift_error_oracle_pct_per_year"] ** 2 for x in r]))), 4
                ),
                "drift_oracle_within_0p05_fraction": round(
                    float(np.mean([abs(x["drift_error_oracle_pct_per_year"]) <= 0.05 for x in r])), 3
                ),
                "drift_sigma_oracle_pct_per_year_mean": round(
                    float(np.mean([x["drift_sigma_oracle_unscaled_pct_per_year"] for x in r])), 4
                ),
                **(
                    {
                        "floor_worst_pool_pct": _worst_of(x["floor_worst_pool_pct"] for x in r),
                        "floor_worst_pool_after_warmup_pct": _worst_of(
                            x["floor_worst_pool_after_warmup_pct"] for x in r
                        ),
                    }
                    if "floor_worst_pool_pct" in r[0]
                    else {}
                ),
                "drift_error_pools_pct_per_year_rms": round(
                    float(np.sqrt(np.mean([x["drift_error_pools_pct_per_year"] ** 2 for x in r]))), 4
                ),
            }
    for band in BANDS:  # the common template mismatch, per seed: the pipeline's pulls beside the truth's z
        z = np.array([d["set_mismatch"][band]["z"] for d in docs])
        lo, hi = (math.sqrt(float(chi2.ppf(q, z.size)) / z.size) for q in (0.025, 0.975))
        out.setdefault("set_mismatch", {})[band] = {
            "z_rms": round(float(np.sqrt(np.mean(z**2))), 3),
            "rms_95_interval_unit_scatter": [round(lo, 2), round(hi, 2)],  # of the rms of z.size unit draws
            "z_per_seed": z.tolist(),
            "pipeline_pull_rms_per_seed": [d["bands"][band][PIPELINE]["pull_rms"] for d in docs],
        }
    for model in docs[0]["variable_stars"]:
        stars = [v for d in docs for v in d["variable_stars"][model]]
        out["variables"][model] = {
            "injected": len(stars),
            "flagged": sum(1 for v in stars if v["bands_flagged"]),
            "missed": [v for v in stars if not v["bands_flagged"]],
            "false_flag_star_fraction_mean": round(
                float(np.mean([d["variables"][model]["false_flag_star_fraction"] for d in docs])), 4
            ),
        }
    return out


def _seeds(text: str) -> list[int]:
    """``"1-20"`` or ``"1,4,7"`` -> the seeds."""
    if "-" in text:
        lo, hi = (int(x) for x in text.split("-"))
        return list(range(lo, hi + 1))
    return [int(x) for x in text.split(",")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--library", type=Path, required=True)
    ap.add_argument("--rsr-dir", type=Path, required=True)
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--stars", type=int, default=25)
    ap.add_argument("--set", type=int, default=80)
    ap.add_argument("--variables", type=int, default=3)
    ap.add_argument("--drift", type=float, default=-0.01)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--raw", type=Path, default=None, help="with --seeds: also write every run's document here")
    ap.add_argument(
        "--seeds",
        type=_seeds,
        default=None,
        help='several runs ("1-20" or "1,4,7"): prints only their summary (about 3.5 s a seed)',
    )
    args = ap.parse_args()
    if args.months < MIN_MONTHS:
        ap.error(f"--months must be >= {MIN_MONTHS}: the drift fits need two starpool epochs")
    t = time.perf_counter()
    if args.seeds:
        docs = [
            run(args.library, args.rsr_dir, args.months, args.stars, args.set, args.variables, args.drift, seed)
            for seed in args.seeds
        ]
        if args.raw is not None:
            args.raw.write_text(json.dumps(docs))
        doc = summarise(docs)
    else:
        doc = run(args.library, args.rsr_dir, args.months, args.stars, args.set, args.variables, args.drift, args.seed)
    doc["seconds"] = round(time.perf_counter() - t, 2)
    print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
