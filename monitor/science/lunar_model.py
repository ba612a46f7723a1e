"""REF-1 lunar model: ROLO disk reflectance and band-averaged lunar irradiance (ICD 2.3).

Kieffer & Stone (2005), Astron. J. 129:2887, Eq. 10, in the form stated in the header of
``reference/rolo_coefficients.csv`` (K&S c-term pairing, as ESA's LIME toolbox; no Apollo
adjustment):

.. math::

    \\ln A_j = \\sum_{i=0}^{3} a_{ij} g_r^i + b_{1j} \\Phi_r + b_{2j} \\Phi_r^3 + b_{3j} \\Phi_r^5
             + c_1 \\theta + c_2 \\phi + c_3 \\Phi_r \\theta + c_4 \\Phi_r \\phi
             + d_{1j} e^{-g/p_1} + d_{2j} e^{-g/p_2} + d_{3j} \\cos((g - p_3)/p_4)

``g_r`` = |g| and ``Phi_r`` in radians (a, b, c terms), ``g`` = |g| in degrees (d terms, p in
degrees, the cosine argument used as radians), ``theta``/``phi`` (observer selenographic
latitude/longitude) in degrees. Irradiance at the satellite:

.. math::

    E(\\lambda) = A(\\lambda)\\,\\Omega_M\\,E_{sun}(\\lambda)/\\pi\\,(1\\,AU/d_{SM})^2\\,
                  (384400\\,km/d_{OM})^2

with A linearly interpolated in wavelength onto the RSR grid (constant beyond the ends) and the
band average of ICD 2.1 (trapezoid on the RSR grid).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.science.constants import AU_KM, MOON_MEAN_DISTANCE_KM, MOON_SOLID_ANGLE_SR
from monitor.science.spectral import band_average

__all__ = [
    "RoloCoefficientTable",
    "rolo_ln_reflectance_eq10",
    "rolo_reflectance",
    "lunar_irradiance",
    "lunar_spectral_irradiance",
    "lunar_band_irradiance",
]

_PER_WAVELENGTH_COLUMNS = ("a0", "a1", "a2", "a3", "b1", "b2", "b3", "d1", "d2", "d3")


class RoloCoefficientTable(Protocol):
    """What the model needs from a ROLO coefficient table.

    Satisfied by ``monitor.io.reference_data.RoloCoefficients`` (``science`` does not import
    ``io``): ``per_wavelength`` has one row per wavelength and the columns named in ``columns``
    (a0..a3, b1..b3, d1..d3); ``c`` and ``p`` are the wavelength-independent constants.
    """

    @property
    def wavelength_nm(self) -> NDArray[np.float64]: ...

    @property
    def per_wavelength(self) -> NDArray[np.float64]: ...

    @property
    def columns(self) -> tuple[str, ...]: ...

    @property
    def c(self) -> tuple[float, float, float, float]: ...

    @property
    def p(self) -> tuple[float, float, float, float]: ...


def rolo_ln_reflectance_eq10(
    phase_angle_deg: ArrayLike,
    sun_selenographic_lon_deg: ArrayLike,
    observer_lat_deg: ArrayLike,
    observer_lon_deg: ArrayLike,
    a: ArrayLike,
    b: ArrayLike,
    c: ArrayLike,
    d: ArrayLike,
    p: ArrayLike,
) -> NDArray[np.float64]:
    """ln of the ROLO disk reflectance, Kieffer & Stone (2005) Eq. 10 (REF-1 units).

    Parameters
    ----------
    phase_angle_deg : array_like
        Phase angle g, degrees; the sign is ignored (the model uses |g|). Geometry arguments
        broadcast together; the output gets a trailing wavelength axis.
    sun_selenographic_lon_deg : array_like
        Phi, selenographic longitude of the Sun, degrees (converted to radians inside).
    observer_lat_deg, observer_lon_deg : array_like
        theta, phi: observer selenographic latitude and longitude, degrees (used in degrees).
    a : array_like, shape (n, 4)
        a0..a3 per wavelength (g in radians).
    b : array_like, shape (n, 3)
        b1..b3 per wavelength (Phi in radians).
    c : array_like, shape (4,) or (n, 4)
        c1..c4 (K&S pairing: c1 theta + c2 phi + c3 Phi theta + c4 Phi phi), per degree.
    d : array_like, shape (n, 3)
        d1..d3 per wavelength.
    p : array_like, shape (4,) or (n, 4)
        p1..p4, degrees.

    Returns
    -------
    NDArray[np.float64], shape (*geometry_shape, n)
        ln A (dimensionless reflectance). NaN geometry gives NaN.

    Examples
    --------
    With only a0 and a1 (a reflectance falling exponentially with phase), at g = 30 deg:
    ln A = a0 + a1 g_r = -2 - pi/6.

    >>> rolo_ln_reflectance_eq10(30.0, 0.0, 0.0, 0.0, a=[[-2.0, -1.0, 0.0, 0.0]], b=[[0.0, 0.0, 0.0]],
    ...                          c=[0.0, 0.0, 0.0, 0.0], d=[[0.0, 0.0, 0.0]], p=[1.0, 1.0, 1.0, 1.0]).round(6)
    array([-2.523599])
    """
    g_deg = np.abs(np.asarray(phase_angle_deg, dtype=np.float64))[..., None]
    phi_r = np.radians(np.asarray(sun_selenographic_lon_deg, dtype=np.float64))[..., None]
    lat = np.asarray(observer_lat_deg, dtype=np.float64)[..., None]
    lon = np.asarray(observer_lon_deg, dtype=np.float64)[..., None]
    g_r = np.radians(g_deg)
    a_ = np.asarray(a, dtype=np.float64)
    b_ = np.asarray(b, dtype=np.float64)
    c_ = np.broadcast_to(np.asarray(c, dtype=np.float64), (a_.shape[0], 4))
    d_ = np.asarray(d, dtype=np.float64)
    p_ = np.broadcast_to(np.asarray(p, dtype=np.float64), (a_.shape[0], 4))
    out: NDArray[np.float64] = (
        a_[:, 0] + a_[:, 1] * g_r + a_[:, 2] * g_r**2 + a_[:, 3] * g_r**3
        + b_[:, 0] * phi_r + b_[:, 1] * phi_r**3 + b_[:, 2] * phi_r**5
        + c_[:, 0] * lat + c_[:, 1] * lon + c_[:, 2] * phi_r * lat + c_[:, 3] * phi_r * lon
        + d_[:, 0] * np.exp(-g_deg / p_[:, 0]) + d_[:, 1] * np.exp(-g_deg / p_[:, 1])
        + d_[:, 2] * np.cos((g_deg - p_[:, 2]) / p_[:, 3])
    )  # fmt: skip
    return out


def rolo_reflectance(
    phase_angle_deg: ArrayLike,
    sun_selenographic_lon_deg: ArrayLike,
    observer_lat_deg: ArrayLike,
    observer_lon_deg: ArrayLike,
    coeffs: RoloCoefficientTable,
) -> NDArray[np.float64]:
    """ROLO disk-equivalent reflectance A(lambda_j) at the table's wavelengths (REF-1).

    Parameters
    ----------
    phase_angle_deg : array_like
        Phase angle g, degrees (signed or not; |g| is used).
    sun_selenographic_lon_deg : array_like
        Phi, degrees east.
    observer_lat_deg, observer_lon_deg : array_like
        theta, phi of the sub-observer point, degrees.
    coeffs : RoloCoefficientTable
        ROLO coefficients (``load_rolo_coefficients()``), 32 wavelengths for REF-1.

    Returns
    -------
    NDArray[np.float64], shape (*geometry_shape, n_wavelengths)
        Reflectance A, dimensionless; ``(32,)`` for scalar geometry.
    """
    col = {name: i for i, name in enumerate(coeffs.columns)}
    missing = [name for name in _PER_WAVELENGTH_COLUMNS if name not in col]
    if missing:
        raise ValueError(f"ROLO table lacks columns {missing}")
    table = np.asarray(coeffs.per_wavelength, dtype=np.float64)

    def pick(names: tuple[str, ...]) -> NDArray[np.float64]:
        return table[:, [col[n] for n in names]]

    ln_a = rolo_ln_reflectance_eq10(
        phase_angle_deg,
        sun_selenographic_lon_deg,
        observer_lat_deg,
        observer_lon_deg,
        a=pick(("a0", "a1", "a2", "a3")),
        b=pick(("b1", "b2", "b3")),
        c=np.asarray(coeffs.c, dtype=np.float64),
        d=pick(("d1", "d2", "d3")),
        p=np.asarray(coeffs.p, dtype=np.float64),
    )
    return np.exp(ln_a)


def lunar_irradiance(
    reflectance: ArrayLike,
    solar_irradiance: ArrayLike,
    d_sun_moon_km: ArrayLike,
    d_obs_moon_km: ArrayLike,
) -> NDArray[np.float64]:
    """Lunar spectral irradiance at the observer from the disk reflectance (ICD 2.3).

    .. math:: E = A\\,\\Omega_M\\,E_{sun}/\\pi\\,(1\\,AU/d_{SM})^2\\,(384400\\,km/d_{OM})^2,
              \\quad \\Omega_M = 6.4177\\times10^{-5}\\,sr

    Parameters
    ----------
    reflectance : array_like
        Disk reflectance A (dimensionless).
    solar_irradiance : array_like
        Solar spectral irradiance at 1 AU at the same wavelengths; the output has its unit
        (W m^-2 um^-1 for REF-1's solar spectrum).
    d_sun_moon_km, d_obs_moon_km : array_like
        Sun-Moon and observer-Moon distances, km.

    Returns
    -------
    NDArray[np.float64]
        Spectral irradiance, broadcast shape of the inputs.

    Examples
    --------
    A disk reflectance of 0.1 in a 1900 W m^-2 um^-1 solar band, at 1 AU from the Sun and the mean
    Earth-Moon distance: E = 0.1 x 6.4177e-5 sr x 1900 / pi.

    >>> round(float(lunar_irradiance(0.1, 1900.0, AU_KM, MOON_MEAN_DISTANCE_KM)), 8)
    0.00388135
    """
    a = np.asarray(reflectance, dtype=np.float64)
    e_sun = np.asarray(solar_irradiance, dtype=np.float64)
    d_sm = np.asarray(d_sun_moon_km, dtype=np.float64)
    d_om = np.asarray(d_obs_moon_km, dtype=np.float64)
    out: NDArray[np.float64] = (
        a * MOON_SOLID_ANGLE_SR * e_sun / np.pi * (AU_KM / d_sm) ** 2 * (MOON_MEAN_DISTANCE_KM / d_om) ** 2
    )
    return out


def lunar_spectral_irradiance(
    wavelength_nm: ArrayLike,
    phase_angle_deg: float,
    sun_selenographic_lon_deg: float,
    observer_lat_deg: float,
    observer_lon_deg: float,
    d_sun_moon_km: float,
    d_obs_moon_km: float,
    *,
    coeffs: RoloCoefficientTable,
    solar_wavelength_nm: ArrayLike,
    solar_irradiance_w_m2_um: ArrayLike,
) -> NDArray[np.float64]:
    """REF-1 lunar spectral irradiance E(lambda) at the observer on a wavelength grid.

    A(lambda_j) from :func:`rolo_reflectance` is interpolated linearly in wavelength onto
    ``wavelength_nm`` and held constant beyond the first/last ROLO wavelength; the solar spectrum
    is interpolated linearly (it must cover the grid); then :func:`lunar_irradiance`.

    Parameters
    ----------
    wavelength_nm : array_like, shape (m,)
        Output grid, nm.
    phase_angle_deg, sun_selenographic_lon_deg, observer_lat_deg, observer_lon_deg : float
        g (signed or not), Phi, theta, phi; degrees.
    d_sun_moon_km, d_obs_moon_km : float
        Distances, km.
    coeffs : RoloCoefficientTable
        ROLO coefficients.
    solar_wavelength_nm, solar_irradiance_w_m2_um : array_like, shape (k,)
        Solar spectrum at 1 AU (W m^-2 um^-1).

    Returns
    -------
    NDArray[np.float64], shape (m,)
        E(lambda), W m^-2 um^-1.

    Raises
    ------
    ValueError
        If the solar spectrum does not cover ``wavelength_nm``.
    """
    lam = np.asarray(wavelength_nm, dtype=np.float64)
    sol_lam = np.asarray(solar_wavelength_nm, dtype=np.float64)
    if lam.min() < sol_lam[0] or lam.max() > sol_lam[-1]:
        raise ValueError(
            f"solar spectrum [{sol_lam[0]}, {sol_lam[-1]}] nm does not cover [{lam.min()}, {lam.max()}] nm"
        )
    refl = rolo_reflectance(phase_angle_deg, sun_selenographic_lon_deg, observer_lat_deg, observer_lon_deg, coeffs)
    a_on_grid = np.interp(lam, np.asarray(coeffs.wavelength_nm, dtype=np.float64), refl)
    e_sun = np.interp(lam, sol_lam, np.asarray(solar_irradiance_w_m2_um, dtype=np.float64))
    return lunar_irradiance(a_on_grid, e_sun, d_sun_moon_km, d_obs_moon_km)


def lunar_band_irradiance(
    phase_angle_deg: float,
    sun_selenographic_lon_deg: float,
    observer_lat_deg: float,
    observer_lon_deg: float,
    d_sun_moon_km: float,
    d_obs_moon_km: float,
    *,
    coeffs: RoloCoefficientTable,
    rsr_wavelength_nm: ArrayLike,
    rsr: ArrayLike,
    solar_wavelength_nm: ArrayLike,
    solar_irradiance_w_m2_um: ArrayLike,
) -> float:
    """Band-averaged REF-1 lunar irradiance E_k at the satellite (ICD 2.1, 2.3).

    .. math:: E_k = \\int E(\\lambda) R_k(\\lambda)\\,d\\lambda \\,/\\, \\int R_k(\\lambda)\\,d\\lambda

    with E(lambda) from :func:`lunar_spectral_irradiance` on the RSR's own (1 nm) grid and
    trapezoidal integrals (:func:`monitor.science.spectral.band_average`).

    Parameters
    ----------
    phase_angle_deg, sun_selenographic_lon_deg, observer_lat_deg, observer_lon_deg : float
        g, Phi, theta, phi of :class:`~monitor.science.lunar_geometry.LunarGeometry`, degrees.
    d_sun_moon_km, d_obs_moon_km : float
        Distances, km.
    coeffs : RoloCoefficientTable
        ROLO coefficients.
    rsr_wavelength_nm, rsr : array_like, shape (m,)
        Band relative spectral response on its grid.
    solar_wavelength_nm, solar_irradiance_w_m2_um : array_like
        Solar spectrum at 1 AU, W m^-2 um^-1.

    Returns
    -------
    float
        E_k, W m^-2 um^-1.

    Examples
    --------
    A two-wavelength table of constant reflectance 0.1 (any object with the attributes of
    :class:`RoloCoefficientTable`), a flat solar spectrum and a box response from 600 to 700 nm give
    the irradiance of :func:`lunar_irradiance`:

    >>> from types import SimpleNamespace
    >>> row = [np.log(0.1)] + [0.0] * 9
    >>> table = SimpleNamespace(wavelength_nm=np.array([500.0, 800.0]), columns=_PER_WAVELENGTH_COLUMNS,
    ...                         per_wavelength=np.array([row, row]), c=(0.0,) * 4, p=(1.0,) * 4)
    >>> e_k = lunar_band_irradiance(30.0, -20.0, 1.0, 2.0, AU_KM, MOON_MEAN_DISTANCE_KM, coeffs=table,
    ...                             rsr_wavelength_nm=[600.0, 650.0, 700.0], rsr=[1.0, 1.0, 1.0],
    ...                             solar_wavelength_nm=[400.0, 1000.0], solar_irradiance_w_m2_um=[1900.0, 1900.0])
    >>> round(e_k, 8)
    0.00388135
    """
    rlam = np.asarray(rsr_wavelength_nm, dtype=np.float64)
    e_lam = lunar_spectral_irradiance(
        rlam,
        phase_angle_deg,
        sun_selenographic_lon_deg,
        observer_lat_deg,
        observer_lon_deg,
        d_sun_moon_km,
        d_obs_moon_km,
        coeffs=coeffs,
        solar_wavelength_nm=solar_wavelength_nm,
        solar_irradiance_w_m2_um=solar_irradiance_w_m2_um,
    )
    return float(band_average(rlam, e_lam, rlam, rsr))
