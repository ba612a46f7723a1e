"""Benchmark: MTF at Nyquist from simulated starpools, parametric joint fit vs photutils EPSFBuilder.

For N seeded PAN and MS starpools of 25 stars (ICD-1 vignettes: PAN 64 x 64·o, MS 32 x 32·o,
OVERSAMP 1-4, V 2-5.5 with ~1e6 DN total for a V = 2 star in PAN, dark, tilted background,
photon + read noise) it prints one JSON document with, per band and method, the rms and mean
error of the MTF at Nyquist (along/across track) against the simulator truth and the time per pool:

* ``parametric``: ``monitor.science.mtf_fit.fit_starpool_psf`` (joint fit, all rows);
* ``stacked_lsf``: ``monitor.science.epsf.epsf_mtf`` on the fit's centres and signals;
* ``photutils_epsf``: photutils ``EPSFBuilder`` (oversampling 4, defaults), on every o-th row of
  each vignette (native sampling, the input it expects), started from the fitted centres; its
  MTF is the Fourier transform of the ePSF marginal at 0.25-px sampling.

Run: ``OMP_NUM_THREADS=1 python benchmarks/mtf.py [--pools N] [--seed S]``.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from typing import Any

import numpy as np

from monitor.science.epsf import epsf_mtf
from monitor.science.mtf_fit import fit_starpool_psf
from monitor.science.psf import PsfParams, mtf_nyquist
from monitor.simulate.star import (
    default_psf_params,
    default_vignette_shape,
    plane_excursion_dn,
    simulate_star_vignette,
)

DARK_DN = 200.0
# A noisier detector than the nominal one (monitor.science.instrument: READ_NOISE_DN 1.5 DN, 20 e-/DN).
GAIN_E_PER_DN = 2.0
READ_NOISE_DN = 5.0
BANDS = {"P": 1e6, "B2": 5e5}  # band -> total signal of a V = 2 star at o = 1, DN


def simulate_pool(
    rng: np.random.Generator, band: str, truth: PsfParams, n_stars: int
) -> tuple[list[np.ndarray], list[float]]:
    """One starpool: dark-subtracted vignettes and their oversampling factors."""
    vignettes, oversamps = [], []
    for _ in range(n_stars):
        o = float(rng.integers(1, 5))
        shape = default_vignette_shape("PHR", band, o)
        v_mag = rng.uniform(2.0, 5.5)
        signal = BANDS[band] * 10 ** (-0.4 * (v_mag - 2.0)) * o
        center = ((shape[1] - 1) / 2 + rng.uniform(-3, 3), (shape[0] - 1) / 2 + rng.uniform(-3, 3) * o)
        bg = rng.uniform(5.0, 40.0)
        slope = (rng.normal(0.0, 0.1), rng.normal(0.0, 0.1))
        img = simulate_star_vignette(
            rng,
            total_signal_dn=signal,
            shape=shape,
            center_xy=center,
            oversamp=o,
            psf=truth,
            dark_dn=DARK_DN,
            gain_e_per_dn=GAIN_E_PER_DN,
            read_noise_dn=READ_NOISE_DN,
            background_dn=bg + plane_excursion_dn(slope, shape),  # plane >= 0 everywhere
            background_slope=slope,
        )
        vignettes.append(img.astype(np.float64) - DARK_DN)
        oversamps.append(o)
    return vignettes, oversamps


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


def _stats(errors: list[tuple[float, float]], times: list[float]) -> dict[str, Any]:
    e = np.asarray(errors)
    return {
        "rms_error_along": float(np.sqrt(np.mean(e[:, 0] ** 2))),
        "rms_error_across": float(np.sqrt(np.mean(e[:, 1] ** 2))),
        "mean_error_along": float(e[:, 0].mean()),
        "mean_error_across": float(e[:, 1].mean()),
        "seconds_per_pool": float(np.mean(times)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pools", type=int, default=4, help="starpools per band (default 4)")
    parser.add_argument("--stars", type=int, default=25, help="stars per starpool (default 25)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--no-photutils", action="store_true", help="skip the photutils baseline")
    args = parser.parse_args()

    report: dict[str, Any] = {"pools_per_band": args.pools, "stars_per_pool": args.stars, "bands": {}}
    for band in BANDS:
        rng = np.random.default_rng([args.seed, len(band), ord(band[-1])])
        nominal = default_psf_params("PHR", band)
        res: dict[str, tuple[list[tuple[float, float]], list[float]]] = {
            "parametric": ([], []),
            "stacked_lsf": ([], []),
            "photutils_epsf": ([], []),
        }
        sigmas = []
        for _ in range(args.pools):
            # Truth varies around the nominal PSF from pool to pool (focus/jitter changes).
            truth = nominal.replace(
                sigma_along_px=nominal.sigma_along_px * rng.uniform(0.85, 1.2),
                sigma_across_px=nominal.sigma_across_px * rng.uniform(0.85, 1.2),
            )
            t_along, t_across = mtf_nyquist(truth)
            vignettes, oversamps = simulate_pool(rng, band, truth, args.stars)

            t0 = time.perf_counter()
            fit = fit_starpool_psf(
                vignettes, oversamps, nominal, read_noise_dn=READ_NOISE_DN, gain_e_per_dn=GAIN_E_PER_DN
            )
            t1 = time.perf_counter()
            res["parametric"][0].append((fit.mtf_nyquist_along - t_along, fit.mtf_nyquist_across - t_across))
            res["parametric"][1].append(t1 - t0)
            sigmas.append((fit.mtf_nyquist_along_sigma, fit.mtf_nyquist_across_sigma))

            hw = 8 if band == "P" else 6
            t0 = time.perf_counter()
            lsf = epsf_mtf(
                vignettes,
                oversamps,
                fit.centers_xy,
                fluxes_dn=fit.fluxes_dn,
                backgrounds_dn=fit.backgrounds_dn,
                half_width_px=hw,
            )
            t1 = time.perf_counter()
            res["stacked_lsf"][0].append((lsf.mtf_nyquist_along - t_along, lsf.mtf_nyquist_across - t_across))
            res["stacked_lsf"][1].append(t1 - t0)

            if not args.no_photutils:
                t0 = time.perf_counter()
                p_along, p_across = photutils_mtf(vignettes, oversamps, fit.centers_xy, 2 * hw + 1)
                t1 = time.perf_counter()
                res["photutils_epsf"][0].append((p_along - t_along, p_across - t_across))
                res["photutils_epsf"][1].append(t1 - t0)
        band_report = {name: _stats(e, t) for name, (e, t) in res.items() if e}
        s = np.asarray(sigmas)
        band_report["parametric"]["mean_sigma_along"] = float(s[:, 0].mean())
        band_report["parametric"]["mean_sigma_across"] = float(s[:, 1].mean())
        report["bands"][band] = band_report
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
