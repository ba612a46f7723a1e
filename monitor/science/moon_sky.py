"""The sky background of a Moon band image: a plane fitted to the dark sky of the block preview.

Weighted, clipped least-squares plane through the block means of the sky beyond a margin from the
detected disk (:mod:`monitor.science.moon_limb`), with the 1-sigma of its level at the disk
centre and the per-pixel sky noise (median in-block variance); :func:`fit_background_adaptive`
takes the sky as far from the Moon as the image allows (the PSF halo raises the sky near the disk).
The measurement as a whole: :mod:`monitor.science.moon_photometry`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from monitor.science.exceptions import InsufficientBackgroundError
from monitor.science.moon_limb import Detection
from monitor.science.moon_preview import Preview, robust_sigma

__all__ = ["Background", "fit_background_adaptive"]

_MIN_SKY_BLOCKS = 50  # preview blocks wanted for the background plane fit


@dataclass(frozen=True)
class Background:
    """The fitted sky plane: coefficients, 1-sigma of its level at the disk centre, pixel noise."""

    coef: NDArray[np.float64]  # (level at centre incl. dark, d/dcol, d/drow)
    level_sigma: float  # 1-sigma of the level at the centre, DN per pixel
    pixel_noise: float  # DN per pixel


def _fit_background(pv: Preview, det: Detection, oversamp: float, inner_radius_px: float) -> Background:
    rr, cc = np.meshgrid(pv.row_centre - det.centre_row, pv.col_centre - det.centre_col, indexing="ij")
    rho_near = np.sqrt(
        np.maximum(np.abs(cc) - 0.5 * pv.f, 0.0) ** 2 + (np.maximum(np.abs(rr) - 0.5 * pv.f, 0.0) / oversamp) ** 2
    )
    sel = (pv.count >= 2) & (pv.n_sat == 0) & (rho_near > inner_radius_px)
    if int(sel.sum()) < 6:
        raise InsufficientBackgroundError(
            f"only {int(sel.sum())} sky blocks beyond {inner_radius_px:.1f} px from the Moon"
        )
    n = pv.count[sel]
    y = pv.total[sel] / n
    var_in = (pv.total_sq[sel] - pv.total[sel] ** 2 / n) / (n - 1.0)
    x = np.column_stack([np.ones_like(y), cc[sel], rr[sel]])
    keep = np.ones(y.size, dtype=bool)
    coef: NDArray[np.float64] = np.zeros(3)
    for _ in range(8):
        xk, wts = x[keep], n[keep]
        try:
            coef = np.asarray(np.linalg.solve(xk.T @ (xk * wts[:, None]), xk.T @ (wts * y[keep])), dtype=np.float64)
        except np.linalg.LinAlgError as exc:
            raise InsufficientBackgroundError(f"the sky blocks do not determine a background plane ({exc})") from None
        resid = (y - x @ coef) * np.sqrt(n)  # normalised to one pixel
        s = robust_sigma(resid[keep])
        new_keep = np.abs(resid) <= 3.5 * max(s, 1e-12)
        if new_keep.sum() < 6 or np.array_equal(new_keep, keep):
            break
        keep = new_keep
    wts = n[keep]
    xw = x[keep] * wts[:, None]
    resid_k = y[keep] - x[keep] @ coef
    dof = max(int(keep.sum()) - 3, 1)
    s2 = float((wts * resid_k**2).sum() / dof)  # variance of a one-pixel-weight residual
    cov = s2 * np.linalg.inv(x[keep].T @ xw)
    # median in-block variance, corrected for the median of chi2_k / k (k = pixels per block - 1)
    k = max(float(np.median(n[keep])) - 1.0, 1.0)
    pixel_noise = math.sqrt(max(float(np.median(var_in[keep])), 0.0) * k / float(stats.chi2.median(k)))
    return Background(coef=coef, level_sigma=math.sqrt(max(float(cov[0, 0]), 0.0)), pixel_noise=pixel_noise)


def fit_background_adaptive(pv: Preview, det: Detection, oversamp: float) -> Background:
    """Background plane from sky as far from the Moon as the image allows.

    The PSF halo raises the sky near the disk (bias), while a far, small sky region gives a noisy
    plane. Candidates: the blocks beyond ``R (1 + k)`` for k in (1.0, 0.6, 0.35, 0.2). The nearest
    one (k = 0.2) is the fallback; a farther one is preferred when its blocks number at least
    ``_MIN_SKY_BLOCKS``, surround the Moon (both sides along both axes, so the plane is
    interpolated at the centre, not extrapolated) and its level uncertainty is at most twice the
    nearest one's.
    """
    floor = max(3.0 * pv.f, 5.0)
    margins = [max(k * det.radius_px, floor) for k in (1.0, 0.6, 0.35, 0.2)]
    shape = pv.count.shape  # broadcast views, no full-size coordinate grids (bounded memory)
    rr = np.broadcast_to((pv.row_centre - det.centre_row)[:, None], shape)
    cc = np.broadcast_to((pv.col_centre - det.centre_col)[None, :], shape)
    rho_near = np.sqrt(
        np.maximum(np.abs(cc) - 0.5 * pv.f, 0.0) ** 2 + (np.maximum(np.abs(rr) - 0.5 * pv.f, 0.0) / oversamp) ** 2
    )
    usable = (pv.count >= 2) & (pv.n_sat == 0)
    half = 0.5 * det.radius_px
    nearest = _fit_background(pv, det, oversamp, det.radius_px + margins[-1])
    for margin in margins[:-1]:
        sel = usable & (rho_near > det.radius_px + margin)
        if int(sel.sum()) < _MIN_SKY_BLOCKS:
            continue
        c, r = cc[sel], rr[sel] / oversamp
        if not (c.min() < -half and c.max() > half and r.min() < -half and r.max() > half):
            continue
        far = _fit_background(pv, det, oversamp, det.radius_px + margin)
        if far.level_sigma <= 2.0 * nearest.level_sigma:
            return far
    return nearest
