"""REF-1 star model: black-body spectrum at the Ballesteros temperature, scaled to V (ICD 2.2).

Pure numpy; the caller passes the response curves (``monitor.io.reference_data.load_rsr`` and
``load_johnson_v``). Irradiances are at the satellite, atmosphere-free, W m^-2 um^-1.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.science.constants import F_V0_W_M2_UM
from monitor.science.spectral import band_weights, planck_radiance_w_m2_sr_um

__all__ = [
    "CALIBRATION_V_MIN",
    "CALIBRATION_V_MAX",
    "ballesteros_temperature_k",
    "star_band_irradiance_w_m2_um",
    "is_calibration_star",
]

CALIBRATION_V_MIN = 1.0  # mag, brightest star used for calibration (ICD 2.2)
CALIBRATION_V_MAX = 6.0  # mag, faintest star used for calibration (ICD 2.2)

_BALLESTEROS_T0_K = 4600.0  # K (Ballesteros 2012, EPL 97, 34008, eq. 14)
_B_V_POLE = -0.62 / 0.92  # B-V at which the formula diverges
_CHUNK_STARS = 256  # stars per block when evaluating spectra on the fine V grid (memory bound)


def ballesteros_temperature_k(b_v: ArrayLike) -> NDArray[np.float64]:
    """Effective temperature from the B-V colour (Ballesteros 2012).

    .. math:: T = 4600\\,\\mathrm{K}\\left(\\frac{1}{0.92(B-V)+1.7} + \\frac{1}{0.92(B-V)+0.62}\\right)

    Parameters
    ----------
    b_v : array_like of float
        Colour index B-V, mag, any shape.

    Returns
    -------
    NDArray[np.float64]
        Temperature, K, same shape as ``b_v``. NaN where ``b_v`` is NaN.

    Raises
    ------
    ValueError
        If a finite ``b_v`` is at or below the pole of the formula, B-V <= -0.674 (no physical
        temperature; real stars have B-V > -0.4), or is infinite.

    References
    ----------
    Ballesteros, F. J. (2012), EPL 97, 34008. Formula as written in ICD 2.2 (REF-1).
    """
    bv = np.asarray(b_v, dtype=np.float64)
    if np.any(np.isinf(bv)) or np.any(bv <= _B_V_POLE):
        raise ValueError(f"B-V must be finite and > {_B_V_POLE:.4f} for the Ballesteros formula")
    t: NDArray[np.float64] = _BALLESTEROS_T0_K * (1.0 / (0.92 * bv + 1.7) + 1.0 / (0.92 * bv + 0.62))
    return t


def star_band_irradiance_w_m2_um(
    v_mag: ArrayLike,
    b_v: ArrayLike,
    rsr_wavelength_nm: ArrayLike,
    rsr: ArrayLike,
    vband_wavelength_nm: ArrayLike,
    vband: ArrayLike,
) -> NDArray[np.float64]:
    """Band-averaged REF-1 star irradiance ``E_k`` at the satellite (ICD 2.2 and 2.1).

    .. math::
        E(\\lambda) = F_{V0}\\, 10^{-0.4 V}\\, \\frac{B_\\lambda(\\lambda, T)}{\\langle B_\\lambda(T)\\rangle_V},
        \\qquad E_k = \\langle E \\rangle_k = F_{V0}\\, 10^{-0.4 V}
        \\frac{\\langle B_\\lambda(T)\\rangle_k}{\\langle B_\\lambda(T)\\rangle_V}

    with ``T`` from :func:`ballesteros_temperature_k`, ``F_V0 = 3.631e-8 W m^-2 um^-1`` and
    ``<f>_X = int f S_X dl / int S_X dl`` (trapezoidal). Planck's law is evaluated exactly on each
    response's own grid (the band RSR's 1 nm grid and the V passband's grid), which is what
    interpolating a finely tabulated black body onto those grids converges to.

    Parameters
    ----------
    v_mag : array_like of float, shape (n,) or scalar
        Johnson V magnitude.
    b_v : array_like of float, shape (n,) or scalar
        B-V colour, mag (broadcast against ``v_mag``).
    rsr_wavelength_nm, rsr : array_like, shape (n_rsr,)
        Band relative spectral response and its wavelength grid, nm.
    vband_wavelength_nm, vband : array_like, shape (n_v,)
        Johnson V passband (energy-counting convention) and its grid, nm.

    Returns
    -------
    NDArray[np.float64]
        ``E_k`` in W m^-2 um^-1, shape = broadcast shape of ``v_mag`` and ``b_v`` (0-d for scalars).
        NaN where V or B-V is NaN.

    Raises
    ------
    ValueError
        From :func:`ballesteros_temperature_k` (B-V out of the formula's domain) or
        :func:`~monitor.science.spectral.band_average` (bad response curves).

    Notes
    -----
    Implemented with the trapezoidal weights of :func:`~monitor.science.spectral.band_weights`
    (identical to :func:`~monitor.science.spectral.band_average` on the response grid). Stars are
    processed in blocks of 256 to bound memory on the fine V grid (10^4 points).
    """
    v, bv = np.broadcast_arrays(np.asarray(v_mag, dtype=np.float64), np.asarray(b_v, dtype=np.float64))
    shape = v.shape
    t_k = ballesteros_temperature_k(bv).ravel()
    rlam = np.asarray(rsr_wavelength_nm, dtype=np.float64)
    vlam = np.asarray(vband_wavelength_nm, dtype=np.float64)
    w_k = band_weights(rlam, rsr)
    w_v = band_weights(vlam, vband)
    # Only grid points with a non-zero response contribute: evaluate Planck there only.
    rlam, w_k = rlam[w_k > 0.0], w_k[w_k > 0.0]
    vlam, w_v = vlam[w_v > 0.0], w_v[w_v > 0.0]
    ratio = np.empty(t_k.size, dtype=np.float64)
    for start in range(0, t_k.size, _CHUNK_STARS):
        tt = t_k[start : start + _CHUNK_STARS, None]
        tt_safe = np.where(np.isfinite(tt), tt, 5000.0)  # NaN stars: dummy T, result set to NaN below
        b_k = planck_radiance_w_m2_sr_um(rlam, tt_safe) @ w_k
        b_v_avg = planck_radiance_w_m2_sr_um(vlam, tt_safe) @ w_v
        ratio[start : start + _CHUNK_STARS] = np.where(np.isfinite(tt[:, 0]), b_k / b_v_avg, np.nan)
    e_k: NDArray[np.float64] = (F_V0_W_M2_UM * 10.0 ** (-0.4 * v.ravel()) * ratio).reshape(shape)
    return e_k


def is_calibration_star(v_mag: ArrayLike, b_v: ArrayLike) -> NDArray[np.bool_]:
    """Whether a star qualifies for calibration: 1.0 <= V <= 6.0 and a finite B-V (ICD 2.2).

    Parameters
    ----------
    v_mag, b_v : array_like of float
        V magnitude and B-V colour, broadcast together.

    Returns
    -------
    NDArray[np.bool_]
        True for usable stars; False where V or B-V is NaN/inf or V is out of range. Also False
        for a B-V at or below the Ballesteros pole (-0.674), where no temperature exists.
    """
    v = np.asarray(v_mag, dtype=np.float64)
    bv = np.asarray(b_v, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        ok: NDArray[np.bool_] = (
            np.isfinite(v) & (v >= CALIBRATION_V_MIN) & (v <= CALIBRATION_V_MAX) & np.isfinite(bv) & (bv > _B_V_POLE)
        )
    return ok
