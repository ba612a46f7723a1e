"""Where the REF-2 nearest-template bias of benchmarks/star_ref2.py comes from (B3 most). Prints one JSON document.

No noise and no starpools: per calibration star of the benchmark's list (REF-2 selection, V 2-5.5,
V-I known), the expectation over the simulator's truth draws (the three nearest templates but the
REF-2 one, each with probability 1/3; the 1 % smooth perturbation has zero mean and is left out)
of ``E_true / E_model - 1`` per band, over the measured PHR1A RSRs, for three truths:

* ``simulator``: the benchmark's truth (``monitor.simulate.star_spectra``) as is;
* ``colour-matched``: the same templates, each tilted by ``exp(b1 x + b2 x^2)``,
  ``x = (lambda - 700 nm) / 300 nm``, so that its synthetic B-V and V-I (ICD 2.2b item 1) equal the
  star's catalogue colours: a truth whose colours are the star's own, as a real star's are;
* ``nearest-colour-matched``: the REF-2 nearest template tilted likewise (what the nearest
  rule loses against a star of exactly its catalogue colours with the nearest template's lines).

It also gives the mean synthetic colour offsets (template - catalogue) of the truth templates and
of the nearest ones, per B-V range, and the slope of the B3 error on the V-I offset between the
truth's template and the nearest one.

Usage: python benchmarks/star_ref2_bias.py --library /work/shared/reference/pickles \
         --rsr-dir /work/shared/reference/rsr_measured
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from monitor.io.reference_data import (
    load_cousins_i,
    load_johnson_b,
    load_johnson_v,
    load_star_catalogue,
    load_vega_spectrum,
)
from monitor.io.star_library import load_band_response, load_star_library
from monitor.science.spectral import band_average
from monitor.science.star_ref2 import (
    TEMPLATE_LUMINOSITY_CLASSES,
    choose_templates,
    is_ref2_calibration_star,
    photon_average,
    synthetic_colours,
)
from monitor.simulate.star_spectra import TRUE_NEIGHBOURS

BANDS = ("P", "B0", "B1", "B2", "B3")
SATELLITE = "PHR1A"


def _tilt(lam: np.ndarray, b: np.ndarray) -> np.ndarray:
    x = (lam - 700.0) / 300.0
    return np.exp(b[:, :1] * x[None, :] + b[:, 1:2] * x[None, :] ** 2)


def colour_match(lam: np.ndarray, flux: np.ndarray, bv: np.ndarray, vi: np.ndarray, passbands: dict[str, Any],
                 vega: Any) -> tuple[np.ndarray, np.ndarray]:
    """Tilt each spectrum by exp(b1 x + b2 x^2) so that its synthetic colours equal (bv, vi): Newton
    iterations with a numerical Jacobian (the colours are smooth in b). Returns the tilted spectra
    and the largest colour residual, mag."""
    b = np.zeros((flux.shape[0], 2))

    def colours(bb: np.ndarray) -> np.ndarray:
        c = synthetic_colours(lam, flux * _tilt(lam, bb), passbands, vega.wavelength_nm, vega.values)
        return np.column_stack(c)

    target = np.column_stack([bv, vi])
    for _ in range(8):
        c0 = colours(b)
        h = 1e-3
        j = np.stack([(colours(b + h * np.eye(2)[k]) - c0) / h for k in range(2)], axis=2)  # (n, 2 col, 2 b)
        b = b + np.linalg.solve(j, (target - c0)[:, :, None])[:, :, 0]
    return flux * _tilt(lam, b), np.abs(colours(b) - target).max(axis=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--library", type=Path, required=True)
    ap.add_argument("--rsr-dir", type=Path, required=True)
    args = ap.parse_args()
    lib = load_star_library(args.library)
    cat = load_star_catalogue()
    assert cat.v_i is not None and cat.hp_scatter_mag is not None and cat.var_flag is not None
    ok = (is_ref2_calibration_star(cat.v_mag, cat.b_v, cat.hp_scatter_mag, cat.var_flag)
          & (cat.v_mag >= 2.0) & (cat.v_mag <= 5.5) & np.isfinite(cat.v_i))
    bv, vi = cat.b_v[ok], cat.v_i[ok]
    n = bv.size
    lam = np.asarray(lib.wavelength_nm, dtype=np.float64)
    vega = load_vega_spectrum()
    vband = load_johnson_v()
    passbands = {"B": (load_johnson_b().wavelength_nm, load_johnson_b().values),
                 "V": (vband.wavelength_nm, vband.values), "I": (load_cousins_i().wavelength_nm,
                                                                 load_cousins_i().values)}
    near, _ = choose_templates(bv, vi, lib.b_v, lib.v_i, lib.lum_class)
    # the simulator's candidate truths: the three nearest but REF-2's (monitor.simulate.star_spectra)
    eligible = (np.isin(np.array([c.strip().upper() for c in lib.lum_class]), TEMPLATE_LUMINOSITY_CLASSES)
                & np.isfinite(lib.b_v) & np.isfinite(lib.v_i))
    d = np.hypot(bv[:, None] - lib.b_v[None, :], vi[:, None] - lib.v_i[None, :])
    d = np.where(eligible[None, :], d, np.inf)
    d[np.arange(n), near] = np.inf
    cand = np.argsort(d, axis=1, kind="stable")[:, :TRUE_NEIGHBOURS]  # (n, 3)

    def ratio_k(flux: np.ndarray, rsr: Any) -> np.ndarray:
        return np.asarray(band_average(lam, flux, rsr.wavelength_nm, rsr.values)
                          / photon_average(lam, flux, vband.wavelength_nm, vband.values))

    truth_flat = lib.flux[cand.ravel()]
    matched, resid = colour_match(lam, truth_flat, np.repeat(bv, TRUE_NEIGHBOURS), np.repeat(vi, TRUE_NEIGHBOURS),
                                  passbands, vega)
    near_matched, resid_n = colour_match(lam, lib.flux[near], bv, vi, passbands, vega)
    out: dict[str, Any] = {"stars": int(n), "colour_match_residual_max_mag": round(float(max(resid.max(),
                                                                                          resid_n.max())), 5),
                           "bands": {}}
    red = bv > 0.8
    for band in BANDS:
        rsr = load_band_response(SATELLITE, band, args.rsr_dir).spectrum
        r_near = ratio_k(lib.flux[near], rsr)
        sim = ratio_k(truth_flat, rsr).reshape(n, TRUE_NEIGHBOURS).mean(axis=1) / r_near - 1.0
        cm = ratio_k(matched, rsr).reshape(n, TRUE_NEIGHBOURS).mean(axis=1) / r_near - 1.0
        ncm = ratio_k(near_matched, rsr) / r_near - 1.0
        out["bands"][band] = {
            truth: {"mean_pct": round(100 * float(e.mean()), 3),
                    "rms_pct": round(100 * float(np.sqrt(np.mean(e**2))), 3),
                    "mean_red_pct": round(100 * float(e[red].mean()), 3),
                    "mean_blue_pct": round(100 * float(e[~red].mean()), 3)}
            for truth, e in (("simulator", sim), ("colour-matched", cm), ("nearest-colour-matched", ncm))}
    # colour offsets (template synthetic - catalogue), mag
    dvi_truth = (lib.v_i[cand] - vi[:, None]).mean(axis=1)
    dbv_truth = (lib.b_v[cand] - bv[:, None]).mean(axis=1)
    dvi_near, dbv_near = lib.v_i[near] - vi, lib.b_v[near] - bv
    out["colour_offsets_mag"] = {
        name: {"truth_templates_dbv": round(float(dbv_truth[m].mean()), 4),
               "truth_templates_dvi": round(float(dvi_truth[m].mean()), 4),
               "nearest_dbv": round(float(dbv_near[m].mean()), 4), "nearest_dvi": round(float(dvi_near[m].mean()), 4),
               "stars": int(m.sum())}
        for name, m in (("all", np.ones(n, dtype=bool)), ("B-V > 0.8", red), ("B-V <= 0.8", ~red))}
    rsr3 = load_band_response(SATELLITE, "B3", args.rsr_dir).spectrum
    e3 = ratio_k(truth_flat, rsr3).reshape(n, TRUE_NEIGHBOURS) / ratio_k(lib.flux[near], rsr3)[:, None] - 1.0
    ddvi = (lib.v_i[cand] - lib.v_i[near][:, None]).ravel()
    slope = float(np.polyfit(ddvi, e3.ravel(), 1)[0])
    out["b3_error_per_mag_of_vi_truth_minus_nearest"] = round(slope, 3)
    out["mean_vi_truth_minus_nearest_mag"] = round(float(ddvi.mean()), 4)
    out["b3_mean_explained_by_vi_pct"] = round(100 * slope * float(ddvi.mean()), 3)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
