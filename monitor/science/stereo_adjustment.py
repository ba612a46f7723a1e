"""Simultaneous least-squares adjustment of an along-track stereo pair (ICD-1 §3 GEOM).

Model (Michalis & Dowman 2008, "UCL Kepler" along-track model):

* one orbit for both views. Default (``orbit_model="j2"``): a two-body + J2 orbit fitted to all
  EPHEM samples weighted by their stated accuracy (`monitor.science.orbit.fit_j2_orbit_to_ephem`),
  of which the adjustment estimates only a small position offset and drift under prior sigmas
  (the navigation's bias), so the orbit keeps the ephemeris' accuracy. For comparison with the
  paper (``orbit_model="kepler"``): the truncated Kepler expansion about the mid-time ``t_ref`` of
  the observations, order 2 (published) or 3 (with the jerk term), fitted to the EPHEM samples;
* per view, attitude angles (roll, pitch, yaw) as polynomials of degree d in time
  (`monitor.science.pushbroom.AttitudePolynomial`; default bias + drift in roll and pitch, bias in yaw);
* collinearity residuals of the CONTROL points in line/sample pixels, weighted by the
  measurement sigma (`monitor.science.pushbroom.image_residuals`);
* the EPHEM fit's covariance plus the position/velocity prior sigmas as a weighted prior on the
  six orbit parameters; optionally an attitude prior (e.g. star-tracker attitude) or a prior on
  the attitude drifts;
* Levenberg-Marquardt (``scipy.optimize.least_squares``, MINPACK) on the whitened residuals.

With 0.3 px noise and free attitude, position and attitude are nearly interchangeable: the EPHEM
prior is what pins the orbit; the geometry is validated with CHECK points (benchmarks/geometry.py
reports both: the orbit error, and the CHECK-point RMSE against the noise floor).

Blunder detection (data snooping, Baarda 1968): after each adjustment, the standardised residuals
``w_i = v_i / (sigma_i sqrt(q_vv,ii))`` (scaled by max(1, sigma0)) are computed; if the largest
|w| exceeds the threshold, the point that holds it is removed (both views) and the adjustment is
repeated.

CHECK points are intersected from both views with the adjusted model (space intersection) and
compared with their known coordinates in local east/north/up.

Units: metres, m/s, seconds on the caller's time axis (seconds from DATE-OBS), radians; image
coordinates in pixels.

References
----------
Michalis P., Dowman I. (2008), PE&RS 74(3):303-309.
Baarda W. (1968), "A testing procedure for use in geodetic networks", Netherlands Geodetic
Commission, Publications on Geodesy 2(5).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import least_squares

from monitor.science.earth_frames import (
    EARTH_ROTATION_RATE_RAD_S,
    ecef_delta_to_enu,
    ecef_to_inertial,
    geodetic_to_ecef,
)
from monitor.science.exceptions import InsufficientDataError, ScienceError
from monitor.science.orbit import (
    ORBIT_MODELS,
    CorrectedTrajectory,
    J2OrbitFit,
    KeplerOrbit,
    OrbitFit,
    OrbitModelError,
    Trajectory,
    fit_j2_orbit_to_ephem,
    fit_orbit_to_ephem,
)
from monitor.science.pushbroom import (
    AttitudePolynomial,
    PushbroomCamera,
    angles_from_rotation,
    camera_to_inertial,
    image_residuals,
    image_to_ray_ecef,
    intersect_rays,
)

__all__ = [
    "VIEWS",
    "GcpObservations",
    "GeomAdjustmentResult",
    "InsufficientControlError",
    "AdjustmentError",
    "initial_attitude",
    "adjust_stereo_geometry",
    "check_point_errors",
]

VIEWS = ("FORE", "AFT")
_UNIT_POS = 1.0  # m per parameter unit (orbit position)
_UNIT_VEL = 1e-3  # m/s per parameter unit (orbit velocity, mm/s)
_UNIT_ATT = 1e-6  # rad (per s^j) per parameter unit (attitude, urad)
_FD_STEP = 1e-3  # parameter units, forward-difference step

FloatArray = NDArray[np.float64]


class InsufficientControlError(InsufficientDataError):
    """Too few CONTROL points (in total or in one view) for the adjustment."""


class AdjustmentError(ScienceError):
    """The least-squares adjustment failed (no convergence or singular normal matrix)."""


@dataclass(frozen=True)
class GcpObservations:
    """GCP table of a GEOM file (ICD §3), one row per point and view.

    Attributes
    ----------
    point_id, role, view : ndarray of str, shape (m,)
        ``ID``, ``ROLE`` (CONTROL/CHECK), ``VIEW`` (FORE/AFT).
    lat_deg, lon_deg : ndarray, shape (m,), degrees (WGS-84 geodetic)
    h_m : ndarray, shape (m,), m (ellipsoidal)
    line, sample : ndarray, shape (m,), pixels (0-based)
    """

    point_id: NDArray[np.str_]
    role: NDArray[np.str_]
    view: NDArray[np.str_]
    lat_deg: FloatArray
    lon_deg: FloatArray
    h_m: FloatArray
    line: FloatArray
    sample: FloatArray


@dataclass(frozen=True)
class GeomAdjustmentResult:
    """Outcome of `adjust_stereo_geometry`.

    Attributes
    ----------
    n_control, n_check : int
        CONTROL points used (after blunder removal) and CHECK points intersected.
    check_rmse_enu_m : ndarray, shape (3,), m
        RMSE of the CHECK-point errors east/north/up (NaN when n_check = 0).
    check_errors_enu_m : ndarray, shape (n_check, 3), m
        Intersected minus known, east/north/up.
    check_ids : tuple of str
    velocity_m_s, position_m : ndarray, shape (3,)
        Adjusted state at t = 0 of the time axis (DATE-OBS), ERA inertial frame.
    state_covariance : ndarray, shape (6, 6)
        Covariance of (position_m, velocity_m_s) (m, m/s); see ``position_sigma_m`` and
        ``velocity_sigma_m_s``.
    orbit : Trajectory
        Adjusted orbit: `CorrectedTrajectory` of a `J2Orbit` (``j2``) or `KeplerOrbit`.
    orbit_model : str
        ``j2``, ``kepler2`` or ``kepler3``.
    attitude : dict of AttitudePolynomial
        Adjusted attitude per view.
    sigma0 : float
        A-posteriori standard deviation of unit weight.
    dof : int
        Degrees of freedom (observations incl. prior pseudo-observations minus unknowns).
    blunders : tuple of str
        IDs of the CONTROL points removed as blunders, in removal order.
    blunder_views : tuple of str
        View (FORE/AFT) of the observation that held the largest standardised residual of each
        removed point, same order as ``blunders``.
    blunder_w : tuple of float
        That standardised residual |w| (Baarda), same order as ``blunders``.
    residuals_px : ndarray, shape (k, 2)
        Final line/sample residuals (model minus observed) of the CONTROL observations used.
    residual_ids, residual_views : tuple of str
        Point ID and view of each row of ``residuals_px``.
    covariance : ndarray, shape (p, p)
        A-posteriori covariance (scaled by max(1, sigma0)^2) of the parameters, SI units (m, m/s, rad, rad/s^j).
    parameter_names : tuple of str
    orbit_prior : OrbitFit or J2OrbitFit
        The EPHEM fit used as prior.
    n_iterations : int
        Function evaluations of the last least-squares run.
    """

    n_control: int
    n_check: int
    check_rmse_enu_m: FloatArray
    check_errors_enu_m: FloatArray
    check_ids: tuple[str, ...]
    velocity_m_s: FloatArray
    position_m: FloatArray
    state_covariance: FloatArray
    orbit: Trajectory
    orbit_model: str
    attitude: dict[str, AttitudePolynomial]
    sigma0: float
    dof: int
    blunders: tuple[str, ...]
    blunder_views: tuple[str, ...]
    blunder_w: tuple[float, ...]
    residuals_px: FloatArray
    residual_ids: tuple[str, ...]
    residual_views: tuple[str, ...]
    covariance: FloatArray
    parameter_names: tuple[str, ...]
    orbit_prior: OrbitFit | J2OrbitFit
    n_iterations: int

    @property
    def position_sigma_m(self) -> FloatArray:
        """1-sigma of ``position_m`` per axis (m)."""
        return np.asarray(np.sqrt(np.diag(self.state_covariance)[:3]), dtype=np.float64)

    @property
    def velocity_sigma_m_s(self) -> FloatArray:
        """1-sigma of ``velocity_m_s`` per axis (m/s)."""
        return np.asarray(np.sqrt(np.diag(self.state_covariance)[3:]), dtype=np.float64)


def _shift_polynomial(coeffs: FloatArray, dt: float) -> FloatArray:
    """Re-expand ``sum_j c_j tau^j`` about ``tau = dt``: coefficients of ``(tau - dt)^k``."""
    c = np.asarray(coeffs, dtype=np.float64)
    n = c.shape[1]
    out = np.zeros_like(c)
    for j in range(n):
        for k in range(j + 1):
            out[:, k] += c[:, j] * math.comb(j, k) * dt ** (j - k)
    return out


def initial_attitude(
    camera: PushbroomCamera,
    orbit: Trajectory,
    ground_ecef_m: FloatArray,
    line: FloatArray,
    sample: FloatArray,
    era_ref_rad: float,
    degree: int,
    t_ref_s: float,
) -> AttitudePolynomial:
    """Initial attitude angles of a view from its control points (Kabsch / Wahba solution).

    For each observation the direction to the ground point in the nominal camera frame
    (``(L R_y(p))^T (P - S)``) is paired with the measured detector direction ``d_c``; the rotation
    ``R_att`` that best maps the ``d_c`` onto them (SVD, Kabsch 1976) gives constant roll, pitch
    and yaw; higher polynomial terms start at zero.

    Parameters
    ----------
    camera : PushbroomCamera
    orbit : Trajectory
        E.g. the EPHEM-fitted `KeplerOrbit`.
    ground_ecef_m : ndarray, shape (n, 3), m
    line, sample : ndarray, shape (n,), pixels
    era_ref_rad : float, rad
    degree : int
        Polynomial degree of the result.
    t_ref_s : float, s
        Polynomial origin.

    Returns
    -------
    AttitudePolynomial
    """
    zero = AttitudePolynomial(np.zeros((3, 1)))
    t = camera.line_time(line)
    pos, vel = orbit.state(t)
    theta = era_ref_rad + EARTH_ROTATION_RATE_RAD_S * t
    w = ecef_to_inertial(ground_ecef_m, theta) - pos
    w /= np.linalg.norm(w, axis=-1, keepdims=True)
    # Nominal camera frame: the model with zero attitude angles.
    m_nom = camera_to_inertial(camera, zero, pos, vel, t)
    c = np.einsum("nji,nj->ni", m_nom, w)
    d = camera.focal_direction(sample)
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    h = d.T @ c
    u, _, vt = np.linalg.svd(h)
    sign = np.sign(np.linalg.det(vt.T @ u.T))
    rot = vt.T @ np.diag([1.0, 1.0, sign]) @ u.T
    coeffs = np.zeros((3, degree + 1))
    coeffs[:, 0] = angles_from_rotation(rot)
    return AttitudePolynomial(coeffs, t_ref_s)


def check_point_errors(
    gcp: GcpObservations,
    cameras: Mapping[str, PushbroomCamera],
    orbit: Trajectory,
    attitude: Mapping[str, AttitudePolynomial],
    era_ref_rad: float,
    *,
    role: str = "CHECK",
) -> tuple[tuple[str, ...], FloatArray]:
    """Space-intersect the points of ``role`` seen in both views and compare with their known position.

    Parameters
    ----------
    gcp : GcpObservations
    cameras, attitude : mapping view -> model
    orbit : Trajectory
        Adjusted `KeplerOrbit`, or the true trajectory (noise floor).
    era_ref_rad : float, rad

    Returns
    -------
    ids : tuple of str
        Points intersected (those with exactly one FORE and one AFT observation).
    errors_enu_m : ndarray, shape (n, 3), m
        Intersected minus known, in local east/north/up at the known point.
    """
    sel = gcp.role == role
    ids_f = {
        str(p): i
        for i, p in zip(
            np.flatnonzero(sel & (gcp.view == "FORE")), gcp.point_id[sel & (gcp.view == "FORE")], strict=True
        )
    }
    ids_a = {
        str(p): i
        for i, p in zip(np.flatnonzero(sel & (gcp.view == "AFT")), gcp.point_id[sel & (gcp.view == "AFT")], strict=True)
    }
    ids = tuple(sorted(set(ids_f) & set(ids_a)))
    if not ids:
        return ids, np.zeros((0, 3))
    rf = np.array([ids_f[p] for p in ids])
    ra = np.array([ids_a[p] for p in ids])
    origins, dirs = [], []
    for view, rows in (("FORE", rf), ("AFT", ra)):
        o, d = image_to_ray_ecef(cameras[view], attitude[view], orbit, gcp.line[rows], gcp.sample[rows], era_ref_rad)
        origins.append(o)
        dirs.append(d)
    est = intersect_rays(np.stack(origins, axis=1), np.stack(dirs, axis=1))
    known = geodetic_to_ecef(gcp.lat_deg[rf], gcp.lon_deg[rf], gcp.h_m[rf])
    return ids, ecef_delta_to_enu(est - known, gcp.lat_deg[rf], gcp.lon_deg[rf])


@dataclass(frozen=True)
class _Problem:
    """Parametrisation and residuals of one adjustment run (fixed set of control observations).

    Parameter vector: orbit corrections (6: position in m, velocity in mm/s), then per view the
    free attitude-coefficient corrections (urad, urad/s, ...) to the initial attitude.

    * ``j2``: the corrections are the offset ``dp`` and drift ``dv`` of `CorrectedTrajectory` on
      the EPHEM-fitted `J2Orbit`;
    * ``kepler``: they correct the EPHEM-fitted (X0, u) of the `KeplerOrbit`.
    """

    gcp: GcpObservations
    ground_ecef_m: FloatArray
    rows: dict[str, NDArray[np.intp]]
    cameras: Mapping[str, PushbroomCamera]
    era_ref_rad: float
    image_sigma_px: float
    orbit_model: str
    base_orbit: Trajectory | None
    x0_prior: FloatArray
    u_prior: FloatArray
    prior_info_sqrt: FloatArray
    t_ref_s: float
    orbit_order: int
    att0: Mapping[str, AttitudePolynomial]
    att_tref: Mapping[str, float]
    free_axis: NDArray[np.intp]
    free_pow: NDArray[np.intp]
    att_prior_mask: NDArray[np.bool_]  # (2 * n_att,): coefficients with a prior row
    att_prior_target: FloatArray  # (2 * n_att,): prior value of the coefficient (rad/s^j)
    att_prior_sigma: FloatArray  # (2 * n_att,): its sigma (rad/s^j)

    @property
    def n_att(self) -> int:
        return int(self.free_axis.size)

    @property
    def n_image_residuals(self) -> int:
        return sum(2 * int(r.size) for r in self.rows.values())

    def att_cols(self, k: int) -> NDArray[np.intp]:
        return np.arange(6 + k * self.n_att, 6 + (k + 1) * self.n_att)

    def build_orbit(self, x: FloatArray) -> Trajectory:
        if self.orbit_model == "j2":
            assert self.base_orbit is not None
            return CorrectedTrajectory(self.base_orbit, x[:3] * _UNIT_POS, x[3:6] * _UNIT_VEL, self.t_ref_s)
        return KeplerOrbit(
            self.x0_prior + x[:3] * _UNIT_POS, self.u_prior + x[3:6] * _UNIT_VEL, self.t_ref_s, self.orbit_order
        )

    def build(self, x: FloatArray) -> tuple[Trajectory, dict[str, AttitudePolynomial]]:
        orbit = self.build_orbit(x)
        att: dict[str, AttitudePolynomial] = {}
        for k, v in enumerate(VIEWS):
            coeffs = np.array(self.att0[v].coeffs_rad, dtype=np.float64)
            coeffs[self.free_axis, self.free_pow] += x[self.att_cols(k)] * _UNIT_ATT
            att[v] = AttitudePolynomial(coeffs, self.att_tref[v])
        return orbit, att

    def view_residuals(self, x: FloatArray, v: str) -> FloatArray:
        orbit, att = self.build(x)
        rv = self.rows[v]
        g = self.gcp
        res = image_residuals(
            self.cameras[v], att[v], orbit, self.ground_ecef_m[rv], g.line[rv], g.sample[rv], self.era_ref_rad
        )
        return np.asarray(res.ravel() / self.image_sigma_px, dtype=np.float64)

    def _att_coeffs(self, x: FloatArray) -> FloatArray:
        _, att = self.build(x)
        return np.concatenate([att[v].coeffs_rad[self.free_axis, self.free_pow] for v in VIEWS])

    def residuals(self, x: FloatArray) -> FloatArray:
        parts = [self.view_residuals(x, v) for v in VIEWS]
        parts.append(self.prior_info_sqrt @ x[:6])
        if np.any(self.att_prior_mask):
            m = self.att_prior_mask
            parts.append((self._att_coeffs(x)[m] - self.att_prior_target[m]) / self.att_prior_sigma[m])
        return np.concatenate(parts)

    def jacobian(self, x: FloatArray) -> FloatArray:
        """Block-sparse forward differences (a view depends on the orbit and its own attitude only);
        the prior rows are linear and filled exactly."""
        n_img = self.n_image_residuals
        m = self.att_prior_mask
        n_prior_att = int(np.count_nonzero(m))
        jm = np.zeros((n_img + 6 + n_prior_att, x.size))
        start = 0
        for k, v in enumerate(VIEWS):
            base = self.view_residuals(x, v)
            n_v = base.size
            for col in np.concatenate([np.arange(6), self.att_cols(k)]):
                xk = x.copy()
                xk[col] += _FD_STEP
                jm[start : start + n_v, col] = (self.view_residuals(xk, v) - base) / _FD_STEP
            start += n_v
        jm[n_img : n_img + 6, :6] = self.prior_info_sqrt
        if n_prior_att:
            cols = 6 + np.flatnonzero(m)
            jm[n_img + 6 + np.arange(n_prior_att), cols] = _UNIT_ATT / self.att_prior_sigma[m]
        return jm


ORBIT_SPAN_S = 60.0  # s: the adjusted orbit covers at least +-60 s about DATE-OBS and the observations


def adjust_stereo_geometry(
    gcp: GcpObservations,
    cameras: Mapping[str, PushbroomCamera],
    ephem_t_s: FloatArray,
    ephem_position_m: FloatArray,
    ephem_velocity_m_s: FloatArray,
    era_ref_rad: float,
    *,
    image_sigma_px: float = 0.3,
    orbit_model: str = "j2",
    orbit_order: int = 3,
    attitude_degree: int | tuple[int, int, int] = (1, 1, 0),
    ephem_sigma_m: float = 0.5,
    ephem_sigma_m_s: float = 2e-3,
    prior_position_sigma_m: float = 0.5,
    prior_velocity_sigma_m_s: float = 2e-3,
    ephem_margin_s: float = 10.0,
    attitude_prior: Mapping[str, AttitudePolynomial] | None = None,
    attitude_prior_sigma_rad: float = 5e-6,
    attitude_rate_sigma_rad_s: float | None = None,
    blunder_threshold: float = 4.0,
    max_blunders: int = 3,
    min_control: int = 6,
) -> GeomAdjustmentResult:
    """Adjust orbit and attitude of a stereo pair on CONTROL points; evaluate on CHECK points.

    Parameters
    ----------
    gcp : GcpObservations
        All rows (CONTROL and CHECK, both views).
    cameras : mapping ``"FORE"``/``"AFT"`` -> PushbroomCamera
        Times (T0) on the same axis as ``ephem_t_s`` (s from DATE-OBS).
    ephem_t_s : ndarray, shape (n,), s
    ephem_position_m, ephem_velocity_m_s : ndarray, shape (n, 3)
        EPHEM samples in the ERA inertial frame (ICD §3), SI units.
    era_ref_rad : float, rad
        theta_ERA at t = 0.
    image_sigma_px : float
        Measurement sigma of LINE and SAMPLE, pixels (weights).
    orbit_model : {"j2", "kepler"}
        ``j2`` (default): a two-body + J2 orbit fitted to all EPHEM samples
        (`fit_j2_orbit_to_ephem`), corrected by an offset and drift (`CorrectedTrajectory`) under
        the priors ``prior_position_sigma_m`` / ``prior_velocity_sigma_m_s``: it keeps the
        ephemeris' accuracy. ``kepler``: the truncated Kepler expansion of Michalis & Dowman 2008
        (``orbit_order``), fitted to the EPHEM samples within ``ephem_margin_s`` of the
        observations, its (X0, u) corrected under the fit covariance plus the same priors.
    orbit_order : {2, 3}
        Kepler expansion order (``kepler`` only; 2 = Michalis & Dowman 2008, 3 adds the jerk term).
    attitude_degree : int or (int, int, int)
        Degree of the attitude polynomials, one for all axes or per axis (roll, pitch, yaw).
        Default ``(1, 1, 0)``: bias + drift in roll and pitch, bias only in yaw. A yaw drift of a few
        urad/s moves a swath-edge pixel by ~1 cm over a 2-s view, so it is not observable and
        estimating it only adds noise.
    ephem_sigma_m, ephem_sigma_m_s : float
        Stated white (sample-to-sample) accuracy of the EPHEM positions (m) and velocities (m/s)
        per axis: the weights of the EPHEM fit.
    prior_position_sigma_m, prior_velocity_sigma_m_s : float
        Prior sigma per axis of the common navigation error the adjustment corrects: position
        offset (m) and drift (m/s). Added to the EPHEM-fit covariance to form the orbit prior.
    ephem_margin_s : float
        ``kepler`` only: EPHEM samples farther than this outside the observation times are not used.
    attitude_prior : mapping view -> AttitudePolynomial, optional
        Prior attitude (same degree); each coefficient gets sigma ``attitude_prior_sigma_rad``
        (rad/s^j for the j-th coefficient).
    attitude_rate_sigma_rad_s : float, optional
        Without ``attitude_prior``: prior sigma of the attitude drift terms about zero (rad/s);
        None = drifts free.
    blunder_threshold : float
        Critical value of the standardised residual.
    max_blunders : int
        At most this many points are removed.
    min_control : int
        Minimum number of CONTROL points (each in both views) to adjust.

    Returns
    -------
    GeomAdjustmentResult

    Raises
    ------
    InsufficientControlError
        Fewer than ``min_control`` usable CONTROL points or a view without control.
    AdjustmentError
        Singular normal matrix.
    InsufficientDataError, OrbitModelError
        From the EPHEM fit, or an unknown orbit model / order, or non-positive sigmas.
    """
    if orbit_model not in ORBIT_MODELS:
        raise OrbitModelError(f"orbit model must be one of {ORBIT_MODELS}, got {orbit_model!r}")
    sigmas = (image_sigma_px, ephem_sigma_m, ephem_sigma_m_s, prior_position_sigma_m, prior_velocity_sigma_m_s)
    if not all(sg > 0.0 for sg in sigmas):
        raise OrbitModelError(f"sigmas must be > 0, got {sigmas}")
    missing = [v for v in VIEWS if v not in cameras]
    if missing:
        raise InsufficientControlError(f"missing camera model for views {missing}")
    ground_all = geodetic_to_ecef(gcp.lat_deg, gcp.lon_deg, gcp.h_m)
    is_ctrl = (gcp.role == "CONTROL") & np.isfinite(gcp.line) & np.isfinite(gcp.sample)
    is_ctrl &= np.all(np.isfinite(ground_all), axis=1)
    ctrl_ids = sorted({str(p) for p in gcp.point_id[is_ctrl]})
    if len(ctrl_ids) < min_control:
        raise InsufficientControlError(f"{len(ctrl_ids)} control points, need at least {min_control}")
    for v in VIEWS:
        if not np.any(is_ctrl & (gcp.view == v)):
            raise InsufficientControlError(f"no control observation in view {v}")

    t_obs = np.full(gcp.line.shape, np.nan)
    for v in VIEWS:
        sel = gcp.view == v
        t_obs[sel] = cameras[v].line_time(gcp.line[sel])
    t_ctrl = t_obs[is_ctrl]
    t_ref = 0.5 * (float(np.min(t_ctrl)) + float(np.max(t_ctrl)))

    # Orbit prior from EPHEM.
    et = np.asarray(ephem_t_s, dtype=np.float64)
    prior: OrbitFit | J2OrbitFit
    base_orbit: Trajectory | None = None
    if orbit_model == "j2":
        t_fin = t_obs[np.isfinite(t_obs)]
        span = (
            min(-ORBIT_SPAN_S, float(np.min(t_fin)) - 1.0, float(np.min(et))),
            max(ORBIT_SPAN_S, float(np.max(t_fin)) + 1.0, float(np.max(et))),
        )
        prior = fit_j2_orbit_to_ephem(
            et,
            ephem_position_m,
            ephem_velocity_m_s,
            t_ref_s=t_ref,
            sigma_position_m=ephem_sigma_m,
            sigma_velocity_m_s=ephem_sigma_m_s,
            span_s=span,
        )
        base_orbit = prior.orbit
        x0_prior, u_prior = prior.orbit.position_m, prior.orbit.velocity_m_s
    else:
        use = (et >= np.min(t_ctrl) - ephem_margin_s) & (et <= np.max(t_ctrl) + ephem_margin_s)
        if np.count_nonzero(use) < 2:
            use = np.ones(et.shape, dtype=bool)
        prior = fit_orbit_to_ephem(
            et[use],
            ephem_position_m[use],
            ephem_velocity_m_s[use],
            orbit_order,
            t_ref_s=t_ref,
            sigma_position_m=ephem_sigma_m,
            sigma_velocity_m_s=ephem_sigma_m_s,
        )
        x0_prior, u_prior = prior.orbit.position_m, prior.orbit.velocity_m_s
    prior_cov = prior.covariance + np.diag([prior_position_sigma_m**2] * 3 + [prior_velocity_sigma_m_s**2] * 3)
    prior_scale = np.array([_UNIT_POS] * 3 + [_UNIT_VEL] * 3)
    prior_info_sqrt = np.linalg.cholesky(np.linalg.inv(prior_cov / np.outer(prior_scale, prior_scale))).T
    trajectory0: Trajectory = base_orbit if base_orbit is not None else prior.orbit

    # Attitude origins: the mid-time of each view's observations.
    att_tref = {v: float(np.mean(t_obs[is_ctrl & (gcp.view == v)])) for v in VIEWS}
    degrees = (attitude_degree,) * 3 if isinstance(attitude_degree, int) else tuple(attitude_degree)
    if len(degrees) != 3 or min(degrees) < 0:
        raise ValueError(f"attitude_degree must be >= 0 (or three such values), got {attitude_degree}")
    d_max = max(degrees)
    free_axis = np.array([a for a in range(3) for _ in range(degrees[a] + 1)])
    free_pow = np.array([j for a in range(3) for j in range(degrees[a] + 1)])
    n_att = free_axis.size
    att_mask = np.zeros(2 * n_att, dtype=bool)
    att_target = np.zeros(2 * n_att)
    att_sigma = np.ones(2 * n_att)
    if attitude_prior is not None:
        for k, v in enumerate(VIEWS):
            c = _shift_polynomial(attitude_prior[v].coeffs_rad, att_tref[v] - attitude_prior[v].t_ref_s)
            padded = np.zeros((3, max(d_max + 1, c.shape[1])))
            padded[:, : c.shape[1]] = c
            att_target[k * n_att : (k + 1) * n_att] = padded[free_axis, free_pow]
        att_mask[:] = True
        att_sigma[:] = attitude_prior_sigma_rad
    elif attitude_rate_sigma_rad_s is not None:
        if not attitude_rate_sigma_rad_s > 0.0:
            raise OrbitModelError(f"attitude rate sigma must be > 0, got {attitude_rate_sigma_rad_s}")
        rate = np.tile(free_pow == 1, 2)
        att_mask[rate] = True
        att_sigma[rate] = attitude_rate_sigma_rad_s

    removed: list[str] = []
    removed_views: list[str] = []
    removed_w: list[float] = []
    x = np.zeros(6 + 2 * n_att)
    att_init: dict[str, AttitudePolynomial] | None = None
    while True:
        active = is_ctrl & ~np.isin(gcp.point_id, removed)
        rows = {v: np.flatnonzero(active & (gcp.view == v)) for v in VIEWS}
        if any(r.size == 0 for r in rows.values()):
            raise InsufficientControlError("a view has no control observation left")
        if att_init is None:
            att_init = {
                v: initial_attitude(
                    cameras[v],
                    trajectory0,
                    ground_all[rows[v]],
                    gcp.line[rows[v]],
                    gcp.sample[rows[v]],
                    era_ref_rad,
                    d_max,
                    att_tref[v],
                )
                for v in VIEWS
            }
        problem = _Problem(
            gcp=gcp,
            ground_ecef_m=ground_all,
            rows=rows,
            cameras=cameras,
            era_ref_rad=era_ref_rad,
            image_sigma_px=image_sigma_px,
            orbit_model=orbit_model,
            base_orbit=base_orbit,
            x0_prior=x0_prior,
            u_prior=u_prior,
            prior_info_sqrt=prior_info_sqrt,
            t_ref_s=t_ref,
            orbit_order=orbit_order,
            att0=att_init,
            att_tref=att_tref,
            free_axis=free_axis,
            free_pow=free_pow,
            att_prior_mask=att_mask,
            att_prior_target=att_target,
            att_prior_sigma=att_sigma,
        )
        sol = least_squares(
            problem.residuals,
            x,
            jac=problem.jacobian,
            method="lm",
            x_scale="jac",
            xtol=1e-10,
            ftol=1e-10,
            gtol=1e-10,
            max_nfev=200,
        )
        x = np.asarray(sol.x, dtype=np.float64)
        r = np.asarray(sol.fun, dtype=np.float64)
        jm = problem.jacobian(x)
        n_img = problem.n_image_residuals
        dof = r.size - x.size
        if dof <= 0:
            raise InsufficientControlError("no redundancy left in the adjustment")
        sigma0 = float(np.sqrt(r @ r / dof))
        try:
            q = np.linalg.inv(jm.T @ jm)
        except np.linalg.LinAlgError as exc:
            raise AdjustmentError("singular normal matrix") from exc
        # Standardised residuals (Baarda's w-test), redundancy numbers from Q_vv = I - J Q J^T.
        qvv = 1.0 - np.einsum("ij,jk,ik->i", jm[:n_img], q, jm[:n_img])
        w = np.abs(r[:n_img]) / np.sqrt(np.clip(qvv, 1e-12, None)) / max(sigma0, 1.0)
        obs_rows = np.concatenate([rows[v] for v in VIEWS])
        w_obs = w.reshape(-1, 2).max(axis=1)
        k_max = int(np.argmax(w_obs))
        n_left = len({str(p) for p in gcp.point_id[active]})
        if w_obs[k_max] > blunder_threshold and len(removed) < max_blunders and n_left - 1 >= min_control:
            removed.append(str(gcp.point_id[obs_rows[k_max]]))
            removed_views.append(str(gcp.view[obs_rows[k_max]]))
            removed_w.append(float(w_obs[k_max]))
            continue
        break

    orbit, att = problem.build(x)
    p0, v0 = orbit.state(0.0)
    ids, err = check_point_errors(gcp, cameras, orbit, att, era_ref_rad)
    rmse = np.sqrt(np.mean(err**2, axis=0)) if err.shape[0] else np.full(3, np.nan)
    scale = np.concatenate([prior_scale, np.full(2 * n_att, _UNIT_ATT)])
    # Covariance: scaled by sigma0^2 only when the fit is worse than its weights say (a good
    # fit must not shrink the prior-dominated orbit uncertainty below the prior).
    cov = max(sigma0, 1.0) ** 2 * q * np.outer(scale, scale)
    # State at DATE-OBS (t = 0) and its covariance: the state is linear in the orbit parameters.
    jac_state = np.empty((6, 6))
    for k in range(6):
        xk = x.copy()
        xk[k] += _FD_STEP
        pk, vk = problem.build_orbit(xk).state(0.0)
        jac_state[:, k] = np.concatenate([pk - p0, vk - v0]) / (_FD_STEP * prior_scale[k])
    state_cov = jac_state @ cov[:6, :6] @ jac_state.T
    names = [f"X0_{a}" for a in "xyz"] + [f"u_{a}" for a in "xyz"]
    if orbit_model == "j2":
        names = [f"dp_{a}" for a in "xyz"] + [f"dv_{a}" for a in "xyz"]
    for v in VIEWS:
        names += [f"{v}_{('roll', 'pitch', 'yaw')[a]}_{j}" for a, j in zip(free_axis, free_pow, strict=True)]
    res_px = (r[:n_img] * image_sigma_px).reshape(-1, 2)
    return GeomAdjustmentResult(
        n_control=len({str(p) for p in gcp.point_id[active]}),
        n_check=len(ids),
        check_rmse_enu_m=np.asarray(rmse, dtype=np.float64),
        check_errors_enu_m=err,
        check_ids=ids,
        velocity_m_s=np.asarray(v0, dtype=np.float64),
        position_m=np.asarray(p0, dtype=np.float64),
        state_covariance=np.asarray(state_cov, dtype=np.float64),
        orbit=orbit,
        orbit_model=orbit_model if orbit_model == "j2" else f"kepler{orbit_order}",
        attitude=att,
        sigma0=sigma0,
        dof=int(dof),
        blunders=tuple(removed),
        blunder_views=tuple(removed_views),
        blunder_w=tuple(removed_w),
        residuals_px=res_px,
        residual_ids=tuple(str(p) for p in gcp.point_id[obs_rows]),
        residual_views=tuple(str(v) for v in gcp.view[obs_rows]),
        covariance=np.asarray(cov, dtype=np.float64),
        parameter_names=tuple(names),
        orbit_prior=prior,
        n_iterations=int(sol.nfev),
    )
