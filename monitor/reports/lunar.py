"""Report parts of the lunar method (issue 16): the GLOD lunar-comparison section and the
geometry-matched PNEO3/PNEO4 inter-calibration.

- :func:`lunar_comparison_section`: per instrument and channel the LIME TBX figures (MRD, MARD,
  σ, N after the 3σ filter), the trend of the ratio per year and its slope versus |g|, the
  largest disagreement of the own disk integration with ``dc_obs`` and the latest ratio ± σ; two
  figures per instrument (ratio versus date and versus signed phase angle, one colour per
  channel, flagged observations as crosses); the ROLO absolute-scale statement.
- :func:`pneo_ratio_rows`: the PNEO3/PNEO4 ratio per band from pairs of acquisitions at similar
  geometry (:func:`pneo_ratio`: same branch, |Δg| and |Δt| within the ``[moon]`` tolerances,
  in-trend measurements only), never the ratio of two latest values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from matplotlib.figure import Figure
from sqlmodel import Session

from monitor.catalogue import lunar_comparisons as lc
from monitor.catalogue import moon_results
from monitor.catalogue.models import Acquisition, MoonMeasurement
from monitor.domain import BANDS_BY_MISSION, Mission
from monitor.lunar_results import channel_statistics
from monitor.reports.context import RatioRow
from monitor.reports.plot_style import date_axis as _date_axis
from monitor.reports.plot_style import dates as _dates
from monitor.reports.plot_style import legend_outside as _legend_outside
from monitor.reports.plot_style import render as _render
from monitor.reports.plot_style import single as _single
from monitor.science.constants import SECONDS_PER_DAY
from monitor.science.lunar_comparison import ROLO_ABSOLUTE_SCALE_TEXT, ComparisonStatistics
from monitor.science.moon_trends import PairRatio, geometry_matched_ratio, independent_rel_sigma
from monitor.settings import Settings

__all__ = ["LunarStatRow", "LunarInstrumentSection", "lunar_comparison_section", "pneo_ratio", "pneo_ratio_rows"]


@dataclass(frozen=True)
class LunarStatRow:
    """One channel: LIME TBX statistics of the in-trend ratios, the largest disagreement of the
    system's disk integration with the file's ``dc_obs`` (fraction; None without imagettes) and
    the latest ratio with its 1-sigma."""

    channel: str
    stats: ComparisonStatistics
    max_abs_dc_diff: float | None = None
    last_ratio: float | None = None
    last_ratio_sigma: float | None = None


def _channel_extras(pairs: list[tuple[lc.LunarComparisonRow, lc.GlodObservationRow]],
                    channel: str) -> dict[str, float | None]:
    rows = sorted(((c, o) for c, o in pairs if c.channel == channel), key=lambda p: _utc(p[1].date_obs))
    diffs = [abs(c.dc_integrated / c.dc_file - 1.0) for c, _ in rows
             if c.dc_integrated is not None and c.dc_file is not None and c.dc_file > 0]
    rated = [c for c, _ in rows if c.ratio is not None]
    return {"max_abs_dc_diff": max(diffs) if diffs else None,
            "last_ratio": rated[-1].ratio if rated else None,
            "last_ratio_sigma": rated[-1].ratio_sigma if rated else None}


@dataclass(frozen=True)
class LunarInstrumentSection:
    instrument: str
    n_observations: int
    n_flagged: int
    stats: Sequence[LunarStatRow]
    figure_date: str | None
    figure_phase: str | None
    note: str = ROLO_ABSOLUTE_SCALE_TEXT


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _figure(pairs: list[tuple[lc.LunarComparisonRow, lc.GlodObservationRow]], instrument: str,
            by_phase: bool) -> str | None:
    channels = sorted({c.channel for c, _ in pairs if c.ratio is not None})
    if not channels:
        return None

    def build() -> Figure:
        fig, ax = _single(2.6, right_in=0.9)
        for i, ch in enumerate(channels):
            rows = [(c, o) for c, o in pairs if c.channel == ch and c.ratio is not None]
            col = f"C{i % 10}"
            for in_trend, fmt in ((True, "o"), (False, "x")):
                sel = [(c, o) for c, o in rows if c.in_trend is in_trend]
                if not sel:
                    continue
                x = ([c.phase_angle_deg for c, _ in sel] if by_phase else _dates([_utc(o.date_obs) for _, o in sel]))
                ax.errorbar(x, [c.ratio for c, _ in sel], yerr=[c.ratio_sigma or 0.0 for c, _ in sel], fmt=fmt,
                            markersize=3, capsize=1, elinewidth=0.5, color=col, label=ch if in_trend else None)
        ax.axhline(1.0, color="0.5", linewidth=0.5)
        ax.set_ylabel("irr_obs / irr_model")
        if by_phase:
            ax.set_xlabel("phase angle g [deg] (negative: waxing)")
            ax.set_title(f"{instrument}: observed / REF-1 vs phase angle (× = flagged)", y=1.0)
        else:
            _date_axis(ax, [_utc(o.date_obs) for _, o in pairs])
            ax.set_title(f"{instrument}: observed / REF-1 vs date (× = flagged)", y=1.0)
        _legend_outside(ax)
        return fig

    return _render(build)


def lunar_comparison_section(session: Session, until: datetime | None = None) -> list[LunarInstrumentSection]:
    """The lunar-comparison part of the report: every GLOD observation up to ``until``."""
    pairs = lc.latest_lunar_comparisons(session, until=until)
    out = []
    for instrument in sorted({o.instrument for _, o in pairs}):
        mine = [(c, o) for c, o in pairs if o.instrument == instrument]
        stats = channel_statistics(mine)
        rows = [LunarStatRow(ch, s, **_channel_extras(mine, ch)) for (_, ch), s in sorted(stats.items())]
        out.append(LunarInstrumentSection(
            instrument=instrument, n_observations=len({o.id for _, o in mine}),
            n_flagged=sum(c.status == "flagged" for c, _ in mine), stats=rows,
            figure_date=_figure(mine, instrument, by_phase=False),
            figure_phase=_figure(mine, instrument, by_phase=True),
        ))  # fmt: skip
    return out


def pneo_ratio(
    session: Session, settings: Settings, band: str, numerator: str = "PNEO3", denominator: str = "PNEO4"
) -> PairRatio | None:
    """Ratio ``A_k(numerator) / A_k(denominator)`` of one band from acquisitions at similar geometry.

    Pairs: same branch (waxing/waning), ``|g|`` within ``[moon] ratio_max_phase_diff_deg`` and
    times within ``[moon] ratio_max_days`` (:func:`monitor.science.moon_trends.geometry_matched_ratio`);
    the ratio is the weighted mean over the pairs, its uncertainty from the per-acquisition terms
    that do not cancel (noise, background, aperture, geometry), Birge-scaled. Only the in-trend
    measurements of each satellite (never flagged ones) take part. None when no pair qualifies;
    ``pairs`` index those measurement series in time order.
    """
    return _pair_ratio(moon_results.moon_trend_rows(session, numerator, band),
                       moon_results.moon_trend_rows(session, denominator, band), settings)


def _pair_ratio(num: list[tuple[MoonMeasurement, Acquisition]], den: list[tuple[MoonMeasurement, Acquisition]],
                settings: Settings) -> PairRatio | None:
    if not num or not den:
        return None
    series = [(
        [m.phase_angle_deg for m, _ in rows],
        [_utc(acq.date_obs).timestamp() / SECONDS_PER_DAY for _, acq in rows],
        [m.a for m, _ in rows],
        [independent_rel_sigma(m.budget, m.a, m.a_sigma) for m, _ in rows],
    ) for rows in (num, den)]  # fmt: skip
    (g_n, t_n, a_n, s_n), (g_d, t_d, a_d, s_d) = series
    return geometry_matched_ratio(g_n, t_n, a_n, s_n, g_d, t_d, a_d, s_d,
                                  max_phase_diff_deg=settings.moon.ratio_max_phase_diff_deg,
                                  max_days=settings.moon.ratio_max_days)


def pneo_ratio_rows(session: Session, settings: Settings) -> list[RatioRow]:
    """PNEO3/PNEO4 ratio per band from geometry-matched pairs (module doc), from one query."""
    series = moon_results.moon_trend_series(session, ("PNEO3", "PNEO4"))
    rows = []
    for band in BANDS_BY_MISSION[Mission.PNEO]:
        r = _pair_ratio(series.get(("PNEO3", band), []), series.get(("PNEO4", band), []), settings)
        if r is not None:
            rows.append(RatioRow(band=band, ratio=r.ratio, ratio_sigma=r.ratio_sigma, n_pairs=r.n_pairs))
    return rows
