"""Observed versus modelled lunar irradiance (ICD 6) and the lunar-model error budget.

For one channel of a lunar observation (a GLOD file, or an exported Pléiades Neo acquisition):

- :func:`integrate_imagette`: the system's own disk integration of the imagette, Σ (DN − offset)
  over the Moon and its halo, with the aperture and sky of
  :func:`monitor.science.moon_photometry.measure_moon_band` (any framing; OVERSAMP = the file's
  oversampling factor; the deep-space offset plays the part of DARK);
- :func:`file_net_counts`: the file's integrated counts made comparable. EUMETSAT's SEVIRI files
  store in ``dc_obs`` the GROSS sum of DN over their Moon mask (the ``moon_pix_num`` pixels at or
  above ``moon_pix_thld``), offset included: their ``irr_obs`` is
  ``(dc_obs − moon_pix_num · offset) · cal · pix_solid_ang / ovrsamp_fa``. The convention of a file
  is not guessed: it is told by recomputing both sums on the file's own imagette and mask;
- :func:`model_rel_sigma`: the phase-dependent uncertainty of the ROLO model (REF-1);
- :func:`compare`: ratio ``irr_obs / irr_model`` with its uncertainty;
- :func:`comparison_statistics`: LIME TBX's comparison figures per channel (MRD, MARD, σ, N) with
  its iterative 3σ filter, and the trends of the ratio versus time and phase angle.

ROLO model uncertainty (REF-1 lunar model, ICD 2.3): Kieffer & Stone (2005, AJ 129:2887) give
fit residuals below 1 % on average; Eplee et al. (2011, Appl. Opt. 50:120) find a residual phase
dependence below 1.7 % over 6–80°; the opposition region (|g| < 5°) is poorly constrained and
the fit does not extend past ~90° (observed "from eclipse to 90°", Stone 2017). The term is a
piecewise-linear envelope of those numbers: 3 % at 0°, 2 % at 2°, 1 % from 5° to 60°, 1.7 % at
80°, 2 % at 90° and 3 % beyond 100°. ROLO's ABSOLUTE scale is uncertain by 5–10 % (Stone 2017):
common to all observations, it is stated beside absolute results, not in any σ.

The observer's selenographic libration inside which ROLO was fitted: |latitude| ≤ 7°,
|longitude| ≤ 8° (lunar.md §4); outside it, and outside 2–90° of phase (ICD 2.3), a result is
kept but flagged and left out of trends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.domain import BandHeader
from monitor.science.exceptions import InsufficientDataError, ScienceError
from monitor.science.lunar_geometry import PHASE_ANGLE_MAX_DEG, PHASE_ANGLE_MIN_DEG
from monitor.science.moon_photometry import DEFAULT_GEOMETRY_REL_SIGMA, MoonPhotometry, measure_moon_array

__all__ = [
    "LIBRATION_MAX_LAT_DEG",
    "LIBRATION_MAX_LON_DEG",
    "ROLO_ABSOLUTE_SCALE_TEXT",
    "FLAG_PHASE",
    "FLAG_LIBRATION",
    "DiskIntegration",
    "FileCounts",
    "Comparison",
    "ComparisonStatistics",
    "integrate_imagette",
    "file_net_counts",
    "model_rel_sigma",
    "quality_flags",
    "compare",
    "comparison_statistics",
]

LIBRATION_MAX_LAT_DEG = 7.0  # observer selenographic latitude range of the ROLO fit
LIBRATION_MAX_LON_DEG = 8.0  # observer selenographic longitude range
ROLO_ABSOLUTE_SCALE_TEXT = "ROLO absolute scale uncertain by 5-10 % (Stone 2017), not included in the sigmas"
FLAG_PHASE = "phase-out-of-range"
FLAG_LIBRATION = "libration-out-of-range"

# |g| (deg) -> relative 1-sigma of the ROLO model (module doc)
_MODEL_SIGMA_PHASE_DEG = np.array([0.0, 2.0, 5.0, 60.0, 80.0, 90.0, 100.0])
_MODEL_SIGMA_REL = np.array([0.03, 0.02, 0.01, 0.01, 0.017, 0.02, 0.03])


@dataclass(frozen=True)
class DiskIntegration:
    """The system's integration of one imagette.

    Attributes
    ----------
    dc_integrated : float
        Σ (DN − offset) over the aperture (Moon and halo), counts (ICD 6).
    dc_sky_subtracted : float
        The same minus the residual sky fitted outside the limb, counts.
    residual_sky_dn : float
        Sky level above the offset, per pixel (a wrong offset shows here).
    n_pixels : int
        Pixels summed.
    rel_sigma : float
        Relative 1-sigma of the integration (noise, residual sky, aperture).
    photometry : MoonPhotometry
        The underlying measurement (aperture, centre, curve of growth), in the orientation used.
    oversampling_axis : str
        ``"rows"`` or ``"columns"``: the imagette axis the oversampling factor stretches.
    """

    dc_integrated: float
    dc_sky_subtracted: float
    residual_sky_dn: float
    n_pixels: int
    rel_sigma: float
    photometry: MoonPhotometry
    oversampling_axis: str = "rows"


@dataclass(frozen=True)
class FileCounts:
    """The file's integrated counts, net of the offset, and how they were read.

    ``convention``: ``"gross"`` (dc_obs = Σ DN over the file's mask, offset included: net =
    dc_obs − moon_pix_num · offset), ``"net"`` (dc_obs is already Σ (DN − offset)) or
    ``"as-given"`` (the file lacks what tells them apart; dc_obs used as it is).
    """

    dc_file: float
    dc_obs: float
    convention: str


@dataclass(frozen=True)
class Comparison:
    """irr_obs / irr_model for one observation and channel, with its budget."""

    ratio: float
    ratio_sigma: float
    rel_sigma_counts: float
    rel_sigma_geometry: float
    rel_sigma_model: float
    flags: tuple[str, ...]


@dataclass(frozen=True)
class ComparisonStatistics:
    """LIME TBX-style figures of one channel's comparisons (relative differences r = ratio − 1).

    ``mrd`` mean of r, ``mard`` mean of |r|, ``std`` standard deviation of r (ddof = 1; 0 for
    one point), ``n`` points kept after the iterative 3σ filter (``n_rejected`` removed),
    ``trend_per_year`` / ``trend_per_year_sigma`` slope of r versus time, ``phase_slope_per_deg``
    / ``phase_slope_sigma`` slope of r versus |g| (None with fewer than 3 points or one value).
    """

    mrd: float
    mard: float
    std: float
    n: int
    n_rejected: int
    trend_per_year: float | None
    trend_per_year_sigma: float | None
    phase_slope_per_deg: float | None
    phase_slope_sigma: float | None


def _quantisation_rel(img: NDArray[np.float64], n_pixels: int, signal_dn: float) -> float:
    """Relative noise floor of integer counts: 1/sqrt(12) DN per summed pixel (a deep-space sky of
    constant integer DN, as SEVIRI's, shows no variance: the sky noise would read 0)."""
    finite = img[np.isfinite(img)]
    if finite.size == 0 or signal_dn <= 0 or not np.array_equal(finite, np.round(finite)):
        return 0.0
    return math.sqrt(n_pixels / 12.0) / signal_dn


def _integrate_oriented(img: NDArray[np.float64], offset_dn: float | None, oversampling: float,
                        pixel_solid_angle_sr: float, axis: str) -> DiskIntegration:
    header = BandHeader(
        band="glod", shape=(int(img.shape[0]), int(img.shape[1])), dark_dn=float(offset_dn or 0.0),
        gain_factor=1.0, oversamp=float(oversampling), binning=1,
        pixscale_urad=math.sqrt(pixel_solid_angle_sr) * 1e6, lineper_ms=1.0, saturate_dn=math.inf,
    )  # fmt: skip
    phot = measure_moon_array(img, header, 1.0)
    n = phot.n_aperture_pixels
    sky = phot.background_dn
    # the fitted plane summed over a centred aperture = level x N; without an offset in the file the
    # fitted sky IS the deep-space level
    dc_int = phot.signal_dn + sky * n if offset_dn is not None else phot.signal_dn
    u = phot.uncertainty
    return DiskIntegration(
        dc_integrated=dc_int,
        dc_sky_subtracted=phot.signal_dn,
        residual_sky_dn=sky,
        n_pixels=n,
        rel_sigma=math.sqrt(max(u.noise, _quantisation_rel(img, n, phot.signal_dn)) ** 2 + u.background**2
                            + u.aperture**2),
        photometry=phot,
        oversampling_axis=axis,
    )


def integrate_imagette(
    imagette_dn: NDArray[np.floating],
    offset_dn: float | None,
    oversampling: float = 1.0,
    *,
    pixel_solid_angle_sr: float = 1e-10,
    expected_radius_px: float | None = None,
) -> DiskIntegration:
    """Disk-integrated counts of a lunar imagette (halo included), ICD 6 ``dc_integrated``.

    The GLOD convention does not say which imagette axis the oversampling factor stretches
    (EUMETSAT's SEVIRI files: 1, no stretch; JMA's MTSAT-2 Imager files: 1.75 along the columns,
    the east-west scan, whereas ICD 1.2's OVERSAMP stretches rows). With a factor other than 1
    both orientations are measured; the one whose fitted limb radius (native pixels) is closest
    to ``expected_radius_px`` is kept (without it: the one that succeeds, rows first).

    Parameters
    ----------
    imagette_dn : NDArray, shape (rows, cols)
        Digital counts; NaN where missing (fill), ignored off the disk.
    offset_dn : float or None
        Deep-space offset per pixel, counts; None when the file has none (the sky level fitted
        outside the limb is then the offset).
    oversampling : float
        Oversampling factor (pixels per native pixel along the oversampled axis).
    pixel_solid_angle_sr : float
        Solid angle of one pixel (scales nothing here; kept for the BandHeader).
    expected_radius_px : float, optional
        Moon radius expected from the geometry, native pixels (chooses the oversampled axis).

    Returns
    -------
    DiskIntegration

    Raises
    ------
    MoonPhotometryError, AllNaNError, InsufficientBackgroundError
        As :func:`~monitor.science.moon_photometry.measure_moon_band` (no Moon, truncated Moon,
        NaN on the disk, too little sky), in every orientation tried (the first one's error).
    """
    img = np.asarray(imagette_dn, dtype=np.float64)
    orientations = [("rows", img)] + ([("columns", img.T)] if abs(float(oversampling) - 1.0) > 1e-9 else [])
    found: list[DiskIntegration] = []
    first_error: ScienceError | None = None
    for axis, oriented in orientations:
        try:
            found.append(_integrate_oriented(oriented, offset_dn, oversampling, pixel_solid_angle_sr, axis))
        except ScienceError as exc:
            first_error = first_error or exc
    if not found:
        assert first_error is not None
        raise first_error
    if expected_radius_px is not None and expected_radius_px > 0:
        return min(found, key=lambda d: abs(math.log(d.photometry.disk_radius_px / expected_radius_px)))
    return found[0]


def file_net_counts(
    imagette_dn: NDArray[np.floating],
    dc_obs: float,
    offset_dn: float | None,
    moon_pix_num: int | None,
    moon_pix_thld: float | None,
    *,
    rel_tol: float = 1e-6,
) -> FileCounts:
    """The file's ``dc_obs`` net of the offset, its convention told by its own imagette.

    With the file's mask (pixels >= ``moon_pix_thld``) the gross sum Σ DN and the net sum
    Σ (DN − offset) are recomputed; the one equal to ``dc_obs`` (within ``rel_tol``, or closer
    of the two when neither is exact) names the convention. Without threshold or offset:
    ``as-given``.
    """
    img = np.asarray(imagette_dn, dtype=np.float64)
    if offset_dn is None or moon_pix_thld is None:
        return FileCounts(float(dc_obs), float(dc_obs), "as-given")
    mask = np.isfinite(img) & (img >= moon_pix_thld)
    n_mask = int(mask.sum())
    gross = float(img[mask].sum())
    net = gross - offset_dn * n_mask
    n = moon_pix_num if moon_pix_num is not None else n_mask
    d_gross = abs(gross - dc_obs) / max(abs(dc_obs), 1.0)
    d_net = abs(net - dc_obs) / max(abs(dc_obs), 1.0)
    if d_gross <= rel_tol or (d_gross < d_net and d_net > rel_tol):
        return FileCounts(float(dc_obs) - offset_dn * n, float(dc_obs), "gross")
    return FileCounts(float(dc_obs), float(dc_obs), "net")


def model_rel_sigma(phase_angle_deg: float) -> float:
    """Relative 1-sigma of the REF-1 (ROLO) model at phase angle g (module doc; |g| used)."""
    return float(np.interp(abs(phase_angle_deg), _MODEL_SIGMA_PHASE_DEG, _MODEL_SIGMA_REL))


def quality_flags(phase_angle_deg: float, observer_lat_deg: float, observer_lon_deg: float,
                  min_phase_deg: float = PHASE_ANGLE_MIN_DEG, max_phase_deg: float = PHASE_ANGLE_MAX_DEG,
                  ) -> tuple[str, ...]:
    """Flags of a lunar observation outside the model's range: phase (ICD 2.3) and libration."""
    flags: list[str] = []
    if not min_phase_deg <= abs(phase_angle_deg) <= max_phase_deg:
        flags.append(FLAG_PHASE)
    if abs(observer_lat_deg) > LIBRATION_MAX_LAT_DEG or abs(observer_lon_deg) > LIBRATION_MAX_LON_DEG:
        flags.append(FLAG_LIBRATION)
    return tuple(flags)


def compare(
    irr_obs: float,
    irr_model: float,
    *,
    phase_angle_deg: float,
    observer_lat_deg: float,
    observer_lon_deg: float,
    rel_sigma_counts: float,
    rel_sigma_geometry: float = DEFAULT_GEOMETRY_REL_SIGMA,
) -> Comparison:
    """Ratio ``irr_obs / irr_model`` and its 1-sigma (ICD 6).

    ``ratio_sigma = ratio · sqrt(u_counts² + u_geometry² + u_model(g)²)``: ``u_counts`` the
    uncertainty of the observed counts (the caller's photometric budget and the disagreement of
    two integrations), ``u_geometry`` of the model irradiance from the geometry, ``u_model`` the
    phase-dependent ROLO term (:func:`model_rel_sigma`). The absolute scale is not included.

    Raises
    ------
    ValueError
        If an irradiance is not finite and > 0.
    """
    if not (math.isfinite(irr_obs) and math.isfinite(irr_model) and irr_obs > 0 and irr_model > 0):
        raise ValueError(f"irradiances must be finite and > 0, got {irr_obs!r} / {irr_model!r}")
    ratio = irr_obs / irr_model
    u_model = model_rel_sigma(phase_angle_deg)
    rel = math.sqrt(rel_sigma_counts**2 + rel_sigma_geometry**2 + u_model**2)
    return Comparison(
        ratio=ratio,
        ratio_sigma=ratio * rel,
        rel_sigma_counts=float(rel_sigma_counts),
        rel_sigma_geometry=float(rel_sigma_geometry),
        rel_sigma_model=u_model,
        flags=quality_flags(phase_angle_deg, observer_lat_deg, observer_lon_deg),
    )


def _three_sigma_keep(r: NDArray[np.float64]) -> NDArray[np.bool_]:
    """LIME TBX's filter: drop points >= 3 standard deviations from the mean, repeatedly."""
    keep = np.ones(r.size, dtype=bool)
    while keep.sum() > 2:
        mean, std = float(r[keep].mean()), float(r[keep].std(ddof=1))
        new = keep & (np.abs(r - mean) < 3.0 * std) if std > 0 else keep
        if new.sum() == keep.sum():
            break
        keep = new
    return keep


def _slope(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[float | None, float | None]:
    """Ordinary least-squares slope and its standard error (None with < 3 points or one x)."""
    if x.size < 3 or np.ptp(x) == 0:
        return None, None
    xc = x - x.mean()
    sxx = float(xc @ xc)
    b = float(xc @ (y - y.mean())) / sxx
    resid = y - y.mean() - b * xc
    s2 = float(resid @ resid) / (x.size - 2)
    return b, math.sqrt(s2 / sxx)


def comparison_statistics(
    ratio: ArrayLike,
    time_years: ArrayLike,
    phase_angle_deg: ArrayLike,
    *,
    filter_3sigma: bool = True,
) -> ComparisonStatistics:
    """MRD, MARD, σ, N and trends of one channel's ratios (LIME TBX conventions, module doc).

    Parameters
    ----------
    ratio : array_like, shape (n,)
        irr_obs / irr_model of the in-trend comparisons.
    time_years : array_like, shape (n,)
        Epochs, years from any origin.
    phase_angle_deg : array_like, shape (n,)
        Phase angles (signed; |g| used for the phase slope).
    filter_3sigma : bool
        Apply the iterative 3σ outlier filter first.

    Raises
    ------
    InsufficientDataError
        With no point.
    """
    q = np.asarray(ratio, dtype=np.float64)
    t = np.asarray(time_years, dtype=np.float64)
    g = np.abs(np.asarray(phase_angle_deg, dtype=np.float64))
    ok = np.isfinite(q) & np.isfinite(t) & np.isfinite(g)
    q, t, g = q[ok], t[ok], g[ok]
    if q.size == 0:
        raise InsufficientDataError("no comparison to summarise")
    r = q - 1.0
    keep = _three_sigma_keep(r) if filter_3sigma else np.ones(r.size, dtype=bool)
    rk = r[keep]
    trend, trend_s = _slope(t[keep], rk)
    slope, slope_s = _slope(g[keep], rk)
    return ComparisonStatistics(
        mrd=float(rk.mean()),
        mard=float(np.abs(rk).mean()),
        std=float(rk.std(ddof=1)) if rk.size > 1 else 0.0,
        n=int(rk.size),
        n_rejected=int(r.size - rk.size),
        trend_per_year=trend,
        trend_per_year_sigma=trend_s,
        phase_slope_per_deg=slope,
        phase_slope_sigma=slope_s,
    )
