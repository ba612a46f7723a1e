"""True star spectra drawn from a spectral library: a truth that does not share the REF-2 model.

Shared by the campaign simulator (``simulate_campaigns(..., star_spectra="library")``) and
``benchmarks/star_ref2.py``, so that both draw the same kind of truth:

* the true spectrum of a star is a *different* library template of nearby colour: one of the
  :data:`TRUE_NEIGHBOURS` templates of class III-V nearest in (B-V, V-I) (B-V alone where V-I is
  NaN), never the one REF-2 calls nearest (:func:`monitor.science.star_ref2.choose_templates`),
  drawn uniformly;
* times a smooth perturbation of :data:`PERTURBATION_RMS` rms,
  ``1 + c1 P1(x) + c2 P2(x)``, ``x = (lambda - 700 nm) / 300 nm`` clipped to [-1, 1] (Legendre
  P1, P2 over 400-1000 nm, constant beyond), ``c1 ~ N(0, 0.01 sqrt(3/2))``,
  ``c2 ~ N(0, 0.01 sqrt(5/2))`` so that the expected mean square over x is 1e-4;
* scaled to the star's V with the photon-counting V average of CALSPEC Vega (ICD 2.2b items 1, 3):
  :func:`true_band_irradiance_w_m2_um`.

The random draws, in this order: the template pick (``rng.integers(0, 3, n)``), then ``c1``, then
``c2`` (``rng.normal``, n each). Pure numpy on the library's arrays (no file access here).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.io.star_library import StarLibrary
from monitor.science.spectral import band_average
from monitor.science.star_ref2 import TEMPLATE_LUMINOSITY_CLASSES, VEGA_V_MAG, choose_templates, photon_average

__all__ = [
    "TRUE_NEIGHBOURS",
    "PERTURBATION_RMS",
    "TrueStarSpectra",
    "perturbation",
    "draw_true_spectra",
    "true_band_irradiance_w_m2_um",
]

TRUE_NEIGHBOURS = 3  # the true template is one of this many nearest, the REF-2 nearest excluded
PERTURBATION_RMS = 0.01  # relative rms of the smooth perturbation over 400-1000 nm


@dataclass(frozen=True)
class TrueStarSpectra:
    """True relative spectra of ``n`` stars on the library grid, and how they were drawn."""

    wavelength_nm: NDArray[np.float64]  # (n_lambda,), the library grid
    flux: NDArray[np.float64]  # (n, n_lambda), relative F_lambda (the template's unit)
    template: NDArray[np.int64]  # (n,), library index of each star's true template
    ref2_template: NDArray[np.int64]  # (n,), the REF-2 nearest template (excluded from the draw)
    legendre: NDArray[np.float64]  # (n, 2): c1, c2 of the perturbation


def perturbation(wavelength_nm: ArrayLike, c1: ArrayLike, c2: ArrayLike) -> NDArray[np.float64]:
    """``1 + c1 P1(x) + c2 P2(x)``, ``x = clip((lambda - 700) / 300, -1, 1)``; shape (n, n_lambda).

    >>> perturbation([400.0, 700.0, 1000.0, 1200.0], [0.01], [0.0]).round(6).tolist()
    [[0.99, 1.0, 1.01, 1.01]]
    """
    lam = np.asarray(wavelength_nm, dtype=np.float64)
    x = np.clip((lam - 700.0) / 300.0, -1.0, 1.0)
    a = np.atleast_1d(np.asarray(c1, dtype=np.float64))[:, None]
    b = np.atleast_1d(np.asarray(c2, dtype=np.float64))[:, None]
    out: NDArray[np.float64] = 1.0 + a * x[None, :] + b * (1.5 * x[None, :] ** 2 - 0.5)
    return out


def draw_true_spectra(rng: np.random.Generator, lib: StarLibrary, b_v: ArrayLike, v_i: ArrayLike) -> TrueStarSpectra:
    """Draw the true spectrum of each star (module docstring).

    Parameters
    ----------
    rng : numpy.random.Generator
        Consumed as the module docstring says.
    lib : StarLibrary
        The library (:func:`monitor.io.star_library.load_star_library`).
    b_v, v_i : array_like, shape (n,)
        Catalogue colours of the stars, mag; B-V must be finite (V-I may be NaN).

    Raises
    ------
    ValueError
        A B-V is not finite, or the library has fewer than ``TRUE_NEIGHBOURS + 1`` eligible templates.
    """
    bv = np.atleast_1d(np.asarray(b_v, dtype=np.float64))
    vi = np.atleast_1d(np.asarray(v_i, dtype=np.float64))
    if not np.all(np.isfinite(bv)):
        raise ValueError("every star needs a finite B-V")
    eligible = (np.isin(np.array([c.strip().upper() for c in lib.lum_class]), TEMPLATE_LUMINOSITY_CLASSES)
                & np.isfinite(lib.b_v) & np.isfinite(lib.v_i))
    if int(eligible.sum()) < TRUE_NEIGHBOURS + 1:
        raise ValueError(f"the library has fewer than {TRUE_NEIGHBOURS + 1} templates of class III-V")
    chosen, _ = choose_templates(bv, vi, lib.b_v, lib.v_i, lib.lum_class)
    dvi = np.where(np.isfinite(vi)[:, None], vi[:, None] - lib.v_i[None, :], 0.0)
    d = np.hypot(bv[:, None] - lib.b_v[None, :], dvi)
    d = np.where(eligible[None, :], d, np.inf)
    d[np.arange(bv.size), chosen] = np.inf  # never the template REF-2 picks
    nearest = np.argsort(d, axis=1, kind="stable")[:, :TRUE_NEIGHBOURS]
    pick = nearest[np.arange(bv.size), rng.integers(0, TRUE_NEIGHBOURS, bv.size)]
    # c1 P1 + c2 P2 with E[mean square over x] = rms^2: rms(P1) = 1/sqrt(3), rms(P2) = 1/sqrt(5)
    c1 = rng.normal(0.0, PERTURBATION_RMS / np.sqrt(2.0) * np.sqrt(3.0), bv.size)
    c2 = rng.normal(0.0, PERTURBATION_RMS / np.sqrt(2.0) * np.sqrt(5.0), bv.size)
    flux = lib.flux[pick] * perturbation(lib.wavelength_nm, c1, c2)
    return TrueStarSpectra(np.asarray(lib.wavelength_nm, dtype=np.float64), flux, pick.astype(np.int64),
                           chosen.astype(np.int64), np.column_stack([c1, c2]))


def true_band_irradiance_w_m2_um(
    spectra: TrueStarSpectra,
    v_mag: ArrayLike,
    rsr_wavelength_nm: ArrayLike,
    rsr: ArrayLike,
    vband_wavelength_nm: ArrayLike,
    vband: ArrayLike,
    vega_v_photon_w_m2_um: float,
) -> NDArray[np.float64]:
    """Band irradiance at the satellite of the true spectra scaled to the stars' V, W m^-2 um^-1.

    ``E_k = <F>_k <F_Vega>_V 10^(-0.4 (V - 0.03)) / <F>_V``: energy average over the RSR (ICD 2.1),
    photon-counting V average (ICD 2.2b item 1).
    """
    v = np.atleast_1d(np.asarray(v_mag, dtype=np.float64))
    vv = np.asarray(photon_average(spectra.wavelength_nm, spectra.flux, vband_wavelength_nm, vband), dtype=np.float64)
    ek = np.asarray(band_average(spectra.wavelength_nm, spectra.flux, rsr_wavelength_nm, rsr), dtype=np.float64)
    out: NDArray[np.float64] = ek / vv * float(vega_v_photon_w_m2_um) * 10.0 ** (-0.4 * (v - VEGA_V_MAG))
    return out
