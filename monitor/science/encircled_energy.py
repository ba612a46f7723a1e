"""Encircled (ensquared) energy of the PSF model in the ICD §4 square windows.

The fraction of a star's total flux inside the window of half-width ``h`` (2h+1 native columns
by ``window_rows(h, o)`` rows centred on the pixel holding the centroid), for the PSF model of
:mod:`monitor.science.psf`, over the whole (infinite) plane: the far diffraction wings (r^-3)
are included. Exact Fourier evaluation: the window sums are a bilinear form of the OTF on a
frequency grid (Poisson summation) fine enough that the periodisation error is < ~3e-6.

Examples
--------
The phase-averaged EE of a PHR-PAN-like PSF grows slowly with the window (the 1/h wing of the r^-3
diffraction halo, ICD 1.3), and its gradient with respect to the blur is negative:

>>> from monitor.science.psf import PsfParams
>>> params = PsfParams(lambda_n_px=1.0, obscuration=0.3, bandwidth=0.5, sigma_along_px=0.35,
...                    sigma_across_px=0.3, diffusion_px=0.1, smear_along_px=0.25)
>>> ee = encircled_energy_square_mean([2, 5, 20], params)
>>> [round(float(v), 3) for v in ee]
[0.895, 0.952, 0.987]
>>> ee, jac = encircled_energy_square_mean_jacobian([2, 5], params, ["sigma_along_px"])
>>> jac.shape, bool(np.all(jac < 0.0))
((2, 1), True)
>>> window_rows(2, 3.0)  # a 5-column window spans 15 rows at o = 3, from 7 rows below the centre
(15, -7)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.science.psf import (
    PsfParameterError,
    PsfParams,
    check_oversamp,
    frequency_support,
    otf_grid,
    wavelength_nodes,
)

__all__ = [
    "encircled_energy_square",
    "encircled_energy_square_mean",
    "encircled_energy_square_mean_jacobian",
    "window_rows",
]

_EE_ALIAS_TOL = 3e-6  # target wrap-around error of the encircled-energy integrals
_TWO_PI = 2.0 * math.pi


def window_rows(half_width_px: int, oversamp: float) -> tuple[int, int]:
    """Row extent of the ICD §4 window: ``(n_rows, j_lo)``.

    The window spans ``n_rows = round((2h+1)·o)`` rows ``r_c + j_lo ... r_c + j_lo + n_rows - 1``
    with ``j_lo = -(n_rows // 2)``, ``r_c`` the row holding the centroid (for an even
    ``n_rows`` the extra row is on the low side).
    """
    n_rows = int(round((2 * int(half_width_px) + 1) * float(oversamp)))
    return n_rows, -(n_rows // 2)


def _dirichlet(t: NDArray[np.float64], n: int) -> NDArray[np.float64]:
    """``sin(pi n t)/sin(pi t)`` (the symmetric sum of n unit phasors), with its integer limits."""
    s = np.sin(math.pi * t)
    near = np.abs(s) < 1e-12
    safe = np.where(near, 1.0, s)
    limit = n * np.cos(math.pi * n * t) / np.cos(math.pi * t)
    return np.where(near, limit, np.sin(math.pi * n * t) / safe)


def _ee_grid(
    params: PsfParams, h_max: int, derivs: Sequence[str] = ()
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], list[NDArray[np.float64]]]:
    """Quadrant frequency grid (fx, fy >= 0) with Riemann weights and the OTF (+ derivatives).

    The grid step 1/P sets the period P of the implicit periodisation; P is chosen so that the
    r^-3 wings of the neighbouring periods add less than ~``_EE_ALIAS_TOL`` to the largest window.
    Returns ``(fx, fy, weights(ny, nx), [otf, d otf...])``; the weights include the step^2 and the
    factor 2 of the mirrored half-axes.
    """
    width = 2 * h_max + 1
    t, _ = wavelength_nodes(params)
    lam_max = params.lambda_n_px * float(t.max())
    wing = 8.0 * width**2 * lam_max / (math.pi**3 * _EE_ALIAS_TOL)
    period = max(128.0, width + wing ** (1.0 / 3.0) / max(1.0 - params.obscuration, 0.1) ** (1.0 / 3.0))
    step = 1.0 / period
    fsx, fsy = frequency_support(params)
    fx = np.arange(0.0, fsx + step, step)
    fy = np.arange(0.0, fsy + step, step)
    wx = np.full(fx.size, 2.0)
    wx[0] = 1.0
    wy = np.full(fy.size, 2.0)
    wy[0] = 1.0
    total, dotf = otf_grid(fx, fy, params, derivs)
    weights = wy[:, None] * wx[None, :] * step * step
    return fx, fy, weights, [total, *dotf]


def _ee_kernels(
    fx: NDArray[np.float64],
    fy: NDArray[np.float64],
    half_widths: NDArray[np.int64],
    oversamp: float,
    offsets: NDArray[np.float64] | None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Window kernels Kx (n, nh, nfx), Ky (n, nh, nfy) of the EE bilinear form.

    Per phase (``offsets`` (n, 2): centroid offset from its pixel centre, columns and rows)::

        EE = (1/o) sum_f OTF(f) · cos(2 pi fx ux) D_{2h+1}(fx) · cos(2 pi fy (c - uy)/o) D_{n_r}(fy/o)

    Phase-averaged (``offsets`` None): the sample sums become integrals over the rectangle of
    (2h+1) x n_r/o native px, ``Kx = (2h+1) sinc((2h+1) fx)``, ``Ky = (n_r/o) sinc(fy n_r/o)
    cos(2 pi fy c/o)``, no 1/o factor.
    """
    o = oversamp
    kx_list: list[NDArray[np.float64]] = []
    ky_list: list[NDArray[np.float64]] = []
    for h in half_widths:
        n_r, j_lo = window_rows(int(h), o)
        c = j_lo + 0.5 * (n_r - 1)
        ncol = 2 * int(h) + 1
        if offsets is None:
            kx = (ncol * np.sinc(ncol * fx))[None, :]
            ky = ((n_r / o) * np.sinc(fy * n_r / o) * np.cos(_TWO_PI * fy * c / o))[None, :]
        else:
            ux = offsets[:, 0:1]
            uy = offsets[:, 1:2]
            kx = np.cos(_TWO_PI * fx[None, :] * ux) * _dirichlet(fx, ncol)[None, :]
            ky = np.cos(_TWO_PI * fy[None, :] * (c - uy) / o) * _dirichlet(fy / o, n_r)[None, :] / o
        kx_list.append(kx)
        ky_list.append(ky)
    return np.stack(kx_list, axis=1), np.stack(ky_list, axis=1)


def _ee_evaluate(
    params: PsfParams,
    half_widths: NDArray[np.int64],
    oversamp: float,
    offsets: NDArray[np.float64] | None,
    derivs: Sequence[str] = (),
) -> NDArray[np.float64]:
    """EE and derivatives: array (1 + len(derivs), n_offsets or 1, n_h)."""
    fx, fy, weights, grids = _ee_grid(params, int(half_widths.max()), derivs)
    kx, ky = _ee_kernels(fx, fy, half_widths, oversamp, offsets)
    out = []
    for g in grids:
        gw = g * weights  # (nfy, nfx)
        tmp = np.einsum("yx,nhx->nhy", gw, kx)
        out.append(np.einsum("nhy,nhy->nh", tmp, ky))
    return np.asarray(out, dtype=np.float64)


def _as_half_widths(half_widths_px: ArrayLike) -> NDArray[np.int64]:
    h = np.atleast_1d(np.asarray(half_widths_px))
    if h.ndim != 1 or h.size == 0 or np.any(h < 0) or np.any(h != np.round(h)):
        raise PsfParameterError(f"half widths must be non-negative integers, got {half_widths_px!r}")
    return h.astype(np.int64)


def encircled_energy_square(
    half_widths_px: ArrayLike,
    params: PsfParams,
    oversamp: float = 1.0,
    center_offset_xy: ArrayLike = (0.0, 0.0),
) -> NDArray[np.float64]:
    """Fraction of a star's total flux inside the ICD §4 square windows, at a given sub-pixel phase.

    The window is (2h+1) native columns by ``window_rows(h, o)`` rows centred on the pixel
    holding the centroid; the fraction is ``sum_window(pixels) / (o · total_flux)``, computed
    from the model over the whole (infinite) plane, far diffraction wings included.

    Parameters
    ----------
    half_widths_px : array_like of int, shape (nh,)
        Half-widths h, native pixels.
    params : PsfParams
        PSF model.
    oversamp : float
        Along-track oversampling o >= 1.
    center_offset_xy : array_like, shape (2,) or (n, 2)
        Centroid minus the centre of the pixel holding it: (columns, rows), each in [-0.5, 0.5].

    Returns
    -------
    ndarray of float64, shape (nh,) or (n, nh)
        Encircled (ensquared) energy fractions.

    Notes
    -----
    Exact Fourier evaluation (Poisson summation of the window sums, see ``_ee_kernels``) on a
    frequency grid fine enough that the periodisation error is < ~3e-6.
    """
    o = check_oversamp(oversamp)
    h = _as_half_widths(half_widths_px)
    off = np.asarray(center_offset_xy, dtype=np.float64)
    single = off.ndim == 1
    off2 = np.atleast_2d(off)
    if off2.shape[-1] != 2 or np.any(np.abs(off2) > 0.5 + 1e-9):
        raise PsfParameterError(f"center offsets must be (.., 2) within [-0.5, 0.5], got {off!r}")
    ee = _ee_evaluate(params, h, o, off2)[0]
    return np.asarray(ee[0] if single else ee, dtype=np.float64)


def encircled_energy_square_mean(
    half_widths_px: ArrayLike, params: PsfParams, oversamp: float = 1.0
) -> NDArray[np.float64]:
    """Encircled energy of the ICD §4 windows averaged over a uniform sub-pixel phase.

    Parameters
    ----------
    half_widths_px : array_like of int, shape (nh,)
        Half-widths h, native pixels.
    params : PsfParams
        PSF model.
    oversamp : float
        Along-track oversampling o (enters only through the row count of the window).

    Returns
    -------
    ndarray of float64, shape (nh,)
        Phase-averaged EE: the integral of the pixel-integrated PSF over a (2h+1) x n_r/o
        native-pixel rectangle (averaging the window sum over a uniform centroid phase turns
        the sample sum into that integral).
    """
    return encircled_energy_square_mean_jacobian(half_widths_px, params, (), oversamp)[0]


def encircled_energy_square_mean_jacobian(
    half_widths_px: ArrayLike, params: PsfParams, parameter_names: Sequence[str], oversamp: float = 1.0
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Phase-averaged encircled energy and its derivatives with respect to PSF parameters.

    ``half_widths_px`` (nh,), ``params`` and ``oversamp`` are those of
    :func:`encircled_energy_square_mean`; ``parameter_names`` (length n) are the parameters to
    differentiate with respect to, among :data:`monitor.science.psf.FREE_PARAMETER_NAMES`.

    Returns
    -------
    ee : ndarray, shape (nh,)
        :func:`encircled_energy_square_mean`.
    jacobian : ndarray, shape (nh, n)
        ``d EE(h) / d p``, px^-1 (analytic: the EE is linear in the OTF).
    """
    o = check_oversamp(oversamp)
    h = _as_half_widths(half_widths_px)
    ee_all = _ee_evaluate(params, h, o, None, tuple(parameter_names))[:, 0, :]  # (1 + n, nh)
    return np.asarray(ee_all[0], dtype=np.float64), ee_all[1:].T
