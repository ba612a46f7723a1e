"""View model of the PDF report: frozen dataclasses of plain values.

The report use-case (``monitor.reports.view``) fills these from catalogue rows; the plotting
(:mod:`monitor.reports.plots`) and the templates (:mod:`monitor.reports.render`) only read them.
Nothing here knows about the database, ORM objects or sessions, so no lazy load can happen while a
template is being rendered.

Conventions
-----------
* Times are timezone-aware UTC ``datetime`` (the filters refuse naive ones).
* ``a`` / ``a_sigma``: absolute calibration coefficient A_k and its 1-sigma, DN / (W m^-2 sr^-1 um^-1).
* ``rate_per_year``: relative drift dA/A per year (0.01 = 1 %/yr), ``change_pct_*`` in percent.
* MTF frequencies in cycles per native pixel (0.5 = Nyquist), MTF values dimensionless.
* Distances in metres, velocities in m/s (geometry rows, as in ICD 5).
* Every sequence may be empty and every optional value may be ``None``: the templates then say
  plainly that there is no data. Sequences are typed ``Sequence`` so callers may pass lists or
  tuples; the defaults are empty tuples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.domain import printable_name

__all__ = [
    "SummaryRow",
    "DriftFit",
    "CalibrationSeries",
    "StarTrace",
    "StarOutlier",
    "StarOutlierRow",
    "StarWindowTraces",
    "StarTraceSet",
    "MtfCurve",
    "MtfNyquistSeries",
    "MoonResult",
    "GeometryRow",
    "RejectedInput",
    "Provenance",
    "SatelliteSection",
    "RatioRow",
    "AlertItem",
    "ReportContext",
]


@dataclass(frozen=True)
class SummaryRow:
    """One line of the summary table (latest result of a satellite, band and method)."""

    satellite: str
    band: str
    method: str  # "STAR" or "MOON"
    a: float | None = None
    a_sigma: float | None = None
    change_pct_since_previous: float | None = None  # % change of A since the previous result
    drift_per_year: float | None = None  # dA/A per year
    drift_sigma: float | None = None
    mtf_nyquist_along: float | None = None
    mtf_nyquist_across: float | None = None
    # fitted relative drift of the MTF at Nyquist, dMTF/MTF per year, and its 1 sigma (STAR only)
    mtf_drift_along: float | None = None
    mtf_drift_along_sigma: float | None = None
    mtf_drift_across: float | None = None
    mtf_drift_across_sigma: float | None = None
    alert: str | None = None  # human-readable alert text; highlighted in the table
    epoch: datetime | None = None  # epoch of the latest result (may precede the report period)


@dataclass(frozen=True)
class DriftFit:
    """Linear drift model A(t) = a0 * (1 + rate_per_year * (t - reference_epoch) / 1 yr)."""

    reference_epoch: datetime
    a0: float
    rate_per_year: float
    rate_sigma: float
    # which fit: "linear" (the starpool means / Moon A_k) or "star-offsets" (per-star offsets, issue 14:
    # the rate from each star's own changes; a0 then levels the line through the plotted A_k)
    model: str = "linear"

    @property
    def label(self) -> str:
        """How the report names this fit."""
        return "per-star offsets" if self.model == "star-offsets" else "linear fit of the points"


@dataclass(frozen=True)
class CalibrationSeries:
    """A_k of one band and method over time (one point per starpool or Moon acquisition)."""

    band: str
    method: str
    epochs: Sequence[datetime] = ()
    a: Sequence[float] = ()
    a_sigma: Sequence[float] = ()
    drift: DriftFit | None = None  # the primary drift (the one of the summary), drawn solid
    # the linear fit of the starpool means when it is not the primary one (drawn dashed, for comparison)
    starpool_mean_drift: DriftFit | None = None


@dataclass(frozen=True)
class VariableStarTrace:
    """One star flagged variable in one band (issue 14): its normalised-count trace and the test.

    ``ratio``: the star's coefficient a_i over its starpool's A_k at each starpool (1 = as the
    other stars), ``ratio_sigma`` its 1-sigma; the statistic is that of the newest test of the star
    (chi-square over its history with per-starpool and per-star terms removed,
    :func:`monitor.science.star_variability.variability_test_two_way`, ``dof = n - 1``).
    """

    star: str  # "HIP 32349"
    band: str
    times: Sequence[datetime] = ()
    ratio: Sequence[float] = ()
    ratio_sigma: Sequence[float] = ()
    chi2: float | None = None
    n_points: int = 0
    p_value: float | None = None
    rms_rel: float | None = None
    first_flagged: datetime | None = None  # epoch of the first starpool that flagged it


@dataclass(frozen=True)
class StarTrace:
    """Time series of one star: measured window sum / predicted, normalised (1.0 = nominal)."""

    star: str  # e.g. "HIP 32349"
    times: Sequence[datetime] = ()
    ratio: Sequence[float] = ()


@dataclass(frozen=True)
class StarOutlier:
    """One star measurement far from its window's median ratio in its time bin (starpool)."""

    star: str  # "HIP 32349"
    acq_id: str
    time: datetime
    half_width_px: int
    ratio: float  # measured / predicted [1]
    median: float  # median ratio of the bin [1]
    departure_sigma: float  # (ratio - median) / robust spread of the bin
    in_period: bool = True  # dated inside the report period


@dataclass(frozen=True)
class StarOutlierRow:
    """The outlying windows of one star acquisition (a row of the report's outlier table)."""

    star: str
    acq_id: str
    time: datetime
    windows_px: Sequence[int]  # window sides 2h+1, native pixels
    ratio_min: float
    ratio_max: float
    departure_sigma: float  # the largest departure (in absolute value), robust sigmas


@dataclass(frozen=True)
class StarWindowTraces:
    """The star traces of one band for one extraction window (square half-width h, native px).

    ``epochs``/``median``/``spread``/``n_stars``: one entry per time bin (one starpool): median
    time, median ratio, robust spread (1.4826 MAD) and number of stars. ``traces``: each star's own
    series (for the per-star appendix and ``monitor traces``).
    """

    half_width_px: int
    traces: Sequence[StarTrace] = ()
    epochs: Sequence[datetime] = ()
    median: Sequence[float] = ()
    spread: Sequence[float] = ()
    n_stars: Sequence[int] = ()
    outliers: Sequence[StarOutlier] = ()


@dataclass(frozen=True)
class StarTraceSet:
    """Star traces of one band, one entry per extraction window size."""

    band: str
    windows: Sequence[StarWindowTraces] = ()

    @property
    def outliers(self) -> list[StarOutlier]:
        """Every outlier of every window, by time, star and window."""
        return sorted((o for w in self.windows for o in w.outliers),
                      key=lambda o: (o.time, o.star, o.half_width_px))

    @property
    def outlier_rows(self) -> list[StarOutlierRow]:
        """The outliers of the report period, one row per star acquisition (all its outlying windows)."""
        rows: dict[tuple[str, str], list[StarOutlier]] = {}
        for o in self.outliers:
            if o.in_period:
                rows.setdefault((o.star, o.acq_id), []).append(o)
        return [StarOutlierRow(star=os[0].star, acq_id=os[0].acq_id, time=os[0].time,
                               windows_px=[2 * o.half_width_px + 1 for o in os],
                               ratio_min=min(o.ratio for o in os), ratio_max=max(o.ratio for o in os),
                               departure_sigma=max((o.departure_sigma for o in os), key=abs))
                for os in rows.values()]

    @property
    def outlier_stars(self) -> list[str]:
        """Names of the stars with at least one outlier in the report period, sorted."""
        return sorted({o.star for o in self.outliers if o.in_period})


@dataclass(frozen=True)
class MtfCurve:
    """Latest MTF curve of one band (continuous PSF including pixel aperture)."""

    band: str
    frequency: Sequence[float] = ()  # cycles / native pixel
    along: Sequence[float] = ()
    along_sigma: Sequence[float] = ()
    across: Sequence[float] = ()
    across_sigma: Sequence[float] = ()
    epoch: datetime | None = None
    starpool: str | None = None
    # Non-parametric cross-check (stacked ePSF of the same starpool) and the comparison at Nyquist.
    epsf_along: Sequence[float] = ()
    epsf_across: Sequence[float] = ()
    epsf_along_sigma: Sequence[float] = ()  # 1 sigma of the ePSF curve (bootstrap over the stars)
    epsf_across_sigma: Sequence[float] = ()
    nyquist_along: float | None = None
    nyquist_along_sigma: float | None = None
    nyquist_across: float | None = None
    nyquist_across_sigma: float | None = None
    epsf_nyquist_along: float | None = None
    epsf_nyquist_across: float | None = None
    epsf_nyquist_along_sigma: float | None = None  # bootstrap over the stars
    epsf_nyquist_across_sigma: float | None = None
    agrees_with_epsf: bool | None = None  # False: the two estimates disagree (flagged)
    reported: str = "parametric"  # the estimate the system reports: parametric, or epsf (fit flagged)
    misfit: bool = False  # the fit failed its misfit tests (chi2 or residual structure)


@dataclass(frozen=True)
class MtfNyquistSeries:
    """MTF at Nyquist (0.5 cycles/pixel) of one band over time."""

    band: str
    epochs: Sequence[datetime] = ()
    along: Sequence[float] = ()
    along_sigma: Sequence[float] = ()
    across: Sequence[float] = ()
    across_sigma: Sequence[float] = ()


@dataclass(frozen=True)
class MoonResult:
    """A_k from one Moon acquisition and band."""

    acq_id: str
    band: str
    epoch: datetime
    phase_deg: float  # signed lunar phase angle, degrees (negative = waxing)
    a: float
    a_sigma: float
    residual_pct: float | None = None  # (A - model A at epoch) / model, %; computed by the use-case
    flagged: bool = False


@dataclass(frozen=True)
class GeometryRow:
    """Result of one geometry (GEOM) acquisition (ICD 5 ``geometry``)."""

    acq_id: str
    n_control: int
    n_check: int
    rmse_e_m: float | None = None
    rmse_n_m: float | None = None
    rmse_u_m: float | None = None
    velocity_m_s: tuple[float, float, float] | None = None
    epoch: datetime | None = None


@dataclass(frozen=True)
class RejectedInput:
    """A delivered file (or band) refused by ingest or processing.

    File names and messages come from outside (inbox names, header strings): control characters
    are escaped here, so the report never carries them raw.
    """

    file: str
    reason: str  # short category of ICD 5 (``truncated``, ``not-fits`` ...)
    message: str
    time: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "file", printable_name(self.file))
        object.__setattr__(self, "message", printable_name(self.message))


@dataclass(frozen=True)
class Provenance:
    """What a section was computed from: code versions and acquisition ids."""

    code_versions: Sequence[str] = ()
    acquisition_ids: Sequence[str] = ()


@dataclass(frozen=True)
class SatelliteSection:
    """Everything the report shows about one satellite; any part may be empty."""

    satellite: str  # "PHR1A" ...
    mission: str = ""  # "PHR" or "PNEO"
    bands: Sequence[str] = ()
    calibration: Sequence[CalibrationSeries] = ()
    star_traces: Sequence[StarTraceSet] = ()
    variable_stars: Sequence[VariableStarTrace] = ()
    mtf_curves: Sequence[MtfCurve] = ()
    mtf_nyquist: Sequence[MtfNyquistSeries] = ()
    moon: Sequence[MoonResult] = ()
    geometry: Sequence[GeometryRow] = ()
    rejected: Sequence[RejectedInput] = ()
    provenance: Provenance = field(default_factory=Provenance)

    @property
    def has_data(self) -> bool:
        """True when at least one result section has content."""
        return bool(
            self.calibration
            or self.star_traces
            or self.mtf_curves
            or self.mtf_nyquist
            or self.moon
            or self.geometry
            or self.rejected
        )


@dataclass(frozen=True)
class RatioRow:
    """PNEO3 / PNEO4 inter-calibration for one band, from acquisition pairs at similar geometry."""

    band: str
    ratio: float | None = None  # A(PNEO3) / A(PNEO4)
    ratio_sigma: float | None = None
    n_pairs: int | None = None  # acquisition pairs at similar geometry behind the ratio


@dataclass(frozen=True)
class AlertItem:
    """A calibration alert that concerns the period (active at some time of it), with its state
    at the time of the report (``open``, ``acknowledged`` or ``closed``)."""

    id: int
    kind: str  # drift-rate, drift-departure, mtf-disagreement
    satellite: str
    band: str
    method: str
    state: str
    opened_at: datetime
    message: str
    value: float | None = None
    sigma: float | None = None
    closed_at: datetime | None = None
    note: str | None = None  # the acknowledgement's note


@dataclass(frozen=True)
class StarBudgetRow:
    """Uncertainty budget of the newest starpool A_k of one satellite and band in the period
    (ICD 5 ``a_sigma_components``: fractions of A, in %); ``reference_model`` REF-1 or REF-2."""

    satellite: str
    band: str
    starpool: str
    reference_model: str
    a_sigma_pct: float
    components_pct: Mapping[str, float]
    variable_stars: Sequence[int] = ()


@dataclass(frozen=True)
class ReportContext:
    """The whole report.

    ``generated_at`` is an input, not ``now()``: it becomes the PDF creation date
    (``dcterms.created``), so the same context always renders to the same bytes.
    """

    title: str
    period_label: str  # e.g. "Week 2026-W47" or "November 2026"
    period_start: datetime
    period_end: datetime
    generated_at: datetime
    code_version: str
    icd_version: str
    reference_model: str
    summary_rows: Sequence[SummaryRow] = ()
    satellites: Sequence[SatelliteSection] = ()
    ratio_rows: Sequence[RatioRow] = ()
    other_rejected: Sequence[RejectedInput] = ()  # refused files that name no known satellite
    lunar_comparisons: Sequence[Any] = ()  # monitor.reports.lunar.LunarInstrumentSection, per GLOD instrument
    alerts: Sequence[AlertItem] = ()  # the calibration alerts of the period, by satellite, band, method, kind
    star_budget: Sequence[StarBudgetRow] = ()  # issue 14: budget of the newest starpool A_k per satellite/band
    reference_note: str = ""  # said once when the REF-1 star model is in use (no spectral library)
    acquisitions_in_period: int | None = None  # acquisitions dated in [period_start, period_end); None: unknown
    mtf_note: str = ""  # said when the site's MTF stage is off ([star] mtf = false)

    @property
    def as_of(self) -> datetime:
        """The instant the report's values are given at: the period end, or the generation time for a
        report made before its period ended."""
        return min(self.period_end, self.generated_at)
