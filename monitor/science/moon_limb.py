"""The lit Moon and its limb on the block preview (:mod:`monitor.science.moon_preview`), for any framing.

Segmentation of the block means by a two-class (Otsu 1979) threshold, the brightest connected
component (the lit Moon, whatever fraction of the frame it fills), the circle of its bright limb
(algebraic fit, Kasa 1976, in scene units: rows / OVERSAMP), the sky level outside it and the
final detection (:func:`detect_moon`): disk centre and radius, and whether the lit Moon touches
the frame. The measurement as a whole: :mod:`monitor.science.moon_photometry`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from monitor.science.exceptions import AllNaNError, MoonNotFoundError
from monitor.science.moon_preview import Preview, robust_sigma

__all__ = ["Detection", "detect_moon"]


@dataclass(frozen=True)
class Detection:
    """The lit Moon found on the preview: disk centre (delivered pixels) and radius."""

    centre_row: float
    centre_col: float
    radius_px: float  # elliptical radius (across-track delivered pixels)
    touches_edge: bool = False  # lit blocks on the first/last row or column of the frame


def _otsu_threshold(values: NDArray[np.float64], weights: NDArray[np.float64]) -> float:
    """Two-class (Otsu 1979) threshold of weighted values: maximises the between-class variance.

    Independent of the proportion of sky and Moon in the frame (the median is not: a Moon filling
    most of the frame puts the median on the disk)."""
    order = np.argsort(values)
    v, w = values[order], weights[order]
    cw = np.cumsum(w)
    cm = np.cumsum(w * v)
    total_w, total_m = float(cw[-1]), float(cm[-1])
    w0, w1 = cw[:-1], total_w - cw[:-1]
    ok = (w0 > 0) & (w1 > 0)
    if not ok.any():
        return float(v[-1])
    mu0 = cm[:-1] / np.where(ok, w0, 1.0)
    mu1 = (total_m - cm[:-1]) / np.where(ok, w1, 1.0)
    between = np.where(ok, w0 * w1 * (mu1 - mu0) ** 2, -1.0)
    k = int(np.argmax(between))
    return float(0.5 * (v[k] + v[k + 1]))


def _largest_component(mask: NDArray[np.bool_], weight: NDArray[np.float64]) -> NDArray[np.bool_] | None:
    """The 8-connected component of ``mask`` with the largest summed ``weight`` (None if empty)."""
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return None
    flux = ndimage.sum_labels(np.where(mask, weight, 0.0), labels, index=np.arange(1, n + 1))
    comp: NDArray[np.bool_] = labels == int(np.argmax(flux)) + 1
    return comp


def _fit_limb(comp: NDArray[np.bool_], pv: Preview, oversamp: float) -> tuple[float, float, float] | None:
    """Circle through the bright limb of the lit component: (centre row, centre col, radius px).

    Works in scene units (rows / o). The boundary blocks of the lit Moon are the bright limb (on
    the disk's circle, always a half circle whatever the phase) and the terminator (inside the
    circle). An algebraic circle fit (Kasa 1976) to all boundary blocks, then refitted on the
    blocks at or beyond the fitted radius minus a tolerance, converges on the limb. Boundary
    blocks on the frame edge are left out (a cut, not the limb). None when fewer than 8 boundary
    blocks remain or the fit is degenerate.
    """
    inner = ndimage.binary_erosion(comp, structure=np.ones((3, 3), dtype=bool), border_value=1)
    edge = comp & ~inner
    edge[[0, -1], :] = False
    edge[:, [0, -1]] = False
    rr, cc = np.nonzero(edge)
    if rr.size < 8:
        return None
    y = pv.row_centre[rr] / oversamp
    x = pv.col_centre[cc]
    keep = np.ones(x.size, dtype=bool)
    tol = 1.5 * pv.f
    xc = yc = radius = 0.0
    for _ in range(10):
        design = np.column_stack([x[keep], y[keep], np.ones(int(keep.sum()))])
        sol, *_ = np.linalg.lstsq(design, x[keep] ** 2 + y[keep] ** 2, rcond=None)
        xc, yc = 0.5 * float(sol[0]), 0.5 * float(sol[1])
        r2 = float(sol[2]) + xc * xc + yc * yc
        if not r2 > 0.0:
            return None
        radius = math.sqrt(r2)
        new_keep = np.hypot(x - xc, y - yc) >= radius - max(tol, 0.03 * radius)
        if new_keep.sum() < 8 or np.array_equal(new_keep, keep):
            break
        keep = new_keep
    return yc * oversamp, xc, radius


def detect_moon(pv: Preview, oversamp: float, threshold_frac: float) -> Detection:
    """Find the lit Moon for any framing: segment, fit the limb, take the sky outside it.

    1. Two-class threshold of the block means (:func:`_otsu_threshold`) and the brightest
       connected component above it: the lit Moon, whatever fraction of the frame it fills.
    2. Its limb circle (:func:`_fit_limb`): disk centre and radius.
    3. Sky level and noise from the blocks outside the limb (beyond ``R + 2 blocks``); with too
       few of them (a frame barely larger than the disk, a tiny preview), from every block as
       before, which is right when the sky dominates.
    4. Detection threshold ``sky + max(5 sigma, threshold_frac (peak - sky))``; no block above
       it is "no Moon". The final component and limb use that threshold; the radius covers every
       lit block (the disk's circle holds the lit part whatever the phase).
    """
    valid = pv.count > 0
    if not valid.any():
        raise AllNaNError("the band image has no finite pixel")
    mean = np.where(valid, pv.total / np.where(valid, pv.count, 1.0), np.nan)
    rr, cc = pv.row_centre[:, None], pv.col_centre[None, :]  # broadcast, no full-size grids
    peak = float(np.nanmax(mean))
    level0, sig0 = float(np.median(mean[valid])), robust_sigma(mean[valid])
    if valid.sum() >= 16:
        t_split = _otsu_threshold(mean[valid], pv.count[valid])
        comp0 = _largest_component(valid & (mean > t_split), np.nan_to_num(mean - t_split) * pv.count)
        limb0 = _fit_limb(comp0, pv, oversamp) if comp0 is not None else None
        if limb0 is not None:
            yc0, xc0, r0 = limb0
            sky = valid & (np.hypot(cc - xc0, (rr - yc0) / oversamp) > r0 + 2.0 * pv.f)
            if int(sky.sum()) >= 16:
                level0, sig0 = float(np.median(mean[sky])), robust_sigma(mean[sky])
    thr = level0 + max(5.0 * sig0, threshold_frac * (peak - level0))
    if not peak > thr:
        raise MoonNotFoundError("no Moon above the sky background")
    comp = _largest_component(valid & (mean > thr), np.nan_to_num(mean - level0) * pv.count)
    assert comp is not None  # the peak block is above the threshold
    w = np.where(comp, (mean - level0) * pv.count, 0.0)
    wsum = float(w.sum())
    yc, xc = float((w.sum(axis=1) @ pv.row_centre) / wsum), float((w.sum(axis=0) @ pv.col_centre) / wsum)
    del w
    rows_c, cols_c = np.nonzero(comp)
    touches = bool(comp[[0, -1], :].any() or comp[:, [0, -1]].any())
    half = 0.5 * pv.f  # half a block, to reach the block's far corner
    limb = _fit_limb(comp, pv, oversamp)
    if limb is not None and math.hypot(limb[1] - xc, (limb[0] - yc) / oversamp) < limb[2]:
        yc, xc = limb[0], limb[1]  # the disk centre (the lit centroid lies inside the disk)
    dx = np.abs(pv.col_centre[cols_c] - xc) + half
    dy = (np.abs(pv.row_centre[rows_c] - yc) + half) / oversamp
    extent = float(np.sqrt(dx * dx + dy * dy).max())
    radius = extent
    if limb is not None and (yc, xc) == (limb[0], limb[1]) and extent <= limb[2] + 2.0 * pv.f:
        # the fitted limb; the boundary blocks' centres lie about half a block inside it
        radius = limb[2] + half
    return Detection(centre_row=yc, centre_col=xc, radius_px=radius, touches_edge=touches)
