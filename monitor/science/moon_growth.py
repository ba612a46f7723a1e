"""Pass 2 of the Moon photometry: the disk integration as a curve of growth, read once as row strips.

Inside the largest ellipse (semi-axes rho across, o*rho along track) that fits in the image,
every pixel's background-subtracted value (:mod:`monitor.science.moon_sky`) is accumulated into
radial bins of the elliptical radius ``rho = sqrt(dx^2 + (dy/o)^2)`` about the detected centre
(:mod:`monitor.science.moon_limb`), with counts of valid, NaN and saturated pixels
(:func:`curve_of_growth`); the aperture is the smallest radius from which the cumulative sum
stays flat (:func:`flat_index`). The measurement as a whole: :mod:`monitor.science.moon_photometry`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from monitor.science.moon_limb import Detection
from monitor.science.moon_sky import Background

__all__ = ["Growth", "curve_of_growth", "flat_index"]


@dataclass(frozen=True)
class Growth:
    """Curve of growth: bin width (delivered px) and, per radial bin, the sum (DN) and pixel counts."""

    bin_width: float
    sums: NDArray[np.float64]
    n_valid: NDArray[np.float64]
    n_nan: NDArray[np.float64]
    n_sat: NDArray[np.float64]


def curve_of_growth(
    strips: Iterable[tuple[int, NDArray[np.float32]]],
    det: Detection,
    bkg: Background,
    oversamp: float,
    rho_max: float,
    bin_width: float,
    saturation_dn: float,
) -> Growth:
    """Radial bins of width ``bin_width`` (delivered px) of the background-subtracted image out to ``rho_max``."""
    nbins = int(math.ceil(rho_max / bin_width))
    sums = np.zeros(nbins + 1)
    n_all = np.zeros(nbins + 1)
    n_nan = np.zeros(nbins + 1)
    n_sat = np.zeros(nbins + 1)
    yc, xc = det.centre_row, det.centre_col
    row_lo = int(math.floor(yc - rho_max * oversamp))
    row_hi = int(math.ceil(yc + rho_max * oversamp)) + 1
    c0 = max(int(math.floor(xc - rho_max)), 0)
    c1 = int(math.ceil(xc + rho_max)) + 1
    level, gx, gy = (float(v) for v in bkg.coef)
    inv_w = np.float32(1.0 / bin_width)
    for r0, strip in strips:
        a = max(row_lo - r0, 0)
        b = min(row_hi - r0, strip.shape[0])
        if a >= b:
            continue
        sub = np.asarray(strip[a:b, c0:c1], dtype=np.float32)
        cols = np.arange(c0, c0 + sub.shape[1], dtype=np.float64) - xc
        rows = np.arange(r0 + a, r0 + b, dtype=np.float64) - yc
        dx2 = (cols * cols).astype(np.float32)
        dy2 = ((rows / oversamp) ** 2).astype(np.float32)
        rho = np.sqrt(dy2[:, None] + dx2[None, :])
        rho *= inv_w
        idx = np.minimum(rho, np.float32(nbins)).astype(np.intp)  # nbins = overflow bin
        del rho
        resid = sub - (level + gy * rows).astype(np.float32)[:, None]
        resid -= (gx * cols).astype(np.float32)[None, :]
        nan = np.isnan(resid)
        if nan.any():
            n_nan += np.bincount(idx[nan], minlength=nbins + 1)
            resid[nan] = 0.0
        sat = sub >= np.float32(saturation_dn)
        if sat.any():
            n_sat += np.bincount(idx[sat], minlength=nbins + 1)
        flat_idx = idx.ravel()
        sums += np.bincount(flat_idx, weights=resid.ravel(), minlength=nbins + 1)
        n_all += np.bincount(flat_idx, minlength=nbins + 1)
    return Growth(
        bin_width=bin_width,
        sums=sums[:nbins],
        n_valid=(n_all - n_nan)[:nbins],
        n_nan=n_nan[:nbins],
        n_sat=n_sat[:nbins],
    )


def flat_index(s_cum: NDArray[np.float64], sigma_cum: NDArray[np.float64], i_min: int, flat_tol: float) -> int:
    """Smallest i >= i_min from which the curve stays within tolerance of s_cum[i] (criterion: module
    docstring of :mod:`monitor.science.moon_photometry`)."""
    hi = np.maximum.accumulate((s_cum - 3.0 * sigma_cum)[::-1])[::-1]  # max_{j>=i} of S_j - 3 sigma_j
    lo = np.minimum.accumulate((s_cum + 3.0 * sigma_cum)[::-1])[::-1]
    tol = flat_tol * np.abs(s_cum)
    ok = (hi <= s_cum + tol) & (lo >= s_cum - tol)
    ok[:i_min] = False
    cand = np.flatnonzero(ok)
    return int(cand[0]) if cand.size else s_cum.size - 1
