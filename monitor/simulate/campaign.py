"""Generator of ICD-1 acquisition campaigns with a known truth (tests, demo, benchmarks).

For each satellite and month, a burst of acquisitions a few days long:

- **STAR** (default on PHR1A/PHR1B, ``stars_per_campaign``): :mod:`monitor.simulate.star_acquisition`;
  the stars' irradiances are REF-1 black bodies (default) or, ``star_spectra="library"``, true
  spectra drawn from a spectral library (:mod:`monitor.simulate.star_spectra`).
- **MOON** (default on PNEO3/PNEO4, ``moon_per_month``): :mod:`monitor.simulate.moon_acquisition`.
- **GEOM** (every satellite, ``geom_per_month``): :mod:`monitor.simulate.geom_acquisition`.
- **Bad files** (``bad_files=True``), one of each kind: :mod:`monitor.simulate.bad_files`.

Every file is written atomically with a ``.done`` marker by
:func:`monitor.io.fits_writer.write_acquisition`. The returned
:class:`~monitor.simulate.truth.SimulationTruth` describes every file.

The instrument numbers (IFOV, altitude, line period, saturation, read noise, gain) are those
of :mod:`monitor.science.instrument`; dark 20–60 DN.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from monitor.domain import (
    BANDS_BY_MISSION,
    MISSION_OF_SATELLITE,
    MOON_SATELLITES,
    STAR_SATELLITES,
    AcqType,
    Mission,
    Satellite,
)
from monitor.science.constants import SECONDS_PER_DAY
from monitor.simulate.acquisition import CampaignContext, SimulatedAcquisition, deliver
from monitor.simulate.bad_files import write_bad_files
from monitor.simulate.geom_acquisition import simulate_geom_acquisition
from monitor.simulate.moon_acquisition import simulate_moon_acquisition
from monitor.simulate.star_acquisition import (
    library_star_truth,
    simulate_star_acquisition,
    star_table,
    with_variable_stars,
)
from monitor.simulate.truth import BandTruth, FileTruth, SimulationTruth

__all__ = [
    "DEFAULT_A0",
    "SATELLITE_A_FACTOR",
    "BAND_DRIFT_FACTOR",
    "simulate_campaigns",
]

# True A_k at the reference epoch, DN / (W m^-2 sr^-1 um^-1). PAN: a V = 2 star (B-V = 0) at
# GAINFACT = 1 peaks at about 60 % of the 12-bit range with the default PSFs (peak native pixel
# = 29 % (PHR) / 32 % (PNEO) of the star's signal). MS: the same star at GAINFACT = 4 peaks at
# 35-60 % of the range, so faint stars use the highest gain, as the TDI setting would.
DEFAULT_A0: dict[Mission, dict[str, float]] = {
    Mission.PHR: {"P": 2.0, "B0": 2.5, "B1": 3.0, "B2": 4.0, "B3": 6.0},
    Mission.PNEO: {"P": 0.40, "DB": 0.8, "B": 1.0, "G": 1.3, "R": 1.8, "RE": 2.4, "NIR": 3.2},
}
SATELLITE_A_FACTOR = {Satellite.PHR1A: 1.00, Satellite.PHR1B: 0.97, Satellite.PNEO3: 1.00, Satellite.PNEO4: 1.03}
BAND_DRIFT_FACTOR = {"P": 1.0, "B0": 1.5, "DB": 1.8, "B": 1.4, "B1": 1.1, "G": 1.1}  # blue ages faster


def _add_months(t: datetime, months: int) -> datetime:
    month0 = t.month - 1 + months
    year, month = t.year + month0 // 12, month0 % 12 + 1
    day = min(t.day, calendar.monthrange(year, month)[1])
    return t.replace(year=year, month=month, day=day)


def _calibration_truth(
    satellites: Sequence[Satellite],
    start: datetime,
    truth_a: Mapping[str, Mapping[str, float]] | None,
    drift_per_year: float,
) -> dict[str, dict[str, BandTruth]]:
    out: dict[str, dict[str, BandTruth]] = {}
    for sat in satellites:
        mission = MISSION_OF_SATELLITE[sat]
        given = (truth_a or {}).get(sat.value, {})
        out[sat.value] = {
            band: BandTruth(
                a0=float(given.get(band, DEFAULT_A0[mission][band] * SATELLITE_A_FACTOR[sat])),
                rate_per_year=drift_per_year * BAND_DRIFT_FACTOR.get(band, 1.0),
                reference_epoch=start,
            )
            for band in BANDS_BY_MISSION[mission]
        }
    return out


def simulate_campaigns(
    outdir: Path,
    *,
    start: datetime,
    months: int,
    seed: int,
    satellites: Sequence[Satellite | str] = (Satellite.PHR1A, Satellite.PHR1B, Satellite.PNEO3, Satellite.PNEO4),
    stars_per_campaign: int = 25,
    moon_per_month: int = 1,
    geom_per_month: int = 1,
    bad_files: bool = True,
    truth_a: Mapping[str, Mapping[str, float]] | None = None,
    drift_per_year: float = -0.01,
    star_satellites: Sequence[Satellite | str] | None = None,
    moon_satellites: Sequence[Satellite | str] | None = None,
    v_range: tuple[float, float] = (2.0, 5.5),
    star_pool_factor: float = 2.0,
    campaign_days: float = 3.0,
    saturated_fraction: float = 0.03,
    uint16_fraction: float = 0.2,
    gzip_fraction: float = 0.05,
    done_markers: bool = True,
    progress: Callable[..., None] | None = None,
    psf_family: str | None = None,
    star_spectra: str = "ref1",
    star_library: Path | None = None,
    star_rsr_dir: Path | None = None,
    star_variable_fraction: float = 0.0,
) -> SimulationTruth:
    """Write monthly acquisition campaigns into ``outdir`` and return their truth.

    Parameters
    ----------
    outdir : Path
        Output (inbox) directory, created if needed.
    start : datetime
        Aware UTC start; also the reference epoch of the true ``A_k(t)``.
    months : int
        Number of monthly campaigns per satellite.
    seed : int
        Seed of the only random generator (the output is reproducible).
    satellites : sequence of Satellite or str
        Satellites simulated.
    stars_per_campaign : int
        STAR acquisitions per satellite and month.
    moon_per_month, geom_per_month : int
        MOON (on ``moon_satellites``) and GEOM (every satellite) acquisitions per month.
    bad_files : bool
        Also write one file of each bad kind (needs at least one STAR satellite).
    truth_a : Mapping[str, Mapping[str, float]], optional
        ``{satellite: {band: A0}}`` overriding :data:`DEFAULT_A0` (x :data:`SATELLITE_A_FACTOR`).
    drift_per_year : float
        Relative drift dA/A per year of the PAN/red/NIR bands (blue bands age faster, see
        ``BAND_DRIFT_FACTOR``).
    star_satellites, moon_satellites : sequence, optional
        Satellites doing STAR / MOON acquisitions; default PHR and PNEO members of ``satellites``.
    v_range : (float, float)
        V magnitude range of the stars.
    star_pool_factor : float
        Each satellite observes stars from a fixed pool of ``star_pool_factor · stars_per_campaign``
        stars, so stars come back from month to month.
    campaign_days : float
        Length of a monthly burst, days.
    saturated_fraction : float
        Probability that a STAR acquisition is set up to saturate.
    uint16_fraction, gzip_fraction : float
        Probabilities of writing a valid file as uint16 (BZERO 32768) / gzip-compressed.
    done_markers : bool
        Write ``.done`` markers.
    psf_family : str, optional
        Truth PSF of the STAR vignettes: None (default) draws them with the estimator's parametric
        family; a name of ``monitor.simulate.pupil_psf.FAMILIES`` (e.g. ``"astig_spiders"``) draws
        them from the independent pupil-based truth (issue 15), and the truth files record its MTF.
    star_spectra : {"ref1", "library"}
        Where the stars' true band irradiances come from: the REF-1 black body of ICD 2.2 (default,
        the system's own REF-1 model: exact for it), or true spectra drawn from ``star_library``
        (another template of nearby colour times a smooth 1 % perturbation,
        :mod:`monitor.simulate.star_spectra`; each STAR file's truth records its template and
        perturbation under ``extra["star_spectrum"]``, and the truth's ``reference_model`` is
        ``"library <sha256[:16]>"``).
    star_library : Path, optional
        Spectral library in the Pickles UVKLIB layout (with ``index.csv``); required by ``"library"``.
    star_rsr_dir : Path, optional
        Measured RSRs ``<SATELLITE>_<BAND>.csv`` of the true instrument with ``"library"`` (bands
        without a file: the nominal RSR).
    star_variable_fraction : float
        With ``"library"``: this fraction of the stars each satellite may observe (at least one
        when > 0) varies, unflagged in the catalogue: sinusoid of amplitude 1.5-5 %, period
        20-400 days (:func:`monitor.simulate.star_acquisition.with_variable_stars`; own random
        generator, the other draws unchanged); the file truth records it under
        ``extra["star_spectrum"]["variable"]``. Default 0: no variable star.

    Returns
    -------
    SimulationTruth
        Truth of every written file (see :mod:`monitor.simulate.truth`).
    """
    if start.tzinfo is None:
        raise ValueError("start must be an aware UTC datetime")
    if star_spectra not in ("ref1", "library"):
        raise ValueError(f'star_spectra must be "ref1" or "library", not {star_spectra!r}')
    if star_spectra == "library" and star_library is None:
        raise ValueError('star_spectra="library" needs star_library (a spectral library directory)')
    start = start.astimezone(UTC)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    sats = [Satellite(s) for s in satellites]
    star_sats = [s for s in sats if s in [Satellite(x) for x in (star_satellites or STAR_SATELLITES)]]
    moon_sats = [s for s in sats if s in [Satellite(x) for x in (moon_satellites or MOON_SATELLITES)]]
    rng = np.random.default_rng(seed)
    ctx = CampaignContext(
        outdir=outdir,
        rng=rng,
        calibration=_calibration_truth(sats, start, truth_a, drift_per_year),
        v_range=v_range,
        saturated_fraction=saturated_fraction,
        uint16_fraction=uint16_fraction,
        gzip_fraction=gzip_fraction,
        done_markers=done_markers,
        psf_family=psf_family,
    )
    truth = SimulationTruth(seed=seed, start=start, months=months, calibration=ctx.calibration, outdir=str(outdir))
    for sat in sats:
        ctx.raan[sat] = float(rng.uniform(0.0, 360.0))
    if star_spectra == "library":
        assert star_library is not None
        for mission in dict.fromkeys(MISSION_OF_SATELLITE[s] for s in star_sats):
            ctx.star_truth[mission] = library_star_truth(
                mission, v_range, tuple(s for s in star_sats if MISSION_OF_SATELLITE[s] is mission),
                Path(star_library), None if star_rsr_dir is None else Path(star_rsr_dir), seed)
            truth.reference_model = f"library {ctx.star_truth[mission].library_sha256[:16]}"
    for sat in star_sats:
        n_stars = star_table(MISSION_OF_SATELLITE[sat], *v_range).stars.hip.size
        pool = max(stars_per_campaign, int(round(star_pool_factor * stars_per_campaign)))
        ctx.star_pool[sat] = rng.choice(n_stars, size=min(pool, n_stars), replace=False)
    for mission, lib_truth in list(ctx.star_truth.items()):
        observed = np.unique(np.concatenate([ctx.star_pool[s] for s in star_sats if MISSION_OF_SATELLITE[s] is mission]
                                            or [np.zeros(0, dtype=np.int64)]))
        ctx.star_truth[mission] = with_variable_stars(lib_truth, observed, star_variable_fraction, seed)

    first_star: SimulatedAcquisition | None = None  # the conflict and the duplicate start from it
    for month in range(months):
        month_start = _add_months(start, month)
        for k, sat in enumerate(sats):
            if progress is not None:
                progress(month * len(sats) + k, months * len(sats), f"{month_start:%Y-%m} {sat.value}")
            delivered = _satellite_month(
                ctx,
                sat,
                month_start,
                stars=stars_per_campaign if sat in star_sats else 0,
                moons=moon_per_month if sat in moon_sats else 0,
                geoms=geom_per_month,
                campaign_days=campaign_days,
            )
            truth.files.extend(acq.truth for acq in delivered)
            if first_star is None and star_sats and sat == star_sats[0]:
                first_star = next((a for a in delivered if a.header.acq_type is AcqType.STAR), None)

    if bad_files and first_star is not None:
        truth.files.extend(_write_bad_files(ctx, first_star))
    if progress is not None:
        progress(months * len(sats), months * len(sats), "done")
    return truth


def _satellite_month(
    ctx: CampaignContext,
    sat: Satellite,
    month_start: datetime,
    *,
    stars: int,
    moons: int,
    geoms: int,
    campaign_days: float,
) -> list[SimulatedAcquisition]:
    """Deliver one satellite's acquisitions of one month: a burst of ``campaign_days`` days."""
    rng = ctx.rng
    burst_start = month_start + timedelta(days=float(rng.uniform(0.0, 20.0)))

    def epochs(n: int) -> list[datetime]:
        offsets = np.sort(rng.uniform(0.0, campaign_days * SECONDS_PER_DAY, size=n))
        return [burst_start + timedelta(seconds=float(s)) for s in offsets]

    out: list[SimulatedAcquisition] = []
    if stars > 0:
        pool_idx = ctx.star_pool[sat]
        chosen = rng.choice(pool_idx, size=min(stars, pool_idx.size), replace=False)
        for t, star in zip(epochs(chosen.size), chosen, strict=True):
            out.append(deliver(ctx, simulate_star_acquisition(ctx, sat, t, int(star))))
    for _ in range(moons):
        out.append(deliver(ctx, simulate_moon_acquisition(ctx, sat, month_start, 28.0)))
    for t in epochs(geoms):
        out.append(deliver(ctx, simulate_geom_acquisition(ctx, sat, t)))
    return out


def _write_bad_files(ctx: CampaignContext, first_star: SimulatedAcquisition) -> list[FileTruth]:
    """The bad files, made from new STAR acquisitions of ``first_star``'s satellite an hour after it."""
    sat = first_star.header.satellite
    t_bad = first_star.header.date_obs + timedelta(hours=1)

    def make_star() -> SimulatedAcquisition:
        star = int(ctx.rng.choice(ctx.star_pool[sat]))
        t = t_bad + timedelta(minutes=ctx.seq[sat])
        return simulate_star_acquisition(ctx, sat, t, star, force_saturation=False)

    return write_bad_files(ctx, make_star, first_star)
