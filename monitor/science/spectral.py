"""Spectral helpers: Planck's law and band averaging over a relative spectral response (ICD 2.1).

Pure numpy; no files. Wavelengths in nm, spectral quantities per micrometre.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.science.constants import BOLTZMANN_K_J_K, PLANCK_H_J_S, SPEED_OF_LIGHT_M_S

__all__ = [
    "planck_radiance_w_m2_sr_um",
    "band_average",
    "band_weights",
]

_C1_W_M2_SR_UM = 2.0 * PLANCK_H_J_S * SPEED_OF_LIGHT_M_S**2 * 1e-6  # 2hc^2 (m^4 -> per um below)
_C2_M_K = PLANCK_H_J_S * SPEED_OF_LIGHT_M_S / BOLTZMANN_K_J_K  # hc/k, m K


def planck_radiance_w_m2_sr_um(wavelength_nm: ArrayLike, temperature_k: ArrayLike) -> NDArray[np.float64]:
    """Black-body spectral radiance ``B_lambda(lambda, T)`` (Planck's law).

    .. math:: B_\\lambda = \\frac{2 h c^2}{\\lambda^5} \\frac{1}{\\exp(h c / \\lambda k T) - 1}

    Parameters
    ----------
    wavelength_nm : array_like of float
        Wavelength, nm (> 0).
    temperature_k : array_like of float
        Temperature, K (> 0). Broadcast against ``wavelength_nm`` with numpy rules; to get one
        spectrum per temperature pass ``temperature_k[:, None]`` and a 1-D wavelength grid.

    Returns
    -------
    NDArray[np.float64]
        Spectral radiance, W m^-2 sr^-1 um^-1, with the broadcast shape of the inputs.

    Raises
    ------
    ValueError
        If a finite wavelength or temperature is not strictly positive.

    Notes
    -----
    NaN inputs give NaN outputs. ``expm1`` keeps the Rayleigh-Jeans limit accurate; for very short
    ``lambda T`` the exponential overflows to ``inf`` and the radiance correctly underflows to 0
    (no warning is emitted). Constants are the exact SI 2019 values.

    Examples
    --------
    The Sun's photosphere (5772 K) at 500 nm, and one spectrum per temperature on a common grid:

    >>> f"{float(planck_radiance_w_m2_sr_um(500.0, 5772.0)):.3e}"
    '2.624e+07'
    >>> planck_radiance_w_m2_sr_um([400.0, 700.0, 1000.0], np.array([5772.0, 3000.0])[:, None]).shape
    (2, 3)
    """
    lam_m = np.asarray(wavelength_nm, dtype=np.float64) * 1e-9
    t_k = np.asarray(temperature_k, dtype=np.float64)
    if np.any(lam_m <= 0.0) or np.any(t_k <= 0.0):
        raise ValueError("wavelength and temperature must be > 0")
    with np.errstate(over="ignore"):
        x = _C2_M_K / (lam_m * t_k)
        out: NDArray[np.float64] = _C1_W_M2_SR_UM / lam_m**5 / np.expm1(x)
    return out


def band_average(
    wavelength_nm: ArrayLike,
    spectrum: ArrayLike,
    rsr_wavelength_nm: ArrayLike,
    rsr: ArrayLike,
) -> float | NDArray[np.float64]:
    """Band-averaged value of a spectrum over a relative spectral response (ICD 2.1).

    .. math:: E_k = \\frac{\\int E(\\lambda) R_k(\\lambda) d\\lambda}{\\int R_k(\\lambda) d\\lambda}

    The spectrum is interpolated linearly onto the RSR's own wavelength grid and both integrals
    are trapezoidal on that grid (ICD 2.1: RSR files are on a 1 nm grid).

    Parameters
    ----------
    wavelength_nm : array_like, shape (n_lambda,)
        Wavelength grid of the spectrum, nm, strictly increasing.
    spectrum : array_like, shape (..., n_lambda)
        Spectral values (any unit, e.g. W m^-2 um^-1); leading axes are independent spectra
        (e.g. shape ``(n_stars, n_lambda)``).
    rsr_wavelength_nm : array_like, shape (n_rsr,)
        Wavelength grid of the response, nm, strictly increasing.
    rsr : array_like, shape (n_rsr,)
        Relative spectral response (dimensionless, >= 0; the normalisation cancels).

    Returns
    -------
    float or NDArray[np.float64]
        Band average in the unit of ``spectrum``: a float for a 1-D spectrum, else an array of
        shape ``spectrum.shape[:-1]``.

    Raises
    ------
    ValueError
        If shapes disagree, a grid is not strictly increasing, the RSR has a NaN or negative value,
        its integral is not positive, or the spectrum grid does not cover the wavelengths where the
        RSR is non-zero (no silent extrapolation).

    Notes
    -----
    A NaN in a spectrum (inside the band) propagates to that spectrum's result. RSR points outside
    the spectrum's grid are allowed only where the response is zero; there the spectrum is taken
    as 0 (it is multiplied by 0).

    Examples
    --------
    A spectrum rising linearly with wavelength, averaged over a triangular response centred on
    550 nm, gives its value at 550 nm; leading axes are independent spectra:

    >>> lam = np.arange(400.0, 701.0)
    >>> band_average(lam, 2.0 * lam, [500.0, 550.0, 600.0], [0.0, 1.0, 0.0])
    1100.0
    >>> band_average(lam, np.stack([2.0 * lam, np.ones_like(lam)]), [500.0, 550.0, 600.0], [0.0, 1.0, 0.0]).tolist()
    [1100.0, 1.0]
    """
    lam = np.asarray(wavelength_nm, dtype=np.float64)
    spec = np.asarray(spectrum, dtype=np.float64)
    rlam = np.asarray(rsr_wavelength_nm, dtype=np.float64)
    resp = np.asarray(rsr, dtype=np.float64)
    if lam.ndim != 1 or spec.ndim < 1 or spec.shape[-1] != lam.size:
        raise ValueError(f"spectrum shape {spec.shape} does not end with wavelength size {lam.size}")
    if rlam.ndim != 1 or resp.shape != rlam.shape or rlam.size < 2:
        raise ValueError("rsr and rsr_wavelength_nm must be 1-D of the same size >= 2")
    if np.any(np.diff(lam) <= 0.0) or np.any(np.diff(rlam) <= 0.0):
        raise ValueError("wavelength grids must be strictly increasing")
    if not np.all(np.isfinite(resp)) or np.any(resp < 0.0):
        raise ValueError("rsr must be finite and >= 0")
    weights = band_weights(rlam, resp)
    inside = (rlam >= lam[0]) & (rlam <= lam[-1])
    if np.any(resp[~inside] > 0.0):
        raise ValueError(
            f"spectrum grid [{lam[0]}, {lam[-1]}] nm does not cover the non-zero RSR "
            f"[{rlam[resp > 0][0]}, {rlam[resp > 0][-1]}] nm"
        )
    lead = spec.shape[:-1]
    flat = spec.reshape(-1, lam.size)
    # Vectorised linear interpolation of every spectrum onto the RSR grid.
    rl = np.clip(rlam, lam[0], lam[-1])
    j = np.clip(np.searchsorted(lam, rl, side="right") - 1, 0, lam.size - 2)
    frac = (rl - lam[j]) / (lam[j + 1] - lam[j])
    on_rsr = flat[:, j] * (1.0 - frac) + flat[:, j + 1] * frac
    on_rsr = np.where(inside, on_rsr, 0.0)
    out = on_rsr @ weights
    if not lead:
        return float(out[0])
    result: NDArray[np.float64] = out.reshape(lead)
    return result


def band_weights(rsr_wavelength_nm: ArrayLike, rsr: ArrayLike) -> NDArray[np.float64]:
    """Quadrature weights ``w`` such that ``E_k = f @ w`` for a spectrum ``f`` on the RSR grid.

    ``w_i = R_i c_i / sum_j R_j c_j`` with ``c_i`` the trapezoidal-rule coefficients of the grid
    (half the sum of the two adjacent intervals), i.e. exactly the trapezoidal ratio of ICD 2.1.
    Precompute once and reuse for many spectra (a matrix-vector product).

    Parameters
    ----------
    rsr_wavelength_nm : array_like, shape (n_rsr,)
        Strictly increasing wavelength grid, nm.
    rsr : array_like, shape (n_rsr,)
        Relative spectral response, finite and >= 0.

    Returns
    -------
    NDArray[np.float64], shape (n_rsr,)
        Normalised weights (sum to 1), in nm^0.

    Raises
    ------
    ValueError
        If the grid is not strictly increasing, the response has NaN/negative values, shapes differ,
        or the response integral is not positive.

    Examples
    --------
    >>> band_weights([500.0, 510.0, 520.0], [1.0, 1.0, 1.0])
    array([0.25, 0.5 , 0.25])
    """
    rlam = np.asarray(rsr_wavelength_nm, dtype=np.float64)
    resp = np.asarray(rsr, dtype=np.float64)
    if rlam.ndim != 1 or resp.shape != rlam.shape or rlam.size < 2:
        raise ValueError("rsr and rsr_wavelength_nm must be 1-D of the same size >= 2")
    dl = np.diff(rlam)
    if np.any(dl <= 0.0):
        raise ValueError("wavelength grids must be strictly increasing")
    if not np.all(np.isfinite(resp)) or np.any(resp < 0.0):
        raise ValueError("rsr must be finite and >= 0")
    coef = np.zeros_like(rlam)
    coef[:-1] += 0.5 * dl
    coef[1:] += 0.5 * dl
    w = resp * coef
    norm = float(w.sum())
    if norm <= 0.0:
        raise ValueError("rsr integral must be > 0")
    out: NDArray[np.float64] = w / norm
    return out
