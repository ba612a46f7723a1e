"""Benchmark: MTF at Nyquist and A_k from simulated starpools, per truth PSF family (issue 15).

For N seeded PAN and MS (B2) starpools of 25 stars per truth family (ICD-1 vignettes: PAN 64 x 64·o,
MS 32 x 32·o, OVERSAMP 1-4, V 2-5.5 with ~1e6 DN total for a V = 2 star in PAN, dark, tilted
background, photon + read noise) it prints one JSON document with, per family, band and method:

* MTF at Nyquist (along/across track) against the truth: bias (mean error), rms error, and for the
  parametric fit its mean reported sigma and the pulls (error / sigma: mean and std);
* A_k from the PSF/EE chain, as the relative error of the star signal ``S_k`` (A_k is proportional
  to it, ICD-1 §1.3) against the simulated total signal: the fitted PSF flux (``fit_flux``) and the
  encircled-energy-corrected window sums (``ee_window_h``: ``monitor.science.photometry.measure_star``
  / ``monitor.science.ee_correction.effective_encircled_energy`` of the fitted PSF, h = 3, 5, 12 px),
  bias (mean over all stars) with its standard error, rms and pulls; ``windows_3_vs_12`` is the mean
  relative difference of the corrected h = 3 and h = 12 values (the window-agreement test);
  ``cog_window_h`` / ``cog_windows_3_vs_12``: the same with the curve-of-growth EE
  (``monitor.science.ee_correction.curve_of_growth_ee``, the data's own windows, the fitted PSF only
  for the light beyond the largest one, the line-like spider-vane spikes of the pooled residuals
  continued by ``line_excess``; ``--no-line``: without them, as before branch i15k); ``reported_pool``:
  what the system reports for A_k (``monitor.calibration.psf._star_signals``): the fitted fluxes when
  the fit passes its misfit tests (sigma with the model-choice term: the curve of growth's disagreement
  beyond its noise),
  else the curve-of-growth signal of the best window (``curve_of_growth_signals``), averaged over
  the pool: bias, rms, sigma and pulls per pool;
* time per starpool of each method (``ak_chain``: the 25 photometries + effective EEs), CPU seconds
  of this process (``time.process_time``: the machine may be shared; run with OMP_NUM_THREADS=1).

Truth families:

* ``model``: the estimator's own parametric model (``monitor.simulate.star.default_psf_params``), the
  Gaussian blur varied by x U(0.85, 1.2) from pool to pool (the benchmark before issue 15);
* ``in_family``, ``defocus``, ``astig_spiders``, ``tdi_smear``, ``microvibration``, ``red_star``,
  ``no_wings``: the independent pupil-based truth ``monitor.simulate.pupil_psf.truth_family`` (its own
  code path: pupil FFT, polychromatic, diffusion, pixel, smear, J0 micro-vibration, jitter), the jitter
  varied by x U(0.85, 1.2) from pool to pool. Its MTF has the system's definition (pixel aperture,
  diffusion, smear, jitter included; cy per native px).

Methods: ``parametric`` (``monitor.science.mtf_fit.fit_starpool_psf``, joint fit, nominal design
start), ``reported`` (what the system reports: the parametric fit unless its misfit tests fire or
it disagrees with the ePSF, else the ePSF on moment centres normalised by the data's own star
signals (curve of growth), sigma from a bootstrap over the stars (across track a wild bootstrap at the
pool's own phases), the signals' common error, the stack's own error on the fitted model and the
registration choice terms beyond their jackknife noise, and the spider spikes' light beyond the window
from the pool's own wide marginal weighted with the family's pools before it, which are one instrument's
starpool history (``monitor.science.mtf_nonparametric.spike_history_prior``, as the MTF stage does;
``--no-spike-history``: the pool's own gated correction alone); the parametric sigma is the fit's
and its model-choice term, the ePSF disagreement being recorded, not added:
``monitor.science.mtf_select.select_mtf``; its block gives
the fraction of pools reported by the ePSF (``epsf_fraction`` = ``detected_rate``), ``misfit_rate``,
and ``misfit_when_error_gt_3sigma`` / ``detected_when_error_gt_3sigma``: the fraction of the pools
whose parametric error in THIS noisy realisation exceeds 3 honest parametric sigma (the fit's
statistical sigma and its model-choice term ``PsfFitResult.mtf_nyquist_*_model_sigma``, not the
ePSF-disagreement term of the reported sigma, the ePSF comparison being itself a detector) that
the misfit tests flag / for which the system reports the ePSF; that set includes the noise
excursions an honest sigma must give, which no misfit test can flag. With ``--noise-free-bias``
the pool's parametric BIAS is measured instead (``noise_free_fit``: ``fit_starpool_psf``, as on
the noisy pool, of the pool's expected image: the same truth PSF, stars, centres, signals and
backgrounds without photon or read noise; to first order the mean of the estimator over noise;
about the cost of the noisy fit again): ``biased_pools_noise_free`` counts the pools whose
noise-free MTF@Nyquist error exceeds 3 honest sigma of the noisy fit in either direction,
``misfit_when_biased`` / ``detected_when_biased`` (and ``*_when_unbiased``) are the rates on
them (issue 15's target: misfit flagged in >= 95 % of pools where the parametric bias would
exceed 3 sigma), and the parametric block gives ``noise_free_bias_over_sigma_{mean,rms}_*``
per direction; ``--dump`` records the noise-free fit under ``noise_free`` (MTF, error, sigma
terms, chi2 and dof: the non-centrality of the noisy chi2 test, misfit statistics, values)),
``stacked_lsf`` (``monitor.science.epsf.epsf_mtf`` on the fit's centres and signals),
``photutils_epsf`` (photutils ``EPSFBuilder``, oversampling 4, defaults, on every o-th row of each
vignette, started from the fitted centres; MTF = Fourier transform of the ePSF marginal).

Run: ``OMP_NUM_THREADS=1 python benchmarks/mtf.py [--pools N] [--families a,b] [--bands P,B2]
[--seed S] [--no-photutils] [--dump pools.jsonl] [--free a,b,...] [--noise-free-bias] [--no-spike-history]``
(``--dump``: one JSON line per pool with the truth, both estimates and their sigma terms, the misfit
statistics, the curve of growth and the CPU seconds, for pull studies without refitting; ``--free``:
the fit's free shared parameters, e.g. ``mtf_fit.DEFAULT_FREE`` plus ``obscuration`` with its design
prior; ``--noise-free-bias``: the parametric bias above, from a second fit of each pool's expected
image).

``--joint [--joint-variant NAME=a,b/c,d ...]``: instead, per family, N pools of the four MS
bands B0-B3 drawn from ONE pupil realisation (``joint_pool_truths``: the family's pupil, spiders,
smear, micro-vibration and one jitter draw common to the bands, its wave-front error one optical path
difference, in waves at 0.655 µm; each band polychromatic over its own band and the family's star
spectrum, by pupil_psf's own code path), the same 25 stars in every band (V, OVERSAMP, position, a
±0.5 px registration offset per band); per band, the single-band fit (``parametric``,
``fit_starpool_psf`` band by band) and the joint fit (``joint``, ``monitor.science.mtf_joint``) on
the same pools (one block per variant NAME: shared parameters a,b, per-band c,d): MTF@Nyquist bias,
rms, mean statistical and honest sigma (statistical and model-choice term), pulls of both, misfit rate,
and CPU seconds per pool for all four bands.
"""

from __future__ import annotations

import argparse
import json
import math
import time
import warnings
from typing import Any

import numpy as np

from monitor.calibration.psf import COG_MAX_WINDOW_FRACTION
from monitor.domain import DEFAULT_STAR_HALF_WIDTHS_PX
from monitor.science.ee_correction import (
    curve_of_growth_ee,
    curve_of_growth_signals,
    effective_ee_with_sigma,
    effective_encircled_energy,
    line_excess,
)
from monitor.science.epsf import epsf_mtf
from monitor.science.mtf_fit import DEFAULT_FREE, fit_starpool_psf
from monitor.science.mtf_nonparametric import nonparametric_mtf, spike_history_prior
from monitor.science.mtf_select import model_choice_sigma, select_mtf
from monitor.science.photometry import measure_star, vignette_header
from monitor.science.psf import PsfParams, mtf_nyquist
from monitor.simulate import pupil_psf
from monitor.simulate.star import (
    add_detector_noise,
    default_psf_params,
    default_vignette_shape,
    expected_star_vignette_dn,
    plane_excursion_dn,
)

DARK_DN = 200.0
# A noisier detector than the nominal one (monitor.science.instrument: READ_NOISE_DN 1.5 DN, 20 e-/DN).
GAIN_E_PER_DN = 2.0
READ_NOISE_DN = 5.0
BANDS = {"P": 1e6, "B2": 5e5}  # band -> total signal of a V = 2 star at o = 1, DN
FAMILIES = ("model", *pupil_psf.FAMILIES)
DEFAULT_FAMILIES = ("in_family", "defocus", "astig_spiders", "tdi_smear", "microvibration", "red_star")
AK_WINDOWS = (3, 5, 12)  # half-widths of the EE-corrected window sums, native px
# Curve-of-growth windows: the system's (monitor.calibration.psf: the configured ICD-1 §4 windows,
# DEFAULT_STAR_HALF_WIDTHS_PX, up to COG_MAX_WINDOW_FRACTION of the vignette width): PAN 2-20 px on 64-px
# vignettes, MS 2-12 px on 32-px ones (before issue 15's last round the benchmark used 3, 5, 12, 20 and
# 3, 5, 12, which the system does not).
AK_WINDOWS_PAN = tuple(h for h in DEFAULT_STAR_HALF_WIDTHS_PX if 2 * h + 1 <= COG_MAX_WINDOW_FRACTION * 64)
AK_WINDOWS_MS = tuple(h for h in DEFAULT_STAR_HALF_WIDTHS_PX if 2 * h + 1 <= COG_MAX_WINDOW_FRACTION * 32)
Truth = PsfParams | pupil_psf.PupilTruth


def _vignette(
    rng: np.random.Generator,
    truth: Truth,
    shape: tuple[int, int],
    center: tuple[float, float],
    o: float,
    signal_dn: float,
    background_dn: float,
    slope: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """One dark-subtracted star vignette (DN) of the truth PSF, photon + read noise, tilted background,
    and its expected value (the same image without noise: ``monitor.simulate.star.expected_star_vignette_dn``;
    the noisy one is ``simulate_star_vignette``'s, same draws, minus the dark)."""
    expected = expected_star_vignette_dn(
        total_signal_dn=signal_dn,
        shape=shape,
        center_xy=center,
        oversamp=o,
        psf=truth,
        background_dn=background_dn + plane_excursion_dn(slope, shape),  # plane >= 0 everywhere
        background_slope=slope,
    )
    img = add_detector_noise(rng, expected, dark_dn=DARK_DN, gain_e_per_dn=GAIN_E_PER_DN, read_noise_dn=READ_NOISE_DN)
    return img.astype(np.float64) - DARK_DN, expected


def simulate_pool(
    rng: np.random.Generator, band: str, truth: Truth, n_stars: int
) -> tuple[list[np.ndarray], list[float], np.ndarray, list[np.ndarray]]:
    """One starpool: dark-subtracted vignettes, their oversampling factors, true signals S_k (DN) and
    the vignettes' expected values (noise-free, dark-subtracted, DN: the same stars, centres, signals
    and backgrounds; for the pool's parametric bias, ``--noise-free-bias``)."""
    vignettes, oversamps, signals, expected = [], [], [], []
    for _ in range(n_stars):
        o = float(rng.integers(1, 5))
        shape = default_vignette_shape("PHR", band, o)
        v_mag = rng.uniform(2.0, 5.5)
        signal = BANDS[band] * 10 ** (-0.4 * (v_mag - 2.0)) * o
        center = ((shape[1] - 1) / 2 + rng.uniform(-3, 3), (shape[0] - 1) / 2 + rng.uniform(-3, 3) * o)
        bg = rng.uniform(5.0, 40.0)
        slope = (rng.normal(0.0, 0.1), rng.normal(0.0, 0.1))
        noisy, mean = _vignette(rng, truth, shape, center, o, signal, bg, slope)
        vignettes.append(noisy)
        expected.append(mean)
        oversamps.append(o)
        signals.append(signal)
    return vignettes, oversamps, np.asarray(signals), expected


def pool_truth(rng: np.random.Generator, family: str, band: str) -> tuple[Truth, tuple[float, float]]:
    """Truth PSF of one pool and its MTF at Nyquist (along, across)."""
    if family == "model":  # the pre-issue-15 benchmark: the estimator's own family
        nominal = default_psf_params("PHR", band)
        truth = nominal.replace(
            sigma_along_px=nominal.sigma_along_px * rng.uniform(0.85, 1.2),
            sigma_across_px=nominal.sigma_across_px * rng.uniform(0.85, 1.2),
        )
        return truth, mtf_nyquist(truth)
    base = pupil_psf.truth_family(family, "PHR", band)
    pupil = base.replace(
        jitter_along_px=base.jitter_along_px * rng.uniform(0.85, 1.2),
        jitter_across_px=base.jitter_across_px * rng.uniform(0.85, 1.2),
    )
    return pupil, pupil_psf.mtf_nyquist(pupil)


def photutils_mtf(
    vignettes: list[np.ndarray], oversamps: list[float], centers_xy: np.ndarray, size: int
) -> tuple[float, float]:
    """MTF at Nyquist (along, across) from a photutils 3.0 EPSFBuilder ePSF (oversampling 4)."""
    from astropy.nddata import NDData
    from astropy.table import Table
    from photutils.psf import EPSFBuilder, extract_stars

    datas, cats = [], []
    for img, o, (cx, cy) in zip(vignettes, oversamps, centers_xy, strict=True):
        step = int(round(o))
        phase = int(round(cy)) % step  # keep the row through the star's centre
        sub = img[phase::step]
        border = np.concatenate([sub[:2].ravel(), sub[-2:].ravel(), sub[:, :2].ravel(), sub[:, -2:].ravel()])
        datas.append(NDData(sub - np.median(border)))
        cats.append(Table({"x": [cx], "y": [(cy - phase) / step]}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stars = extract_stars(datas, cats, size=size)
        epsf, _ = EPSFBuilder(oversampling=4, maxiters=10, progress_bar=False)(stars)
    data = np.asarray(epsf.data, dtype=np.float64)
    out = []
    for axis in (1, 0):  # along: marginal over columns -> profile in y; across: over rows
        lsf = data.sum(axis=axis)
        pos = (np.arange(lsf.size) - (lsf.size - 1) / 2.0) / 4.0
        ft = np.abs(np.exp(-2j * np.pi * 0.5 * pos) @ lsf) / abs(lsf.sum())
        out.append(float(ft))
    return out[0], out[1]


def ak_chain(
    fit: Any, vignettes: list[np.ndarray], oversamps: list[float], signals: np.ndarray, use_line: bool = True
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Relative errors of the star signals from the PSF/EE chain and their 1-sigma, per estimator.

    ``fit_flux``: the fitted PSF flux ``S = o F`` (``PsfFitResult.fluxes_dn``); ``ee_window_h``: the
    window sum of ``measure_star`` divided by the effective EE of the fitted PSF at the fitted centre,
    sigma from the window noise and the EE uncertainty (``effective_ee_with_sigma``); ``cog_window_h``:
    the same sums over the curve-of-growth EE (``curve_of_growth_ee``: the data's own curve of growth,
    the fitted PSF only for the wing beyond the largest window), sigma with its common EE term.
    """
    windows = AK_WINDOWS_PAN if vignettes[0].shape[1] >= 64 else AK_WINDOWS_MS
    out: dict[str, tuple[list[float], list[float]]] = {"fit_flux": ([], [])}
    out.update({f"ee_window_{h}": ([], []) for h in AK_WINDOWS})
    sums, sums_sigma, ee_all = [], [], []
    for k, (img, o, s_true) in enumerate(zip(vignettes, oversamps, signals, strict=True)):
        out["fit_flux"][0].append(fit.fluxes_dn[k] / s_true - 1.0)
        out["fit_flux"][1].append(fit.fluxes_sigma_dn[k] / s_true)
        cx, cy = (float(v) for v in fit.centers_xy[k])
        header = vignette_header(img.shape, (cx, cy), o, band="bench")
        phot = measure_star(img, header, windows, guess_xy=(cx, cy), gain_e_per_dn=GAIN_E_PER_DN)
        ee_w = effective_encircled_energy(fit.params, img.shape, (cx, cy), o, windows)
        sums.append(phot.sums_dn)
        sums_sigma.append(phot.sigmas_dn)
        ee_all.append(ee_w)
        idx = [windows.index(h) for h in AK_WINDOWS]
        ee = ee_w[idx]
        ee_f, ee_sigma = effective_ee_with_sigma(ee[None, :], AK_WINDOWS, fit.ee_half_widths_px, fit.ee, fit.ee_sigma)
        corrected = phot.sums_dn[idx] / ee_f[0]
        rel_sigma = np.sqrt((phot.sigmas_dn[idx] / phot.sums_dn[idx]) ** 2 + (ee_sigma[0] / ee_f[0]) ** 2)
        for j, h in enumerate(AK_WINDOWS):
            out[f"ee_window_{h}"][0].append(corrected[j] / s_true - 1.0)
            out[f"ee_window_{h}"][1].append(rel_sigma[j] * corrected[j] / s_true)
    s_arr, ss_arr, ee_arr = np.asarray(sums), np.asarray(sums_sigma), np.asarray(ee_all)
    line = None
    if use_line:  # the spikes' part of the data's excess over the fit (monitor.science.ee_correction.line_excess)
        line = line_excess(
            vignettes,
            oversamps,
            fit.centers_xy,
            fit.params,
            s_arr[:, -1] / ee_arr[:, -1],
            (windows[-2], windows[-1]),
            gain_e_per_dn=GAIN_E_PER_DN,
        )
    cog = curve_of_growth_ee(s_arr, ss_arr, ee_arr, windows, line=line)
    corrected = s_arr / cog.ee
    rel = np.hypot(ss_arr / s_arr, cog.rel_sigma[None, :])
    res = {name: (np.asarray(e), np.asarray(s)) for name, (e, s) in out.items()}
    for j, h in enumerate(windows):
        res[f"cog_window_{h}"] = (corrected[:, j] / signals - 1.0, rel[:, j] * corrected[:, j] / signals)
    res["cog_tail"] = (np.array([cog.tail]), np.array([cog.tail_sigma]))
    res["cog_info"] = cog.as_dict()  # type: ignore[assignment]
    j = windows.index(cog.h_max)
    res["cog_flux"] = (s_arr[:, j] / cog.ee[:, j], np.zeros(len(signals)))  # the data's star signals, DN
    res["cog_flux_rel_sigma"] = (np.array([cog.rel_sigma[j]]), np.zeros(1))
    # the reported signal (curve_of_growth_signals): its pool mean's error and 1-sigma (own noise / sqrt(n)
    # and the common EE term), as the starpool's A_k (A is proportional to S)
    sig, sig_sigma, _, common = curve_of_growth_signals(cog, s_arr, ss_arr)
    e = sig / signals - 1.0
    w = 1.0 / (sig_sigma / signals) ** 2
    mean = float(w @ e / w.sum())
    res["cog_pool"] = (np.array([mean]), np.array([math.hypot(1.0 / math.sqrt(float(w.sum())), common)]))
    res["cog_info"] |= {"pool_stat": 1.0 / math.sqrt(float(w.sum())), "common": common}  # type: ignore[operator]
    # the fit's fluxes, pool mean, with the model-choice term of monitor.calibration.psf._star_signals
    # (the data's curve of growth vs the fit beyond its noise): what the system reports when the fit
    # passes its misfit tests
    f_flux = np.asarray(fit.fluxes_dn, dtype=float)
    ef, wf = f_flux / signals - 1.0, 1.0 / (np.asarray(fit.fluxes_sigma_dn) / signals) ** 2
    diff = float(np.sum(sig) / np.sum(f_flux) - 1.0)
    diff_sigma = math.hypot(common, float(np.sqrt(np.sum(sig_sigma**2)) / np.sum(sig)))
    model = float(model_choice_sigma(diff, diff_sigma))
    res["fit_pool"] = (  # with the fit's own model-choice term of its fluxes
        np.array([float(wf @ ef / wf.sum())]),
        np.array([math.sqrt(1.0 / float(wf.sum()) + model**2 + fit.flux_model_rel_sigma**2)]),
    )
    return res


def _mtf_stats(
    errors: list[tuple[float, float]], times: list[float], sigmas: list[tuple[float, float]] | None
) -> dict[str, Any]:
    e = np.asarray(errors)
    out = {
        "bias_along": float(e[:, 0].mean()),
        "bias_across": float(e[:, 1].mean()),
        "rms_error_along": float(np.sqrt(np.mean(e[:, 0] ** 2))),
        "rms_error_across": float(np.sqrt(np.mean(e[:, 1] ** 2))),
        "seconds_per_pool": float(np.mean(times)),
    }
    if sigmas:
        s = np.asarray(sigmas)
        pulls = e / s
        out |= {
            "mean_sigma_along": float(s[:, 0].mean()),
            "mean_sigma_across": float(s[:, 1].mean()),
            "pull_mean_along": float(pulls[:, 0].mean()),
            "pull_mean_across": float(pulls[:, 1].mean()),
            "pull_std_along": float(pulls[:, 0].std(ddof=1)) if len(pulls) > 1 else math.nan,
            "pull_std_across": float(pulls[:, 1].std(ddof=1)) if len(pulls) > 1 else math.nan,
        }
    return out


def _ak_stats(errors: np.ndarray, sigmas: np.ndarray) -> dict[str, float]:
    ok = np.isfinite(errors) & np.isfinite(sigmas) & (sigmas > 0)
    e, s = errors[ok], sigmas[ok]
    pulls = e / s
    return {
        "bias": float(e.mean()),
        "bias_standard_error": float(e.std(ddof=1) / math.sqrt(e.size)),
        "rms": float(np.sqrt(np.mean(e**2))),
        "median": float(np.median(e)),
        "pull_mean": float(pulls.mean()),
        "pull_std": float(pulls.std(ddof=1)),
        "n_stars": int(e.size),
    }


def noise_free_fit(
    expected: list[np.ndarray],
    oversamps: list[float],
    nominal: PsfParams,
    truth_mtf: tuple[float, float],
    free: tuple[str, ...] = DEFAULT_FREE,
) -> dict[str, Any]:
    """The parametric fit of a pool's expected (noise-free) image: the pool's parametric bias.

    ``fit_starpool_psf`` exactly as on the noisy pool (same start, free parameters, read noise and gain:
    its weights are the noise model's variance of the expected image, then of the fitted model), on the
    vignettes' expected values (``simulate_pool``). To first order in the noise the estimator's mean
    over noise realisations is this fit, so its MTF@Nyquist error (along, across) is the bias of the
    parametric model on this pool; its chi2 is the non-centrality of the noisy fit's chi2 misfit test
    (the expected chi2 excess that the model error adds to the noise's ``dof``).
    """
    nf = fit_starpool_psf(
        expected, oversamps, nominal, read_noise_dn=READ_NOISE_DN, gain_e_per_dn=GAIN_E_PER_DN, free=free
    )
    mtf = (nf.mtf_nyquist_along, nf.mtf_nyquist_across)
    return {
        "fit": list(mtf),
        "error": [mtf[0] - truth_mtf[0], mtf[1] - truth_mtf[1]],
        "fit_sigma": [nf.mtf_nyquist_along_sigma, nf.mtf_nyquist_across_sigma],
        "fit_model_sigma": [nf.mtf_nyquist_along_model_sigma, nf.mtf_nyquist_across_model_sigma],
        "chi2": nf.chi2,
        "dof": nf.dof,
        "misfit": nf.misfit.as_dict(),
        "fit_values": dict(zip(nf.free_names, map(float, nf.values), strict=True)),
    }


def run_family(family: str, band: str, args: argparse.Namespace) -> dict[str, Any]:
    """All pools of one family and band; the benchmark JSON block of that pair."""
    seed = [args.seed, len(band), ord(band[-1])]  # "model": the pre-issue-15 streams
    if family != "model":
        seed.append(FAMILIES.index(family))
    rng = np.random.default_rng(seed)
    nominal = default_psf_params("PHR", band)
    mtf_res: dict[str, tuple[list[tuple[float, float]], list[float]]] = {
        "parametric": ([], []),
        "reported": ([], []),
        "stacked_lsf": ([], []),
        "photutils_epsf": ([], []),
    }
    sigmas: list[tuple[float, float]] = []
    rep_sigmas: list[tuple[float, float]] = []
    flagged: list[bool] = []
    error_gt_3sigma: list[bool] = []  # this realisation's parametric error > 3 honest sigma
    biased_nf: list[bool] = []  # the parametric bias (noise-free fit) > 3 honest sigma (--noise-free-bias)
    nf_pulls: list[tuple[float, float]] = []  # noise-free error / honest sigma of the noisy fit
    epsf_chosen: list[bool] = []
    chi2: list[float] = []
    truths: list[tuple[float, float]] = []
    ak: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}
    ak_times: list[float] = []
    w3_vs_12: list[np.ndarray] = []
    cog_3_vs_12: list[np.ndarray] = []
    tails: list[float] = []
    ak_pool: list[tuple[float, float]] = []
    sim_times: list[float] = []
    records: list[dict[str, Any]] = []  # per-pool record for --dump
    # the pools are one instrument's starpool history (same pupil, same vanes): each ePSF gets the spike
    # deficit of the pools before it, as the MTF stage does (monitor.calibration.psf.spike_prior)
    spike_history: tuple[list[tuple[float, float]], list[tuple[float, float]]] = ([], [])
    for pool_index in range(args.pools):
        truth, (t_along, t_across) = pool_truth(rng, family, band)
        truths.append((t_along, t_across))
        t0 = time.process_time()
        vignettes, oversamps, signals, expected = simulate_pool(rng, band, truth, args.stars)
        sim_times.append(time.process_time() - t0)

        t0 = time.process_time()
        fit = fit_starpool_psf(
            vignettes, oversamps, nominal, read_noise_dn=READ_NOISE_DN, gain_e_per_dn=GAIN_E_PER_DN, free=args.free
        )
        mtf_res["parametric"][1].append(time.process_time() - t0)
        nf_rec = None
        if args.noise_free_bias:
            t0 = time.process_time()
            nf_rec = noise_free_fit(expected, oversamps, nominal, (t_along, t_across), args.free)
            nf_rec["seconds"] = time.process_time() - t0
        mtf_res["parametric"][0].append((fit.mtf_nyquist_along - t_along, fit.mtf_nyquist_across - t_across))
        sigmas.append((fit.mtf_nyquist_along_sigma, fit.mtf_nyquist_across_sigma))
        chi2.append(fit.chi2_dof)

        t0 = time.process_time()
        chain = ak_chain(fit, vignettes, oversamps, signals, use_line=not args.no_line)
        ak_times.append(time.process_time() - t0)
        tails.append(float(chain.pop("cog_tail")[0][0]))
        cog_info = chain.pop("cog_info")
        cog_pool, fit_pool = chain.pop("cog_pool"), chain.pop("fit_pool")
        pool_e, pool_s = cog_pool if fit.misfit.flagged else fit_pool  # the system's choice
        ak_pool.append((float(pool_e[0]), float(pool_s[0])))
        data_flux = chain.pop("cog_flux")[0]
        flux_rel_sigma = float(chain.pop("cog_flux_rel_sigma")[0][0])

        t0 = time.process_time()
        hw_m = 6 if band == "P" else 4
        ep = nonparametric_mtf(
            vignettes,
            oversamps,
            fit,
            fluxes_dn=data_flux,
            flux_rel_sigma=flux_rel_sigma,
            half_width_px=8 if band == "P" else 6,
            moment_half_width_px=hw_m,
            n_bootstrap=100,
            spike_prior=None if args.no_spike_history else spike_history_prior(*spike_history),
        )
        if ep.nyquist_sigma_terms is not None and "spike_raw" in ep.nyquist_sigma_terms:
            spike_history[0].append(ep.nyquist_sigma_terms["spike_raw"])
            spike_history[1].append(ep.nyquist_sigma_terms["spike_raw_noise"])
        sel = select_mtf(
            (fit.mtf_nyquist_along, fit.mtf_nyquist_across),
            (fit.mtf_nyquist_along_sigma, fit.mtf_nyquist_across_sigma),
            ep,
            fit.misfit.flagged,
            parametric_model_sigma=(fit.mtf_nyquist_along_model_sigma, fit.mtf_nyquist_across_model_sigma),
        )
        mtf_res["reported"][1].append(time.process_time() - t0 + mtf_res["parametric"][1][-1])
        mtf_res["reported"][0].append((sel.mtf_nyquist_along - t_along, sel.mtf_nyquist_across - t_across))
        rep_sigmas.append((sel.mtf_nyquist_along_sigma, sel.mtf_nyquist_across_sigma))
        flagged.append(bool(fit.misfit.flagged))
        epsf_chosen.append(sel.method == "epsf")
        # against the parametric estimate's own honest sigma: statistical and its model-choice term (not
        # the ePSF-disagreement term, the ePSF comparison being itself a misfit detector)
        p_sigma = np.hypot(
            (fit.mtf_nyquist_along_sigma, fit.mtf_nyquist_across_sigma),
            (fit.mtf_nyquist_along_model_sigma, fit.mtf_nyquist_across_model_sigma),
        )
        error_gt_3sigma.append(
            abs(fit.mtf_nyquist_along - t_along) > 3 * p_sigma[0]
            or abs(fit.mtf_nyquist_across - t_across) > 3 * p_sigma[1]
        )
        if nf_rec is not None:  # the parametric BIAS (noise-free fit) against the noisy fit's honest sigma
            nf_pulls.append(tuple(float(v) for v in np.asarray(nf_rec["error"]) / p_sigma))
            biased_nf.append(bool(np.any(np.abs(nf_pulls[-1]) > 3.0)))

        for name, (e, s) in chain.items():
            ak.setdefault(name, ([], []))
            ak[name][0].append(e)
            ak[name][1].append(s)
        w3_vs_12.append((chain["ee_window_3"][0] - chain["ee_window_12"][0]) / (1.0 + chain["ee_window_12"][0]))
        cog_3_vs_12.append((chain["cog_window_3"][0] - chain["cog_window_12"][0]) / (1.0 + chain["cog_window_12"][0]))

        hw = 8 if band == "P" else 6
        t0 = time.process_time()
        lsf = epsf_mtf(
            vignettes,
            oversamps,
            fit.centers_xy,
            fluxes_dn=fit.fluxes_dn,
            backgrounds_dn=fit.backgrounds_dn,
            half_width_px=hw,
        )
        mtf_res["stacked_lsf"][1].append(time.process_time() - t0)
        mtf_res["stacked_lsf"][0].append((lsf.mtf_nyquist_along - t_along, lsf.mtf_nyquist_across - t_across))

        records.append(
            {
                "family": family,
                "band": band,
                "pool": pool_index,
                "truth": [t_along, t_across],
                "fit": [fit.mtf_nyquist_along, fit.mtf_nyquist_across],
                "fit_sigma": [fit.mtf_nyquist_along_sigma, fit.mtf_nyquist_across_sigma],
                "fit_model_sigma": [fit.mtf_nyquist_along_model_sigma, fit.mtf_nyquist_across_model_sigma],
                "fit_sigma_honest": [sel.parametric_sigma_along, sel.parametric_sigma_across],
                "flux_model_rel_sigma": fit.flux_model_rel_sigma,
                "model_ensemble": fit.model_ensemble,
                "fit_values": dict(zip(fit.free_names, map(float, fit.values), strict=True)),
                "fit_free_sigma": dict(zip(fit.free_names, map(float, np.sqrt(np.diag(fit.covariance))), strict=True)),
                "fit_covariance": fit.covariance.tolist(),
                "fit_active_bounds": list(fit.active_bounds),
                "misfit": fit.misfit.as_dict(),
                "epsf": [ep.mtf_nyquist_along, ep.mtf_nyquist_across],
                "epsf_sigma": [ep.mtf_nyquist_along_sigma, ep.mtf_nyquist_across_sigma],
                "epsf_sigma_terms": ep.nyquist_sigma_terms,
                "lsf": [lsf.mtf_nyquist_along, lsf.mtf_nyquist_across],
                "reported": [sel.mtf_nyquist_along, sel.mtf_nyquist_across],
                "reported_sigma": [sel.mtf_nyquist_along_sigma, sel.mtf_nyquist_across_sigma],
                "method": sel.method,
                "ak_fit_pool": [float(fit_pool[0][0]), float(fit_pool[1][0])],
                "ak_cog_pool": [float(cog_pool[0][0]), float(cog_pool[1][0])],
                "cog_tail": tails[-1],
                "cog": cog_info,
                "seconds_fit": mtf_res["parametric"][1][-1],
                "seconds_reported": mtf_res["reported"][1][-1],
                "seconds_ak": ak_times[-1],
            }
        )
        if nf_rec is not None:
            records[-1]["noise_free"] = nf_rec

        if not args.no_photutils:
            t0 = time.process_time()
            p_along, p_across = photutils_mtf(vignettes, oversamps, fit.centers_xy, 2 * hw + 1)
            mtf_res["photutils_epsf"][1].append(time.process_time() - t0)
            mtf_res["photutils_epsf"][0].append((p_along - t_along, p_across - t_across))

    tr = np.asarray(truths)
    block: dict[str, Any] = {
        "truth_mtf_nyquist_along": float(tr[:, 0].mean()),
        "truth_mtf_nyquist_across": float(tr[:, 1].mean()),
        "simulation_seconds_per_pool": float(np.mean(sim_times)),
        "mtf": {
            name: _mtf_stats(e, t, {"parametric": sigmas, "reported": rep_sigmas}.get(name))
            for name, (e, t) in mtf_res.items()
            if e
        },
        "a_k": {name: _ak_stats(np.concatenate(e), np.concatenate(s)) for name, (e, s) in ak.items()},
    }
    block["mtf"]["parametric"]["chi2_dof_mean"] = float(np.mean(chi2))
    fl, ep_chosen, big = np.asarray(flagged), np.asarray(epsf_chosen), np.asarray(error_gt_3sigma)
    block["mtf"]["reported"] |= {
        "epsf_fraction": float(np.mean(epsf_chosen)),
        "misfit_rate": float(fl.mean()),
        # detected = the system does not report the parametric MTF (misfit tests or ePSF disagreement)
        "detected_rate": float(np.mean(epsf_chosen)),
        # per realisation: this noisy pool's parametric error > 3 honest sigma (noise excursions included)
        "error_gt_3sigma_pools": int(big.sum()),
        "misfit_when_error_gt_3sigma": float(fl[big].mean()) if big.any() else None,
        "detected_when_error_gt_3sigma": float(ep_chosen[big].mean()) if big.any() else None,
    }
    if args.noise_free_bias:  # the parametric model's bias: the noise-free fit's error > 3 honest sigma
        bi, nfp = np.asarray(biased_nf), np.asarray(nf_pulls)
        block["mtf"]["reported"] |= {
            "biased_pools_noise_free": int(bi.sum()),
            "misfit_when_biased": float(fl[bi].mean()) if bi.any() else None,
            "detected_when_biased": float(ep_chosen[bi].mean()) if bi.any() else None,
            "misfit_when_unbiased": float(fl[~bi].mean()) if (~bi).any() else None,
            "detected_when_unbiased": float(ep_chosen[~bi].mean()) if (~bi).any() else None,
        }
        block["mtf"]["parametric"] |= {
            "noise_free_bias_over_sigma_mean_along": float(nfp[:, 0].mean()),
            "noise_free_bias_over_sigma_mean_across": float(nfp[:, 1].mean()),
            "noise_free_bias_over_sigma_rms_along": float(np.sqrt(np.mean(nfp[:, 0] ** 2))),
            "noise_free_bias_over_sigma_rms_across": float(np.sqrt(np.mean(nfp[:, 1] ** 2))),
        }
    block["a_k"]["windows_3_vs_12"] = {"mean": float(np.concatenate(w3_vs_12).mean())}
    block["a_k"]["cog_windows_3_vs_12"] = {"mean": float(np.concatenate(cog_3_vs_12).mean())}
    block["a_k"]["cog_tail_mean"] = float(np.mean(tails))
    block["a_k"]["seconds_per_pool"] = float(np.mean(ak_times))
    pe = np.asarray(ak_pool)
    block["a_k"]["reported_pool"] = {  # the system's A_k: fit flux, or curve of growth when flagged (issue 15)
        "bias": float(pe[:, 0].mean()),
        "rms": float(np.sqrt(np.mean(pe[:, 0] ** 2))),
        "mean_sigma": float(pe[:, 1].mean()),
        "pull_mean": float(np.mean(pe[:, 0] / pe[:, 1])),
        "pull_std": float(np.std(pe[:, 0] / pe[:, 1], ddof=1)) if len(pe) > 1 else math.nan,
    }
    if args.dump:
        with open(args.dump, "a", encoding="utf-8") as fh:
            for rec in records:
                fh.write(json.dumps(rec) + "\n")
    return block


# ---------------------------------------------------------------------------------------------------
# --joint: the MS bands of one starpool from ONE pupil realisation, fitted jointly (issue 15)
# ---------------------------------------------------------------------------------------------------
MS_BANDS = ("B0", "B1", "B2", "B3")
MS_SIGNAL_DN = 5e5  # total signal of a V = 2 star at o = 1 in every MS band, DN (BANDS["B2"])
# The families' wave-front errors (pupil_psf.truth_family: waves rms at each band's centre) are read as
# one optical path difference, in waves at B2's centre (0.655 um: B2 sees the single-band benchmark's
# truth); band b gets W_b = W · 0.655 / lambda_c,b waves.
JOINT_OPD_REFERENCE_UM = 0.655
_ZERNIKE_FIELDS = ("defocus_waves", "astig0_waves", "astig45_waves", "coma_x_waves", "coma_y_waves")
JOINT_REGISTRATION_PX = 0.5  # band-to-band registration of a star's centre, U(-0.5, 0.5) native px


def joint_pool_truths(rng: np.random.Generator, family: str) -> dict[str, pupil_psf.PupilTruth]:
    """The MS bands' truths of one pool from one pupil realisation: the family's pupil (obscuration,
    spiders), optical path difference, smear, micro-vibration and one jitter draw (x U(0.85, 1.2) along
    and across, native MS px, common to the bands); each band polychromatic over its own band
    (``truth_family``: 11 nodes of its flat RSR times the family's star spectrum) and its own diffusion."""
    f_along, f_across = rng.uniform(0.85, 1.2, size=2)
    truths = {}
    for band in MS_BANDS:
        base = pupil_psf.truth_family(family, "PHR", band)
        k = JOINT_OPD_REFERENCE_UM / base.lambda_ref_um
        truths[band] = base.replace(
            jitter_along_px=base.jitter_along_px * f_along,
            jitter_across_px=base.jitter_across_px * f_across,
            **{f: getattr(base, f) * k for f in _ZERNIKE_FIELDS},
        )
    return truths


def simulate_joint_pool(
    rng: np.random.Generator, truths: dict[str, pupil_psf.PupilTruth], n_stars: int
) -> dict[str, tuple[list[np.ndarray], list[float], np.ndarray]]:
    """The same n_stars in every band (V, oversampling, position; a registration offset per band)."""
    stars = []
    for _ in range(n_stars):
        o = float(rng.integers(1, 5))
        v_mag = rng.uniform(2.0, 5.5)
        dxy = (rng.uniform(-3, 3), rng.uniform(-3, 3))
        stars.append((o, v_mag, dxy, rng.uniform(5.0, 40.0), (rng.normal(0.0, 0.1), rng.normal(0.0, 0.1))))
    out = {}
    for band, truth in truths.items():
        vignettes, oversamps, signals = [], [], []
        for o, v_mag, dxy, bg, slope in stars:
            shape = default_vignette_shape("PHR", band, o)
            reg = rng.uniform(-JOINT_REGISTRATION_PX, JOINT_REGISTRATION_PX, size=2)
            center = ((shape[1] - 1) / 2 + dxy[0] + reg[0], (shape[0] - 1) / 2 + (dxy[1] + reg[1]) * o)
            signal = MS_SIGNAL_DN * 10 ** (-0.4 * (v_mag - 2.0)) * o
            vignettes.append(_vignette(rng, truth, shape, center, o, signal, bg, slope)[0])
            oversamps.append(o)
            signals.append(signal)
        out[band] = (vignettes, oversamps, np.asarray(signals))
    return out


def run_family_joint(family: str, args: argparse.Namespace) -> dict[str, Any]:
    """All --joint pools of one family: per MS band, the single-band fit (``parametric``) and the joint
    fit (``joint``, monitor.science.mtf_joint) on the same pools; CPU seconds per pool (all 4 bands)."""
    from monitor.science.instrument import BAND_CENTRES_UM
    from monitor.science.mtf_joint import BandStars, fit_starpool_psf_joint

    rng = np.random.default_rng([args.seed, 99, FAMILIES.index(family)])
    nominal = {b: default_psf_params("PHR", b) for b in MS_BANDS}
    methods = ("parametric", *args.joint_variants)
    err: dict[str, dict[str, list[tuple[float, float]]]] = {m: {b: [] for b in MS_BANDS} for m in methods}
    sig: dict[str, dict[str, list[tuple[float, float]]]] = {m: {b: [] for b in MS_BANDS} for m in methods}
    honest: dict[str, dict[str, list[tuple[float, float]]]] = {m: {b: [] for b in MS_BANDS} for m in methods}
    flags: dict[str, dict[str, list[bool]]] = {m: {b: [] for b in MS_BANDS} for m in methods}
    secs: dict[str, list[float]] = {m: [] for m in methods}
    records = []
    for pool_index in range(args.pools):
        truths = joint_pool_truths(rng, family)
        data = simulate_joint_pool(rng, truths, args.stars)
        t0 = time.process_time()
        single = {
            b: fit_starpool_psf(
                data[b][0],
                data[b][1],
                nominal[b],
                read_noise_dn=READ_NOISE_DN,
                gain_e_per_dn=GAIN_E_PER_DN,
                free=args.free,
            )
            for b in MS_BANDS
        }
        secs["parametric"].append(time.process_time() - t0)
        stars = {
            b: BandStars(
                data[b][0],
                data[b][1],
                nominal[b],
                1000.0 * BAND_CENTRES_UM[("PHR", b)][0],
                READ_NOISE_DN,
                GAIN_E_PER_DN,
            )
            for b in MS_BANDS
        }
        joints = {}
        for name, (shared, per_band) in args.joint_variants.items():
            t0 = time.process_time()
            joints[name] = fit_starpool_psf_joint(stars, shared=shared, per_band=per_band)
            secs[name].append(time.process_time() - t0)
        rec: dict[str, Any] = {
            "family": family,
            "pool": pool_index,
            "seconds": {m: secs[m][-1] for m in methods},
            "joint_values": {
                name: dict(zip(j.global_names, map(float, j.values), strict=True)) for name, j in joints.items()
            },
            "bands": {},
        }
        for b in MS_BANDS:
            t = pupil_psf.mtf_nyquist(truths[b])
            rec["bands"][b] = {"truth": list(t)}
            for m, fit in (("parametric", single[b]), *((name, j.bands[b]) for name, j in joints.items())):
                e = (fit.mtf_nyquist_along - t[0], fit.mtf_nyquist_across - t[1])
                s_stat = (fit.mtf_nyquist_along_sigma, fit.mtf_nyquist_across_sigma)
                s_model = (fit.mtf_nyquist_along_model_sigma, fit.mtf_nyquist_across_model_sigma)
                err[m][b].append(e)
                sig[m][b].append(s_stat)
                honest[m][b].append(tuple(float(v) for v in np.hypot(s_stat, s_model)))
                flags[m][b].append(bool(fit.misfit.flagged))
                rec["bands"][b][m] = {
                    "mtf": [fit.mtf_nyquist_along, fit.mtf_nyquist_across],
                    "sigma": list(s_stat),
                    "model_sigma": list(s_model),
                    "misfit": bool(fit.misfit.flagged),
                    "chi2_dof": fit.chi2_dof,
                }
        records.append(rec)
    block: dict[str, Any] = {}
    for b in MS_BANDS:
        block[b] = {}
        for m in methods:
            stats = _mtf_stats(err[m][b], secs[m], sig[m][b])
            h = np.asarray(err[m][b]) / np.asarray(honest[m][b])
            stats |= {
                "mean_honest_sigma_along": float(np.mean([x[0] for x in honest[m][b]])),
                "mean_honest_sigma_across": float(np.mean([x[1] for x in honest[m][b]])),
                "honest_pull_mean_along": float(h[:, 0].mean()),
                "honest_pull_mean_across": float(h[:, 1].mean()),
                "honest_pull_std_along": float(h[:, 0].std(ddof=1)) if len(h) > 1 else math.nan,
                "honest_pull_std_across": float(h[:, 1].std(ddof=1)) if len(h) > 1 else math.nan,
                "misfit_rate": float(np.mean(flags[m][b])),
            }
            stats["seconds_per_pool_all_bands"] = stats.pop("seconds_per_pool")
            block[b][m] = stats
    if args.dump:
        with open(args.dump, "a", encoding="utf-8") as fh:
            for rec in records:
                fh.write(json.dumps(rec) + "\n")
    return block


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pools", type=int, default=4, help="starpools per family and band (default 4)")
    parser.add_argument("--stars", type=int, default=25, help="stars per starpool (default 25)")
    parser.add_argument("--families", default=",".join(DEFAULT_FAMILIES), help=f"comma list among {FAMILIES}")
    parser.add_argument("--bands", default=",".join(BANDS), help="comma list among P,B2")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--no-photutils", action="store_true", help="skip the photutils baseline")
    parser.add_argument("--dump", default="", help="append one JSON line per pool to this file")
    parser.add_argument(
        "--no-line", action="store_true", help="curve of growth without the spike (line-like) tail of line_excess"
    )
    parser.add_argument(
        "--free", default=",".join(DEFAULT_FREE), help="comma list of the fit's free shared parameters (+obscuration)"
    )
    parser.add_argument(
        "--noise-free-bias",
        action="store_true",
        help="also fit each pool's expected (noise-free) image: the parametric bias (doubles the fit cost)",
    )
    parser.add_argument(
        "--no-spike-history", action="store_true", help="ePSF spike correction from each pool alone (the gate)"
    )
    parser.add_argument("--joint", action="store_true", help="MS B0-B3 of one pupil: single-band vs joint fit")
    parser.add_argument(
        "--joint-variant",
        action="append",
        default=[],
        help="--joint: NAME=shared,.../per_band,... (repeatable; default: mtf_joint.DEFAULT_SHARED/DEFAULT_PER_BAND)",
    )
    args = parser.parse_args()
    args.free = tuple(f.strip() for f in args.free.split(",") if f.strip())
    args.joint_variants = {}
    from monitor.science.mtf_joint import DEFAULT_PER_BAND, DEFAULT_SHARED

    for spec in args.joint_variant or [f"joint={','.join(DEFAULT_SHARED)}/{','.join(DEFAULT_PER_BAND)}"]:
        name, _, lists = spec.partition("=")
        shared, _, per_band = lists.partition("/")
        args.joint_variants[name.strip()] = tuple(
            tuple(f.strip() for f in x.split(",") if f.strip()) for x in (shared, per_band)
        )
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    bands = [b.strip() for b in args.bands.split(",") if b.strip()]
    unknown = [f for f in families if f not in FAMILIES] + [b for b in bands if b not in BANDS]
    if unknown:
        parser.error(f"unknown family/band {unknown}; families {FAMILIES}, bands {tuple(BANDS)}")

    report: dict[str, Any] = {
        "pools_per_band": args.pools,
        "stars_per_pool": args.stars,
        "seed": args.seed,
        "families": {},
    }
    if args.joint:
        report |= {"joint": {"bands": MS_BANDS, "variants": args.joint_variants}}
    for family in families:
        if args.joint:
            report["families"][family] = run_family_joint(family, args)
            continue
        report["families"][family] = {band: run_family(family, band, args) for band in bands}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
