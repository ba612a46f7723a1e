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

With ``simulate_campaigns(..., star_spectra="library")`` the ``E_k`` of the measurement equation
come instead from true spectra drawn from a spectral library (:func:`library_star_truth`,
:mod:`monitor.simulate.star_spectra`: another template of nearby colour times a smooth 1 %
perturbation, a truth REF-2 does not share); the drawing uses a generator of its own, so the
default (REF-1) campaign is untouched. (The two campaigns of one seed still differ beyond their
first image: photon-noise draws consume a signal-dependent amount of the campaign's generator.)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from monitor.domain import BANDS_BY_MISSION, MISSION_OF_SATELLITE, AcqType, BandHeader, Mission, RejectReason, Satellite
from monitor.io.fits_writer import ImageDtype
from monitor.io.reference_data import StarCatalogue, load_johnson_v, load_rsr, load_star_catalogue, load_vega_spectrum
from monitor.io.star_library import load_band_response, load_star_library
from monitor.science.instrument import E_PER_DN_REFERENCE, READ_NOISE_DN, SATURATE_DN, pixscale_urad
from monitor.science.psf import mtf_nyquist
from monitor.science.psf_renderer import render_star
from monitor.science.star_ref2 import photon_average
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
from monitor.simulate.star_spectra import TrueStarSpectra, draw_true_spectra, true_band_irradiance_w_m2_um
from monitor.simulate.truth import BandFileTruth, a_true

__all__ = ["StarTable", "star_table", "LibraryStarTruth", "library_star_truth", "simulate_star_acquisition",
           "with_variable_stars"]

_PEAK_RANGE = (0.25, 0.75)  # target peak / (SATURATE - DARK) of the gain choice
_SATURATING_RANGE = (1.3, 2.5)


@dataclass(frozen=True)
class StarTable:
    """The reference stars a campaign observes and their REF-1 band irradiances."""

    stars: StarCatalogue  # the catalogue rows that pass the calibration rules, in catalogue order
    e_k: dict[str, NDArray[np.float64]]  # band -> E_k of each star, W m^-2 um^-1


def _table_rows(v_min: float, v_max: float) -> NDArray[np.bool_]:
    """Catalogue rows of the star table: calibration stars (REF-1 rule) with ``v_min <= V <= v_max``."""
    cat = load_star_catalogue()
    ok: NDArray[np.bool_] = is_calibration_star(cat.v_mag, cat.b_v) & (cat.v_mag >= v_min) & (cat.v_mag <= v_max)
    return ok


@cache
def star_table(mission: Mission, v_min: float, v_max: float) -> StarTable:
    """Calibration stars with ``v_min <= V <= v_max`` and their REF-1 band irradiances (computed once)."""
    cat = load_star_catalogue()
    ok = _table_rows(v_min, v_max)
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


@dataclass(frozen=True)
class LibraryStarTruth:
    """True spectra of a star table's stars drawn from a library, and their band irradiances."""

    spectra: TrueStarSpectra  # one row per star of the table, in table order
    template_files: tuple[str, ...]  # library file of each star's true template
    ref2_template_files: tuple[str, ...]  # the REF-2 nearest template (never the true one)
    e_k: dict[str, dict[str, NDArray[np.float64]]]  # satellite -> band -> true E_k, W m^-2 um^-1
    library_sha256: str
    # per star: relative amplitude, period (days), phase (rad) of a sinusoidal variation; zeros:
    # constant (:func:`with_variable_stars`)
    variability: NDArray[np.float64] | None = None

    def factor(self, star_index: int, epoch: datetime) -> float:
        """``1 + amplitude sin(2 pi t / period + phase)``, t in days since 2000-01-01T12:00 UTC (1: constant)."""
        if self.variability is None or self.variability[star_index, 0] == 0.0:
            return 1.0
        amp, period, phase = (float(x) for x in self.variability[star_index])
        t_days = (epoch - _VAR_T0).total_seconds() / 86400.0
        return 1.0 + amp * math.sin(2.0 * math.pi * t_days / period + phase)

    def record(self, star_index: int) -> dict[str, object]:
        """What a file's truth says of its star's true spectrum (and variation, for a variable star)."""
        c1, c2 = (float(c) for c in self.spectra.legendre[star_index])
        out: dict[str, object] = {"template": self.template_files[star_index],
                                  "ref2_template": self.ref2_template_files[star_index],
                                  "legendre_c1_c2": [c1, c2], "library_sha256": self.library_sha256}
        if self.variability is not None and self.variability[star_index, 0] > 0.0:
            amp, period, phase = (float(x) for x in self.variability[star_index])
            out["variable"] = {"amplitude_rel": amp, "period_days": period, "phase_rad": phase}
        return out


_VAR_T0 = datetime(2000, 1, 1, 12, tzinfo=UTC)  # epoch of the variable stars' phases
VARIABLE_AMPLITUDE_REL = (0.015, 0.05)  # range of the injected variables' amplitudes (benchmarks/star_ref2.py's)
VARIABLE_PERIOD_DAYS = (20.0, 400.0)


def with_variable_stars(truth: LibraryStarTruth, candidates: NDArray[np.int64], fraction: float,
                        seed: int) -> LibraryStarTruth:
    """``truth`` with ``round(fraction * len(candidates))`` (at least one when fraction > 0) of the
    ``candidates`` (star-table indices, e.g. the stars a satellite observes) made variable: their
    band irradiances are multiplied by :meth:`LibraryStarTruth.factor` at each acquisition (grey:
    the same in every band), amplitude uniform in :data:`VARIABLE_AMPLITUDE_REL`, period in
    :data:`VARIABLE_PERIOD_DAYS`, random phase; nothing flags them in the catalogue. Own generator
    ``default_rng([seed, 14, 1])``: the spectra and every other draw of the campaign are unchanged."""
    if fraction <= 0.0 or len(candidates) == 0:
        return truth
    rng = np.random.default_rng([seed, 14, 1])
    n = max(1, int(round(fraction * len(candidates))))
    pick = rng.choice(np.asarray(candidates), size=min(n, len(candidates)), replace=False)
    var = np.zeros((truth.spectra.flux.shape[0], 3)) if truth.variability is None else truth.variability.copy()
    var[pick, 0] = rng.uniform(*VARIABLE_AMPLITUDE_REL, pick.size)
    var[pick, 1] = rng.uniform(*VARIABLE_PERIOD_DAYS, pick.size)
    var[pick, 2] = rng.uniform(0.0, 2.0 * math.pi, pick.size)
    return dataclasses.replace(truth, variability=var)


def library_star_truth(
    mission: Mission,
    v_range: tuple[float, float],
    satellites: tuple[Satellite, ...],
    library_dir: Path,
    rsr_dir: Path | None,
    seed: int,
) -> LibraryStarTruth:
    """True spectra of the stars of ``star_table(mission, *v_range)`` and their ``E_k`` per satellite.

    The spectra are drawn by :func:`monitor.simulate.star_spectra.draw_true_spectra` with
    ``numpy.random.default_rng([seed, 14])`` (its own generator: same seed and star table, same
    spectra); ``E_k`` is :func:`~monitor.simulate.star_spectra.true_band_irradiance_w_m2_um` over
    each satellite's RSR: the measured ``<rsr_dir>/<SATELLITE>_<BAND>.csv`` when there is one, else
    the nominal one (:func:`monitor.io.star_library.load_band_response`).
    """
    lib = load_star_library(Path(library_dir))
    cat = load_star_catalogue()
    ok = _table_rows(*v_range)
    v_i = cat.v_i[ok] if cat.v_i is not None else np.full(int(ok.sum()), np.nan)
    spectra = draw_true_spectra(np.random.default_rng([seed, 14]), lib, cat.b_v[ok], v_i)
    vega, vband = load_vega_spectrum(), load_johnson_v()
    zp = float(photon_average(vega.wavelength_nm, vega.values, vband.wavelength_nm, vband.values))
    e_k: dict[str, dict[str, NDArray[np.float64]]] = {}
    for sat in satellites:
        e_k[sat.value] = {}
        for band in BANDS_BY_MISSION[mission]:
            rsr = load_band_response(sat.value, band, rsr_dir).spectrum
            e_k[sat.value][band] = true_band_irradiance_w_m2_um(spectra, cat.v_mag[ok], rsr.wavelength_nm, rsr.values,
                                                                vband.wavelength_nm, vband.values, zp)
    return LibraryStarTruth(spectra, tuple(lib.files[i] for i in spectra.template),
                            tuple(lib.files[i] for i in spectra.ref2_template), e_k, lib.checksum)


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

    library = ctx.star_truth.get(mission)  # LibraryStarTruth with star_spectra="library", else None

    def one_band(band: str) -> BandSimulation:
        a_k = a_true(ctx.calibration[satellite.value][band], epoch)
        e_k = (table.e_k[band][star_index] if library is None
               else library.e_k[satellite.value][band][star_index] * library.factor(star_index, epoch))
        return _star_band(rng, mission, band, a_k, float(e_k), oversamp, saturate, ctx.psf_family)

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
        **({} if library is None else {"extra": {"star_spectrum": library.record(star_index)}}),
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
