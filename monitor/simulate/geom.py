"""Simulated GEOM acquisitions (ICD-1 §3): one along-track stereo pair measured on ground points.

The truth is deliberately *not* the model the system adjusts:

* the orbit is a numerically integrated two-body + J2 (optionally + J3) trajectory (scipy
  ``solve_ivp``, DOP853, rtol 1e-12, its own force function) in the ERA inertial frame of ICD §3,
  so the truncation error of the Kepler expansion (Michalis & Dowman 2008) shows up honestly; it
  shares no code with the estimator's RK4 propagator (`monitor.science.orbit.propagate_j2`), only
  the constants GM, J2 and R_E;
* the attitude is the nominal local-orbital-frame pointing, rotated by the view pitch, plus the roll
  that centres the site in each view, random biases and drifts;
* image coordinates are the rigorous ground-to-image projection of the true geometry plus
  Gaussian noise (and optionally one blunder);
* the EPHEM table is a noisy "on-board navigation" (constant position and velocity bias + white
  noise).

Light time and aberration are left out of the truth, as in the system's model (they would be
absorbed by the attitude biases).

This module returns the ICD §3 content as domain objects (:class:`monitor.domain.GeomHeader`, the
state at DATE-OBS) and the EPHEM/GCP table columns; the FITS writer turns them into keywords and
columns, and :mod:`monitor.simulate.geom_acquisition` gives them an id and a truth record.
Randomness comes only from the injected ``np.random.Generator``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.integrate import solve_ivp

from monitor.domain import MISSION_OF_SATELLITE, GeomHeader, Mission, Satellite
from monitor.science.constants import GM_M3_S2, J2_EARTH, J3_EARTH, R_EARTH_J2_M
from monitor.science.earth_frames import (
    earth_rotation_angle_rad,
    ecef_to_geodetic,
    ecef_to_inertial,
    enu_rotation,
    geodetic_to_ecef,
    jd_from_unix_seconds,
)
from monitor.science.instrument import ORBIT_ALTITUDE_KM, PAN_PIXEL_PITCH_UM, PHR_FOCAL_LENGTH_MM, SSO_INCLINATION_DEG
from monitor.science.orbit import HermiteEphemeris
from monitor.science.pushbroom import AttitudePolynomial, PushbroomCamera, camera_coordinates, ground_to_image
from monitor.science.stereo_adjustment import GcpObservations

__all__ = [
    "CAMERA_BY_SATELLITE",
    "GeomSimulation",
    "GeomInputs",
    "simulate_geom_pair",
    "geom_inputs_from_simulation",
]

# Every satellite's GEOM pass is flown at the PHR inclination (98.2 deg; PNEO's is 97.9 deg): kept as
# it was, the simulated pairs and the numbers pinned on them depend on it.
_GEOM_INCLINATION_DEG = SSO_INCLINATION_DEG[Mission.PHR]

# Camera/orbit numbers per satellite. PHR: Pleiades-HR (694 km, f = 12.905 m, 13 um pitch, 0.7 m GSD).
# PNEO: illustrative only (its own altitude, the PHR camera), not from a specification. NSAMP and
# LINEPER are this simulator's round numbers.
CAMERA_BY_SATELLITE: dict[str, dict[str, float]] = {
    sat.value: {
        "altitude_m": ORBIT_ALTITUDE_KM[MISSION_OF_SATELLITE[sat]] * 1e3,
        "focal_mm": PHR_FOCAL_LENGTH_MM,
        "pixpitch_um": PAN_PIXEL_PITCH_UM,
        "nsamp": 20000,
        "lineper_ms": 0.1,
    }
    for sat in Satellite
}

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class GeomSimulation:
    """One simulated GEOM acquisition.

    Attributes
    ----------
    date_obs : datetime
        DATE-OBS, aware UTC, rounded to the millisecond.
    sc_pos_km, sc_vel_km_s : (float, float, float)
        SC_POS (km) and SC_VEL (km/s) at DATE-OBS in the ERA inertial frame (on-board navigation).
    geom : GeomHeader
        The GEOM keys of ICD §3: FOCAL (mm), PIXPITCH (um), NSAMP, LINEPER (ms), T0_FORE/T0_AFT
        (aware UTC, microsecond resolution), PITCH_F/PITCH_A (deg, 4 decimals).
    ephem : dict of ndarray
        EPHEM columns ``T`` (s from DATE-OBS), ``X, Y, Z`` (km), ``VX, VY, VZ`` (km/s).
    gcp : dict of ndarray
        GCP columns ``ID``, ``ROLE``, ``LAT``, ``LON`` (deg), ``H`` (m), ``VIEW``, ``LINE``, ``SAMPLE``.
    truth : dict
        ``trajectory`` (HermiteEphemeris of the integrated orbit, m, s from DATE-OBS), ``position_m``,
        ``velocity_m_s`` (state at DATE-OBS), ``cameras`` and ``attitude`` (per view), ``era_ref_rad``,
        ``image_noise_px``, ``noise_px`` (per GCP row, line/sample), ``true_line``/``true_sample``,
        ``ground_ecef_m`` (per GCP row), ``blunder_id`` (or None), ``ephem_bias_m``,
        ``ephem_drift_m_s``, ``j2``, ``j3``.
    """

    date_obs: datetime
    sc_pos_km: tuple[float, float, float]
    sc_vel_km_s: tuple[float, float, float]
    geom: GeomHeader
    ephem: dict[str, FloatArray]
    gcp: dict[str, NDArray[Any]]
    truth: dict[str, Any]


@dataclass(frozen=True)
class GeomInputs:
    """What a reader of a GEOM file hands to `monitor.science.stereo_adjustment.adjust_stereo_geometry`."""

    gcp: GcpObservations
    cameras: dict[str, PushbroomCamera]
    ephem_t_s: FloatArray
    ephem_position_m: FloatArray
    ephem_velocity_m_s: FloatArray
    era_ref_rad: float


def _two_body_j2(t: float, y: FloatArray, j2: bool, j3: bool = False) -> FloatArray:
    """Truth force model (independent of `monitor.science.orbit.propagate_j2`, which the
    estimator uses): two-body + J2 (+ J3) zonal gravity, Vallado (2013) eq. 8-30."""
    r = y[:3]
    rn2 = float(r @ r)
    rn = np.sqrt(rn2)
    acc = -GM_M3_S2 * r / rn**3
    if j2:
        z2 = r[2] ** 2 / rn2
        k = -1.5 * J2_EARTH * GM_M3_S2 * R_EARTH_J2_M**2 / rn**5
        acc = acc + k * np.array([r[0] * (1 - 5 * z2), r[1] * (1 - 5 * z2), r[2] * (3 - 5 * z2)])
    if j3:
        zr = r[2] / rn
        k3 = -2.5 * J3_EARTH * GM_M3_S2 * R_EARTH_J2_M**3 / rn**7
        acc = acc + k3 * np.array(
            [
                r[0] * (3 * r[2] - 7 * r[2] * zr**2),
                r[1] * (3 * r[2] - 7 * r[2] * zr**2),
                6 * r[2] ** 2 - 7 * r[2] ** 2 * zr**2 - 0.6 * rn2,
            ]
        )
    return np.concatenate([y[3:], acc])


def _integrate(
    r0: FloatArray, v0: FloatArray, half_span_s: float, step_s: float, j2: bool, j3: bool = False
) -> HermiteEphemeris:
    """Integrate forward and backward from t = 0 and sample every ``step_s`` seconds."""
    n = int(np.ceil(half_span_s / step_s))
    grid = np.arange(-n, n + 1, dtype=np.float64) * step_s
    y0 = np.concatenate([r0, v0])
    out = np.empty((grid.size, 6))
    out[n] = y0
    for sign in (1.0, -1.0):
        t_eval = grid[n + 1 :] if sign > 0 else grid[:n][::-1]
        sol = solve_ivp(
            _two_body_j2,
            (0.0, sign * n * step_s),
            y0,
            method="DOP853",
            t_eval=t_eval,
            rtol=1e-12,
            atol=1e-7,
            args=(j2, j3),
        )
        if sign > 0:
            out[n + 1 :] = sol.y.T
        else:
            out[:n] = sol.y.T[::-1]
    return HermiteEphemeris(grid, out[:, :3], out[:, 3:])


def _initial_state(
    rng: np.random.Generator, site_eci: FloatArray, altitude_m: float, cross_track_m: float
) -> tuple[FloatArray, FloatArray]:
    """Descending sun-synchronous-like state at t = 0 passing over the site with a cross-track offset."""
    inc = np.radians(_GEOM_INCLINATION_DEG)

    def normal_for(rhat: FloatArray) -> FloatArray:
        alpha = np.arctan2(rhat[1], rhat[0])
        rho = np.hypot(rhat[0], rhat[1])
        val = -rhat[2] * np.cos(inc) / (rho * np.sin(inc))
        if abs(val) > 1.0:
            raise ValueError("site latitude not reachable from a sun-synchronous orbit")
        for phi in (alpha + np.arccos(val), alpha - np.arccos(val)):
            nrm = np.array([np.sin(inc) * np.cos(phi), np.sin(inc) * np.sin(phi), np.cos(inc)])
            if np.cross(nrm, rhat)[2] < 0.0:  # descending pass
                return nrm
        raise ValueError("no descending solution")  # pragma: no cover - one of the two always is

    rhat = site_eci / np.linalg.norm(site_eci)
    r_mag = np.linalg.norm(site_eci) + altitude_m
    delta = cross_track_m / np.linalg.norm(site_eci)
    nrm = normal_for(rhat)
    rhat0 = np.cos(delta) * rhat + np.sin(delta) * nrm
    nrm = normal_for(rhat0)
    vhat = np.cross(nrm, rhat0)
    v_circ = np.sqrt(GM_M3_S2 / r_mag)
    v0 = v_circ * ((1.0 + rng.normal(0.0, 5e-4)) * vhat + rng.normal(0.0, 5e-4) * rhat0)
    return r_mag * rhat0, v0


def simulate_geom_pair(
    rng: np.random.Generator,
    *,
    epoch_utc: datetime,
    site_lat_deg: float,
    site_lon_deg: float,
    site_h_m: float = 100.0,
    n_control: int = 24,
    n_check: int = 12,
    image_noise_px: float = 0.3,
    blunder: bool = False,
    blunder_px: float = 10.0,
    satellite: str = "PHR1A",
    pitch_fore_deg: float | None = None,
    pitch_aft_deg: float | None = None,
    site_half_size_m: float = 5000.0,
    relief_m: float = 400.0,
    cross_track_m: float | None = None,
    attitude_bias_rad: float = 1e-4,
    attitude_drift_rad_s: float = 2e-6,
    ephem_step_s: float = 5.0,
    ephem_half_span_s: float = 50.0,
    ephem_bias_m: float = 0.5,
    ephem_drift_m_s: float = 2e-3,
    ephem_noise_m: float = 0.5,
    ephem_noise_m_s: float = 2e-3,
    j2: bool = True,
    j3: bool = False,
) -> GeomSimulation:
    """Simulate one GEOM stereo pair (FORE/AFT) of a ground site.

    Parameters
    ----------
    rng : numpy.random.Generator
        The only source of randomness.
    epoch_utc : datetime
        DATE-OBS (aware or naive UTC; rounded to the millisecond): the satellite passes over the
        site (up to ``cross_track_m``) at this time.
    site_lat_deg, site_lon_deg, site_h_m : float
        Site centre (WGS-84).
    n_control, n_check : int
        Number of CONTROL and CHECK points (each measured in both views).
    image_noise_px : float
        Standard deviation of the Gaussian noise added to LINE and SAMPLE, pixels.
    blunder : bool
        Add a ``blunder_px`` error (random direction) to one view of one CONTROL point.
    satellite : str
        Key of `CAMERA_BY_SATELLITE`.
    pitch_fore_deg, pitch_aft_deg : float, optional
        View pitches (default uniform in [15, 20] deg forward / backward).
    site_half_size_m, relief_m : float
        Points are spread uniformly over +-half_size east/north and [site_h, site_h + relief].
    cross_track_m : float, optional
        Offset of the ground track from the site at DATE-OBS (default uniform +-15 km).
    attitude_bias_rad, attitude_drift_rad_s : float
        Standard deviations of the attitude-angle biases and drifts (per view and axis).
    ephem_step_s, ephem_half_span_s : float
        EPHEM sampling (s) and half span around DATE-OBS (s).
    ephem_bias_m, ephem_drift_m_s, ephem_noise_m, ephem_noise_m_s : float
        Navigation error, standard deviations per axis: constant position bias (m), constant
        velocity bias (m/s; the position error drifts with it), white position and velocity noise.
    j2, j3 : bool
        Integrate J2 (and J3) as well as two-body gravity.

    Returns
    -------
    GeomSimulation

    Raises
    ------
    ValueError
        Unknown satellite, bad counts, or a site latitude outside the orbit's reach.
    """
    if satellite not in CAMERA_BY_SATELLITE:
        raise ValueError(f"unknown satellite {satellite!r}")
    if n_control < 1 or n_check < 0:
        raise ValueError("need n_control >= 1 and n_check >= 0")
    cam = CAMERA_BY_SATELLITE[satellite]
    epoch = epoch_utc.replace(tzinfo=UTC) if epoch_utc.tzinfo is None else epoch_utc.astimezone(UTC)
    date_obs = epoch.replace(microsecond=(epoch.microsecond // 1000) * 1000)
    jd_day, jd_sec = jd_from_unix_seconds(date_obs.timestamp())
    era_ref = float(earth_rotation_angle_rad(jd_day, jd_sec))

    # Orbit truth.
    site_ecef = geodetic_to_ecef(site_lat_deg, site_lon_deg, site_h_m)
    site_eci = ecef_to_inertial(site_ecef, era_ref)
    xt = float(rng.uniform(-15e3, 15e3)) if cross_track_m is None else float(cross_track_m)
    r0, v0 = _initial_state(rng, site_eci, cam["altitude_m"], xt)
    half_span = max(ephem_half_span_s, 60.0) + 10.0
    trajectory = _integrate(r0, v0, half_span, 1.0, j2, j3)

    # Views: nominal pitch (rounded as written in the header), site-centring roll, biases, drifts.
    pf = float(rng.uniform(15.0, 20.0)) if pitch_fore_deg is None else float(pitch_fore_deg)
    pa = -float(rng.uniform(15.0, 20.0)) if pitch_aft_deg is None else float(pitch_aft_deg)
    pitches = {"FORE": round(pf, 4), "AFT": round(pa, 4)}
    lineper_s = cam["lineper_ms"] * 1e-3
    nsamp = int(cam["nsamp"])
    focal_m, pixpitch_m = cam["focal_mm"] * 1e-3, cam["pixpitch_um"] * 1e-6
    cameras: dict[str, PushbroomCamera] = {}
    attitude: dict[str, AttitudePolynomial] = {}
    zero_att = AttitudePolynomial(np.zeros((3, 1)))
    for view, pitch_deg in pitches.items():
        probe = PushbroomCamera(focal_m, pixpitch_m, nsamp, 1.0, 0.0, np.radians(pitch_deg))
        guess = -30.0 if pitch_deg > 0 else 30.0
        t_c = float(ground_to_image(probe, zero_att, trajectory, site_ecef[None], era_ref, t_guess_s=guess)[0][0])
        c = camera_coordinates(probe, zero_att, trajectory, site_ecef, t_c, era_ref)
        roll_nominal = float(np.arctan2(-c[1], c[2]))
        coeffs = np.column_stack([rng.normal(0.0, attitude_bias_rad, 3), rng.normal(0.0, attitude_drift_rad_s, 3)])
        coeffs[0, 0] += roll_nominal
        attitude[view] = AttitudePolynomial(coeffs, t_c)
        t0_us = round((t_c - 0.5 * nsamp * lineper_s) * 1e6)  # site near line NSAMP/2 (square image)
        cameras[view] = PushbroomCamera(focal_m, pixpitch_m, nsamp, lineper_s, t0_us * 1e-6, np.radians(pitch_deg))

    # Ground points.
    n_pts = n_control + n_check
    e_n = rng.uniform(-site_half_size_m, site_half_size_m, (n_pts, 2))
    enu = np.column_stack([e_n, np.zeros(n_pts)])
    approx = site_ecef + enu @ enu_rotation(site_lat_deg, site_lon_deg)
    lat, lon, _ = ecef_to_geodetic(approx)
    h = site_h_m + rng.uniform(0.0, relief_m, n_pts)
    ground = geodetic_to_ecef(lat, lon, h)
    ids = np.array([f"GCP{i + 1:03d}" for i in range(n_pts)])
    roles = np.array(["CONTROL"] * n_control + ["CHECK"] * n_check)[rng.permutation(n_pts)]

    views = np.repeat(np.array(["FORE", "AFT"]), n_pts)
    rows = np.tile(np.arange(n_pts), 2)
    true_line = np.empty(2 * n_pts)
    true_sample = np.empty(2 * n_pts)
    for k, view in enumerate(("FORE", "AFT")):
        sl = slice(k * n_pts, (k + 1) * n_pts)
        t_guess = attitude[view].t_ref_s
        true_line[sl], true_sample[sl] = ground_to_image(
            cameras[view], attitude[view], trajectory, ground, era_ref, t_guess_s=t_guess
        )
    noise = rng.normal(0.0, image_noise_px, (2 * n_pts, 2))
    blunder_id: str | None = None
    if blunder:
        ctrl = np.flatnonzero(roles == "CONTROL")
        p = int(rng.choice(ctrl))
        row = p + n_pts * int(rng.integers(0, 2))
        ang = rng.uniform(0.0, 2.0 * np.pi)
        noise[row] += blunder_px * np.array([np.cos(ang), np.sin(ang)])
        blunder_id = str(ids[p])

    gcp: dict[str, NDArray[Any]] = {
        "ID": ids[rows],
        "ROLE": roles[rows],
        "LAT": lat[rows],
        "LON": lon[rows],
        "H": h[rows],
        "VIEW": views,
        "LINE": true_line + noise[:, 0],
        "SAMPLE": true_sample + noise[:, 1],
    }

    # On-board navigation (EPHEM), ERA inertial frame, km and km/s.
    n_e = int(round(ephem_half_span_s / ephem_step_s))
    t_e = np.arange(-n_e, n_e + 1, dtype=np.float64) * ephem_step_s
    pos_e, vel_e = trajectory.state(t_e)
    bias = rng.normal(0.0, ephem_bias_m, 3)
    drift = rng.normal(0.0, ephem_drift_m_s, 3)
    pos_nav = pos_e + bias + drift * t_e[:, None] + rng.normal(0.0, ephem_noise_m, pos_e.shape)
    vel_nav = vel_e + drift + rng.normal(0.0, ephem_noise_m_s, vel_e.shape)
    ephem: dict[str, FloatArray] = {
        "T": t_e,
        "X": pos_nav[:, 0] / 1e3,
        "Y": pos_nav[:, 1] / 1e3,
        "Z": pos_nav[:, 2] / 1e3,
        "VX": vel_nav[:, 0] / 1e3,
        "VY": vel_nav[:, 1] / 1e3,
        "VZ": vel_nav[:, 2] / 1e3,
    }
    nav0 = HermiteEphemeris(t_e, pos_nav, vel_nav).state(0.0)

    geom = GeomHeader(
        focal_mm=cam["focal_mm"],
        pixpitch_um=cam["pixpitch_um"],
        nsamp=nsamp,
        lineper_ms=cam["lineper_ms"],
        t0_fore=date_obs + timedelta(seconds=cameras["FORE"].t0_s),  # rounded to the microsecond
        t0_aft=date_obs + timedelta(seconds=cameras["AFT"].t0_s),
        pitch_fore_deg=pitches["FORE"],
        pitch_aft_deg=pitches["AFT"],
    )
    pos_km = nav0[0] / 1e3
    vel_km_s = nav0[1] / 1e3
    truth_pos, truth_vel = trajectory.state(0.0)
    truth: dict[str, Any] = {
        "trajectory": trajectory,
        "position_m": truth_pos,
        "velocity_m_s": truth_vel,
        "cameras": cameras,
        "attitude": attitude,
        "era_ref_rad": era_ref,
        "date_obs": date_obs,
        "image_noise_px": image_noise_px,
        "noise_px": noise,
        "true_line": true_line,
        "true_sample": true_sample,
        "ground_ecef_m": ground[rows],
        "blunder_id": blunder_id,
        "ephem_bias_m": bias,
        "ephem_drift_m_s": drift,
        "cross_track_m": xt,
        "j2": j2,
        "j3": j3,
    }
    return GeomSimulation(
        date_obs=date_obs,
        sc_pos_km=(float(pos_km[0]), float(pos_km[1]), float(pos_km[2])),
        sc_vel_km_s=(float(vel_km_s[0]), float(vel_km_s[1]), float(vel_km_s[2])),
        geom=geom,
        ephem=ephem,
        gcp=gcp,
        truth=truth,
    )


def geom_inputs_from_simulation(sim: GeomSimulation) -> GeomInputs:
    """Convert the simulated header/tables to adjustment inputs exactly as a GEOM reader would.

    Uses only what a GEOM file holds (``date_obs``, ``geom``, ``ephem`` and ``gcp``; never
    ``truth``): times relative to DATE-OBS, SI units, theta_ERA at DATE-OBS with UT1 = UTC.
    """
    date_obs, hdr = sim.date_obs, sim.geom
    jd_day, jd_sec = jd_from_unix_seconds(date_obs.timestamp())
    cameras = {
        view: PushbroomCamera(
            focal_m=float(hdr.focal_mm) * 1e-3,
            pixpitch_m=float(hdr.pixpitch_um) * 1e-6,
            nsamp=int(hdr.nsamp),
            lineper_s=float(hdr.lineper_ms) * 1e-3,
            t0_s=(t0 - date_obs).total_seconds(),
            pitch_rad=float(np.radians(float(pitch_deg))),
        )
        for view, t0, pitch_deg in (("FORE", hdr.t0_fore, hdr.pitch_fore_deg), ("AFT", hdr.t0_aft, hdr.pitch_aft_deg))
    }
    e = sim.ephem
    g = sim.gcp
    gcp = GcpObservations(
        point_id=np.asarray(g["ID"], dtype=str),
        role=np.asarray(g["ROLE"], dtype=str),
        view=np.asarray(g["VIEW"], dtype=str),
        lat_deg=np.asarray(g["LAT"], dtype=np.float64),
        lon_deg=np.asarray(g["LON"], dtype=np.float64),
        h_m=np.asarray(g["H"], dtype=np.float64),
        line=np.asarray(g["LINE"], dtype=np.float64),
        sample=np.asarray(g["SAMPLE"], dtype=np.float64),
    )
    return GeomInputs(
        gcp=gcp,
        cameras=cameras,
        ephem_t_s=np.asarray(e["T"], dtype=np.float64),
        ephem_position_m=np.column_stack([e["X"], e["Y"], e["Z"]]) * 1e3,
        ephem_velocity_m_s=np.column_stack([e["VX"], e["VY"], e["VZ"]]) * 1e3,
        era_ref_rad=float(earth_rotation_angle_rad(jd_day, jd_sec)),
    )
