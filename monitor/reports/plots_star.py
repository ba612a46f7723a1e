"""Report figures of the star method: A_k per band and method with its drift lines, the per-window
star traces (measured / predicted) with their outliers, each outlier star's own trace (appendix),
and the stars flagged variable."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from monitor.reports.context import CalibrationSeries, StarTraceSet, VariableStarTrace
from monitor.reports.filters import pm
from monitor.reports.plot_style import A_UNIT, all_times, date_axis, dates, drift_line, grid, render, shade_period

__all__ = ["MAX_APPENDIX_STARS", "MAX_OUTLIER_LABELS", "plot_calibration", "plot_star_traces",
           "plot_star_trace_appendix", "plot_variable_stars"]


MAX_APPENDIX_STARS = 12  # stars drawn per band in the per-star appendix (all are in `monitor traces`)

def plot_calibration(series: Sequence[CalibrationSeries], satellite: str = "", *,
                     period: tuple[datetime, datetime] | None = None) -> str | None:
    """A_k vs time, one panel per band and method, error bars (1 sigma) and the drift fit line."""
    usable = [s for s in series if len(s.epochs)]
    if not usable:
        return None

    def build() -> Figure:
        fig, axes = grid(len(usable), 2)
        times = all_times(*(s.epochs for s in usable))
        for i, (ax, s) in enumerate(zip(axes, usable, strict=True)):
            x = dates(s.epochs)
            ax.errorbar(x, s.a, yerr=s.a_sigma, fmt="o", capsize=1.5, elinewidth=0.6, label=s.method)
            if s.starpool_mean_drift is not None:  # not primary: drawn thin and dashed, for comparison
                d = s.starpool_mean_drift
                xd, yd = drift_line(d.reference_epoch, d.a0, d.rate_per_year, s.epochs)
                ax.plot(xd, yd, "--", color="0.45", linewidth=0.8,
                        label="starpool means " + pm(d.rate_per_year, d.rate_sigma, "%/yr", scale=100.0, sign=True))
            if s.drift is not None:  # the primary drift (the summary's)
                xd, yd = drift_line(s.drift.reference_epoch, s.drift.a0, s.drift.rate_per_year, s.epochs)
                which = "per-star offsets" if s.drift.model == "star-offsets" else "drift"
                label = f"{which} " + pm(s.drift.rate_per_year, s.drift.rate_sigma, "%/yr", scale=100.0, sign=True)
                ax.plot(xd, yd, "-", color="C3", label=label)
            ax.set_title(f"{satellite} {s.band} ({s.method})", y=1.0)
            ax.set_ylabel(f"A [{A_UNIT}]")
            ax.legend(loc="lower left")
            shade_period(ax, period)
            date_axis(ax, times, label=i >= len(usable) - 2)
        return fig

    return render(build)


def _outlier_label(ax: Axes, x: float, y: float, text: str) -> None:
    """Name an outlier next to its marker, on the side that stays inside the axes."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    right = (x - x0) > 0.6 * (x1 - x0)
    top = (y - y0) > 0.5 * (y1 - y0)
    ax.annotate(text, (x, y), xytext=(-3 if right else 3, -2 if top else 2), textcoords="offset points",
                ha="right" if right else "left", va="top" if top else "bottom", fontsize=5.0, color="C3",
                annotation_clip=True)


MAX_OUTLIER_LABELS = 4  # names per star-trace panel; every outlier of the period is in the table below it
_LABEL_BOX_PX = (26.0, 8.0)  # a name's footprint at 5 pt and DPI 100 (width, height), pixels


def _label_outliers(ax: Axes, points: Sequence[tuple[float, float, float, str]]) -> None:
    """Name the largest departures ``(x, y, |departure|, name)`` of a panel, at most
    :data:`MAX_OUTLIER_LABELS`, skipping a name whose marker is within a label's footprint of one
    already named (crowded crosses made unreadable overlapping names)."""
    placed: list[tuple[float, float]] = []
    for x, y, _, name in sorted(points, key=lambda p: -p[2]):
        if len(placed) >= MAX_OUTLIER_LABELS:
            break
        px, py = ax.transData.transform((x, y))
        if any(abs(px - qx) < _LABEL_BOX_PX[0] and abs(py - qy) < _LABEL_BOX_PX[1] for qx, qy in placed):
            continue
        placed.append((px, py))
        _outlier_label(ax, x, y, name)


def plot_star_traces(traces: StarTraceSet, satellite: str = "", *,
                     period: tuple[datetime, datetime] | None = None) -> str | None:
    """Small multiples, one panel per extraction window: the median over the stars of measured /
    predicted per time bin (starpool) with its robust spread (shaded, 1.4826 MAD), and the outlier
    stars as crosses, named when they fall in the report period."""
    windows = [w for w in traces.windows if len(w.epochs)]
    if not windows:
        return None

    def build() -> Figure:
        fig, axes = grid(len(windows), 3, height_per_row=1.45, sharey=True)
        times = all_times(*(w.epochs for w in windows), *([o.time for o in w.outliers] for w in windows))
        for i, (ax, w) in enumerate(zip(axes, windows, strict=True)):
            x = dates(w.epochs)
            med = np.asarray(w.median, dtype=float)
            spread = np.asarray(w.spread, dtype=float)
            ax.fill_between(x, med - spread, med + spread, color="C0", alpha=0.25, linewidth=0)
            ax.plot(x, med, "-o", color="C0", markersize=2.5, label="median")
            if w.outliers:
                ax.plot(dates([o.time for o in w.outliers]), [o.ratio for o in w.outliers], "x", color="C3",
                        markersize=3.5, label="outlier")
            side = 2 * w.half_width_px + 1
            ax.set_title(f"{traces.band}, window {side}×{side} px", y=1.0)
            if i % 3 == 0:
                ax.set_ylabel("measured / predicted [1]")
            shade_period(ax, period)
            date_axis(ax, times, label=i >= len(windows) - 3, max_ticks=4)
        axes[0].autoscale_view()
        for ax, w in zip(axes, windows, strict=True):
            _label_outliers(ax, [(float(dates([o.time])[0]), o.ratio, abs(o.departure_sigma),
                                  o.star.replace("HIP ", "")) for o in w.outliers if o.in_period])
        return fig

    return render(build)


def plot_star_trace_appendix(traces: StarTraceSet, stars: Sequence[str], satellite: str = "") -> str | None:
    """Each named star's own trace (one panel per star, one line per window) against the median of
    its window, for the per-star appendix."""
    wanted = [s for s in stars if any(tr.star == s and len(tr.times) for w in traces.windows for tr in w.traces)]
    if not wanted:
        return None

    def build() -> Figure:
        # one more panel: the legend of the windows gets a panel of its own (inside the first star's
        # panel it hid that star's points)
        fig, all_axes = grid(len(wanted) + 1, 3, height_per_row=1.45, sharex=True, right_in=0.08)
        axes, legend_ax = all_axes[:-1], all_axes[-1]
        times = all_times(*(tr.times for w in traces.windows for tr in w.traces if tr.star in wanted))
        for i, (ax, star) in enumerate(zip(axes, wanted, strict=True)):
            for k, w in enumerate(traces.windows):
                tr = next((t for t in w.traces if t.star == star), None)
                if tr is None or not len(tr.times):
                    continue
                side = 2 * w.half_width_px + 1
                ax.plot(dates(tr.times), np.asarray(tr.ratio, dtype=float), "-o", color=f"C{k % 10}",
                        markersize=2, linewidth=0.7, label=f"{side}×{side}")
            ax.set_title(f"{satellite} {traces.band} {star}", y=1.0)
            if i % 3 == 0:
                ax.set_ylabel("measured / predicted [1]")
            date_axis(ax, times, label=i >= len(wanted) + 1 - 3, max_ticks=3)
        handles: dict[str, Any] = {}
        for ax in axes:
            for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
                handles.setdefault(lab, h)
        legend_ax.set_axis_off()
        legend_ax.legend(list(handles.values()), list(handles), loc="center", title="window [px]",
                         title_fontsize=6.0, fontsize=6.0)
        return fig

    return render(build)


def plot_variable_stars(stars: Sequence[VariableStarTrace], satellite: str = "", *,
                        period: tuple[datetime, datetime] | None = None) -> str | None:
    """One panel per star flagged variable and band (at most :data:`MAX_APPENDIX_STARS`): the
    star's coefficient over its starpool's A_k (normalised count, 1 = as the other stars) with 1
    sigma error bars, the first flagging epoch marked, and the test statistic in the title."""
    usable = [v for v in stars if len(v.times)][:MAX_APPENDIX_STARS]
    if not usable:
        return None

    def build() -> Figure:
        fig, axes = grid(len(usable), 3, height_per_row=1.45, right_in=0.08)
        times = all_times(*(v.times for v in usable))
        for i, (ax, v) in enumerate(zip(axes, usable, strict=True)):
            ax.errorbar(dates(v.times), v.ratio, yerr=v.ratio_sigma, fmt="-o", color="C3", markersize=2.5,
                        capsize=1.2, elinewidth=0.6, linewidth=0.7)
            ax.axhline(1.0, color="0.5", linewidth=0.6)
            if v.first_flagged is not None:
                ax.axvline(float(dates([v.first_flagged])[0]), color="C1", linestyle=":", linewidth=0.9)
            stat = ("" if v.chi2 is None else
                    f"χ² {v.chi2:.1f}/{max(v.n_points - 1, 1)}" + ("" if v.p_value is None else f", p {v.p_value:.1g}"))
            ax.set_title(f"{v.band} {v.star}" + (f": {stat}" if stat else ""), y=1.0)
            if i % 3 == 0:
                ax.set_ylabel("a_i / A_k [1]")
            shade_period(ax, period)
            date_axis(ax, times, label=i >= len(usable) - 3, max_ticks=3)
        return fig

    return render(build)
