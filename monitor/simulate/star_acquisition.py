"""STAR acquisitions of a campaign (ICD 1.2, 1.3).

**STAR** (default on PHR1A/PHR1B): ``stars_per_campaign`` stars drawn from a per-satellite pool
of reference stars (2 <= V <= 5.5, valid B−V), so that every star has a time series. Signal per
band from the measurement equation (ICD 1.3) ``S_k = OVERSAMP · GAINFACT · A_k(t) · E_k / Ω_pix``
with ``E_k`` from the REF-1 star model; vignettes from
:func:`monitor.simulate.star.simulate_star_vignette` (PSF with diffraction wings, noise, dark,
background tilt, saturation). ``OVERSAMP`` is drawn in {1, 2, 3, 4}; ``GAINFACT`` (1–4) is chosen
per band so that the peak native pixel lies between 25 % and 75 % of the range below
``SATURATE``, as an operator would set the TDI stages; a small fraction of acquisitions asks
for 1.3–2.5 times the range in the bands of a bright star, to exercise the saturation flag.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache

import numpy as np
from numpy.typing import NDArray

from monitor.domain import BANDS_BY_MISSION, MISSION_OF_SATELLITE, AcqType, BandHeader, Mission, RejectReason, Satellite
from monitor.io.fits_writer import ImageDtype
from monitor.io.reference_data import StarCatalogue, load_johnson_v, load_rsr, load_star_catalogue
from monitor.science.instrument import E_PER_DN_REFERENCE, READ_NOISE_DN, SATURATE_DN, pixscale_urad
from monitor.science.psf import mtf_nyquist
from monitor.science.psf_renderer import render_star
from monitor.science.star_reference import is_calibration_star, star_band_irradiance_w_m2_um
from monitor.simulate import pupil_psf
from monitor.simulate.acquisition import (
    BandSimulation,
    CampaignContext,
    SimulatedAcquisition,
    acquisition_header,
    band_header,
    circular_orbit_state,
    file_truth,
    round_to_ms,
    simulate_bands,
)
from monitor.simulate.star import (
    default_vignette_shape,
    plane_excursion_dn,
    simulate_star_vignette,
    truth_psf,
)
from monitor.simulate.truth import BandFileTruth, a_true

__all__ = ["StarTable", "star_table", "simulate_star_acquisition"]

_PEAK_RANGE = (0.25, 0.75)  # target peak / (SATURATE - DARK) of the gain choice
_SATURATING_RANGE = (1.3, 2.5)


@dataclass(frozen=True)
class StarTable:
    """The reference stars a campaign observes and their REF-1 band irradiances."""

    stars: StarCatalogue  # the catalogue rows that pass the calibration rules, in catalogue order
    e_k: dict[str, NDArray[np.float64]]  # band -> E_k of each star, W m^-2 um^-1


@cache
def star_table(mission: Mission, v_min: float, v_max: float) -> StarTable:
    """Calibration stars with ``v_min <= V <= v_max`` and their REF-1 band irradiances (computed once)."""
    cat = load_star_catalogue()
    ok = is_calibration_star(cat.v_mag, cat.b_v) & (cat.v_mag >= v_min) & (cat.v_mag <= v_max)
    vband = load_johnson_v()
    e_k = {}
    for band in BANDS_BY_MISSION[mission]:
        rsr = load_rsr(mission, band)
        e_k[band] = np.asarray(
            star_band_irradiance_w_m2_um(
                cat.v_mag[ok], cat.b_v[ok], rsr.wavelength_nm, rsr.values, vband.wavelength_nm, vband.values
            ),
            dtype=np.float64,
        )
    stars = StarCatalogue(cat.hip[ok], cat.ra_deg[ok], cat.dec_deg[ok], cat.v_mag[ok], cat.b_v[ok])
    return StarTable(stars, e_k)


@cache
def _psf_peak_fraction(mission: Mission, band: str, psf_family: str | None = None) -> float:
    """Largest native-pixel fraction of a star's signal (star centred on a pixel, o = 1)."""
    psf = truth_psf(mission, band, psf_family)
    if isinstance(psf, pupil_psf.PupilTruth):
        return float(pupil_psf.render_vignette(psf, (15, 15), (7.0, 7.0), 1.0, 1.0).max())
    img = render_star((15, 15), (7.0, 7.0), psf, 1.0, 1.0)
    return float(img.max())


@cache
def _mtf_nyquist(mission: Mission, band: str, psf_family: str | None = None) -> tuple[float, float]:
    psf = truth_psf(mission, band, psf_family)
    if isinstance(psf, pupil_psf.PupilTruth):
        return pupil_psf.mtf_nyquist(psf)
    return mtf_nyquist(psf)


def simulate_star_acquisition(
    ctx: CampaignContext,
    satellite: Satellite,
    epoch: datetime,
    star_index: int,
    *,
    force_saturation: bool | None = None,
) -> SimulatedAcquisition:
    """One STAR acquisition of star ``star_index`` of the mission's star table (all bands).

    ``force_saturation`` overrides the draw that sets a small fraction of acquisitions up to
    saturate (``ctx.saturated_fraction``). The image type (uint16 or float32) and the gzip
    compression are drawn last, with ``ctx.uint16_fraction`` and ``ctx.gzip_fraction``.
    """
    rng = ctx.rng
    mission = MISSION_OF_SATELLITE[satellite]
    table = star_table(mission, *ctx.v_range)
    star = table.stars
    epoch = round_to_ms(epoch)
    state = circular_orbit_state(rng, mission, ctx.raan[satellite])
    oversamp = int(rng.integers(1, 5))
    saturate = bool(rng.random() < ctx.saturated_fraction) if force_saturation is None else force_saturation

    def one_band(band: str) -> BandSimulation:
        a_k = a_true(ctx.calibration[satellite.value][band], epoch)
        return _star_band(
            rng, mission, band, a_k, float(table.e_k[band][star_index]), oversamp, saturate, ctx.psf_family
        )

    bands, images, truth_bands = simulate_bands(mission, one_band)
    header = acquisition_header(
        ctx,
        satellite,
        AcqType.STAR,
        epoch,
        state,
        target=f"HIP {int(star.hip[star_index])}",
        ra_deg=float(star.ra_deg[star_index]),
        dec_deg=float(star.dec_deg[star_index]),
        bands=bands,
    )
    truth = file_truth(
        header,
        v_mag=float(star.v_mag[star_index]),
        b_v=float(star.b_v[star_index]),
        oversamp=float(oversamp),
        bands=truth_bands,
    )
    dtype: ImageDtype = "uint16" if rng.random() < ctx.uint16_fraction else "float32"
    gz = bool(rng.random() < ctx.gzip_fraction)
    return SimulatedAcquisition(header, images, truth, dtype=dtype, gz=gz)


def _star_band(
    rng: np.random.Generator,
    mission: Mission,
    band: str,
    a_k: float,
    e_k: float,
    oversamp: int,
    saturate: bool,
    psf_family: str | None = None,
) -> tuple[BandHeader, NDArray[np.float32], BandFileTruth]:
    """Set-up, vignette and truth of one band: ``S_k = o G A_k E_k / Omega_pix`` (ICD 1.3).

    ``GAINFACT`` puts the peak native pixel at 25-75 % of the range below ``SATURATE`` (or at
    1.3-2.5 times that range when ``saturate``); dark 20-60 DN, stray light 0-5 DN with a tilt.
    ``psf_family`` selects the truth PSF (:func:`monitor.simulate.star.truth_psf`).
    """
    s_unit = a_k * e_k / (pixscale_urad(mission, band) * 1e-6) ** 2  # signal for o = 1, G = 1
    dark = float(rng.uniform(20.0, 60.0))
    background = float(rng.uniform(0.0, 5.0))
    headroom = SATURATE_DN - dark - background
    fraction = rng.uniform(*(_SATURATING_RANGE if saturate else _PEAK_RANGE))
    gain = float(np.clip(fraction * headroom / (s_unit * _psf_peak_fraction(mission, band, psf_family)), 1.0, 4.0))
    gain = round(gain, 3)
    s_true = oversamp * gain * s_unit
    slope = (float(rng.uniform(-0.03, 0.03)), float(rng.uniform(-0.03, 0.03)) / oversamp)
    rows, cols = default_vignette_shape(mission, band, oversamp)
    # stray light is never negative: lift the plane so that its lowest corner is >= 0
    background += plane_excursion_dn(slope, (rows, cols))
    center = (
        (cols - 1) / 2.0 + float(rng.uniform(-1.5, 1.5)),
        (rows - 1) / 2.0 + float(rng.uniform(-1.5, 1.5)) * oversamp,
    )
    image = simulate_star_vignette(
        rng,
        total_signal_dn=s_true,
        shape=(rows, cols),
        center_xy=center,
        oversamp=float(oversamp),
        psf=truth_psf(mission, band, psf_family),
        dark_dn=dark,
        gain_e_per_dn=E_PER_DN_REFERENCE[mission] / gain,
        read_noise_dn=READ_NOISE_DN,
        background_dn=background,
        background_slope=slope,
        saturate_dn=SATURATE_DN,
    )
    predicted_xy = (  # the position a planner would predict: off by up to 2 px
        round(center[0] + float(rng.uniform(-2.0, 2.0)), 2),
        round(center[1] + float(rng.uniform(-2.0, 2.0)), 2),
    )
    header = band_header(
        mission, band, shape=(rows, cols), dark_dn=dark, gain_factor=gain, oversamp=oversamp, star_xy=predicted_xy
    )
    along, across = _mtf_nyquist(mission, band, psf_family)
    truth = BandFileTruth(
        e_k=e_k,
        a_true=a_k,
        gain_factor=gain,
        s_true_dn=s_true,
        mtf_nyquist_along=along,
        mtf_nyquist_across=across,
        star_x=center[0],
        star_y=center[1],
        reason=RejectReason.SATURATED.value if np.nanmax(image) >= SATURATE_DN else None,
        extra={"background_dn": background, "background_slope": list(slope)}
        | ({} if psf_family is None else {"psf_family": psf_family}),
    )
    return header, image, truth
