"""Report figures: matplotlib object API (``Figure`` + Agg canvas, never pyplot) -> PNG data URIs.

Same data gives the same bytes: fixed size and dpi, no PNG ``Software`` text, the report's shipped
font (``templates/fonts/DejaVuSans*.ttf``), no clock. Every axis carries its unit.

Matplotlib keeps style parameters (rcParams) and its font list process-wide. This module applies
its style with ``rc_context`` under a module lock, so figures made from several threads (APScheduler
workers) do not interfere; the shipped fonts are registered once, at the front of matplotlib's font
list, so "DejaVu Sans" resolves to the shipped files rather than matplotlib's own copy.
"""

from __future__ import annotations

import base64
import io
import math
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import matplotlib
import numpy as np
import PIL.Image
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedFormatter, FixedLocator, MaxNLocator, NullLocator

from monitor.paths import templates_dir
from monitor.reports.context import (
    CalibrationSeries,
    GeometryRow,
    MoonResult,
    MtfCurve,
    MtfNyquistSeries,
    ReportContext,
    SatelliteSection,
    StarTraceSet,
    VariableStarTrace,
)
from monitor.reports.filters import pm
from monitor.science.constants import SECONDS_PER_DAY, SECONDS_PER_YEAR

__all__ = [
    "DPI",
    "FONT_FAMILY",
    "SatelliteFigures",
    "ReportFigures",
    "make_figures",
    "make_satellite_figures",
    "plot_calibration",
    "plot_star_traces",
    "plot_star_trace_appendix",
    "plot_variable_stars",
    "MAX_APPENDIX_STARS",
    "plot_mtf_curves",
    "plot_mtf_band",
    "plot_mtf_nyquist",
    "plot_moon_series",
    "plot_moon_phase",
    "plot_geometry",
    "figure_to_data_uri",
    "capture_figures",
    "shipped_font_files",
]

DPI = 100  # dots per inch of every PNG
MAX_APPENDIX_STARS = 12  # stars drawn per band in the per-star appendix (all are in `monitor traces`)
WIDTH_IN = 6.6  # figure width, inches (A4 text width at 20 mm margins is 6.7 in)
PANEL_H_IN = 1.75  # height of one row of panels, inches
FONT_FAMILY = "DejaVu Sans"

A_UNIT = "DN/(W m⁻² sr⁻¹ µm⁻¹)"
TIME_LABEL = "epoch [UTC]"

_RC: dict[str, Any] = {
    "font.family": "sans-serif",
    "font.sans-serif": [FONT_FAMILY],
    "font.size": 7.0,
    "axes.titlesize": 7.5,
    "axes.labelsize": 7.0,
    "xtick.labelsize": 6.5,
    "ytick.labelsize": 6.5,
    "legend.fontsize": 6.0,
    "lines.linewidth": 0.9,
    "lines.markersize": 3.0,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.linewidth": 0.3,
    "grid.alpha": 0.6,
    "svg.hashsalt": "monitor",
    "path.simplify": True,
}

_LOCK = threading.Lock()
_FONTS_READY = False


def shipped_font_files() -> list[Path]:
    """The TTF files shipped with the templates (``templates/fonts``)."""
    return sorted((templates_dir() / "fonts").glob("*.ttf"))


def _register_fonts() -> None:
    """Put the shipped fonts first in matplotlib's font list (once per process).

    ``FontManager.findfont`` keeps the first of equally good matches, so inserting the shipped
    files at the front makes "DejaVu Sans" resolve to them. Called with ``_LOCK`` held.
    """
    global _FONTS_READY
    if _FONTS_READY:
        return
    fm = font_manager.fontManager
    before = len(fm.ttflist)
    for path in shipped_font_files():
        fm.addfont(path)
    added = fm.ttflist[before:]
    del fm.ttflist[before:]
    fm.ttflist[:0] = added
    fm._findfont_cached.cache_clear()  # type: ignore[attr-defined]  # the order changed after addfont() cleared it
    _FONTS_READY = True


# --------------------------------------------------------------------------- containers


@dataclass(frozen=True)
class SatelliteFigures:
    """PNG data URIs of one satellite's figures; ``None`` when there is nothing to plot."""

    calibration: str | None = None
    star_traces: Mapping[str, str] = field(default_factory=dict)  # band -> URI
    mtf_curves: str | None = None  # every band on one figure (``monitor plot mtf``)
    mtf_curve_bands: Mapping[str, str] = field(default_factory=dict)  # band -> URI: along | across (the report)
    mtf_nyquist: str | None = None
    moon_series: str | None = None
    moon_phase: str | None = None
    geometry: str | None = None
    star_appendix: Mapping[str, str] = field(default_factory=dict)  # band -> URI: each outlier star's trace
    variable_stars: str | None = None  # the traces of the stars flagged variable (issue 14)


@dataclass(frozen=True)
class ReportFigures:
    """All figures of one report, keyed by satellite name."""

    satellites: Mapping[str, SatelliteFigures] = field(default_factory=dict)

    def of(self, satellite: str) -> SatelliteFigures:
        """Figures of ``satellite`` (empty figures when it has none)."""
        return self.satellites.get(satellite, SatelliteFigures())


# --------------------------------------------------------------------------- helpers


def figure_to_data_uri(fig: Figure) -> str:
    """Render ``fig`` with Agg to a deterministic RGB PNG ``data:`` URI.

    The opaque figure is saved without alpha channel and without any PNG text chunk: WeasyPrint
    re-encodes every PNG for the PDF and would otherwise split out (and compress) an alpha mask.
    """
    canvas = FigureCanvasAgg(fig)
    canvas.draw()  # type: ignore[no-untyped-call]
    width, height = canvas.get_width_height(physical=True)
    pixels = canvas.buffer_rgba()  # type: ignore[no-untyped-call]
    rgba = PIL.Image.frombuffer("RGBA", (width, height), pixels, "raw", "RGBA", 0, 1)
    buf = io.BytesIO()
    rgba.convert("RGB").save(buf, format="PNG", compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


# Set by save_figure: the file the next figure goes to, instead of a data URI (``monitor plot``).
_FILE_SINK: ContextVar[Path | None] = ContextVar("_FILE_SINK", default=None)


def save_figure(draw: Callable[[], str | None], path: Path) -> bool:
    """Call a ``plot_*`` function with its figure written to ``path`` (PNG or SVG, by the suffix)
    instead of returned as a data URI: the report's very figure. False when it had nothing to draw."""
    token = _FILE_SINK.set(path)
    try:
        return draw() is not None
    finally:
        _FILE_SINK.reset(token)
_CAPTURED: list[Figure] | None = None  # see capture_figures()


@contextmanager
def capture_figures() -> Iterator[list[Figure]]:
    """Keep every figure drawn inside the block (drawn, in order) for inspection (layout tests)."""
    global _CAPTURED
    with _LOCK:
        _CAPTURED = []
    try:
        yield _CAPTURED
    finally:
        with _LOCK:
            _CAPTURED = None


def _render(build: Callable[[], Figure | None]) -> str | None:
    """Build a figure under the report style and return its data URI (or None); with
    :func:`save_figure`, write it to that file and return its path."""
    with _LOCK:
        _register_fonts()
        with matplotlib.rc_context(cast(Any, _RC)):
            fig = build()
            if fig is None:
                return None
            sink = _FILE_SINK.get()
            if sink is not None:
                fmt = sink.suffix.lower().lstrip(".")
                fig.savefig(sink, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
                return str(sink)
            uri = figure_to_data_uri(fig)
            if _CAPTURED is not None:
                _CAPTURED.append(fig)
            return uri


def _grid(
    n: int,
    ncols: int,
    *,
    height_per_row: float = PANEL_H_IN,
    sharex: bool = True,
    sharey: bool = False,
    left_in: float = 0.62,
    right_in: float = 0.08,
    bottom_in: float = 0.42,
) -> tuple[Figure, list[Axes]]:
    """Figure with ``n`` panels on ``ncols`` columns; unused panels are hidden.

    Margins are fixed in inches (no constrained layout: it costs an extra layout pass per figure).
    Titles are set with an explicit ``y=1.0`` everywhere: automatic title placement measures every
    tick label and was a third of the drawing time.
    """
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    top_in = 0.25
    hspace_in = 0.5 if sharex else 0.78  # unshared x: every row carries its own x label
    wspace_in = 0.2 if sharey else 0.62  # shared y: inner tick labels are hidden
    height = top_in + bottom_in + height_per_row * nrows
    fig = Figure(figsize=(WIDTH_IN, height), dpi=DPI)
    panel_w = (WIDTH_IN - left_in - right_in - wspace_in * (ncols - 1)) / ncols
    panel_h = height_per_row - hspace_in * (nrows - 1) / nrows
    axes = fig.subplots(
        nrows,
        ncols,
        squeeze=False,
        sharex=sharex,
        sharey=sharey,
        gridspec_kw={
            "left": left_in / WIDTH_IN,
            "right": 1 - right_in / WIDTH_IN,
            "bottom": bottom_in / height,
            "top": 1 - top_in / height,
            "wspace": wspace_in / panel_w,
            "hspace": hspace_in / panel_h,
        },
    )
    flat = [ax for row in axes for ax in row]
    for ax in flat[n:]:
        ax.set_visible(False)
    for ax in flat[:n]:
        # few ticks: Tick objects (two lines, a grid line and two texts each) dominate draw time
        ax.yaxis.set_major_locator(MaxNLocator(nbins=4))
    if sharex:
        # a hidden bottom panel must not hide the tick labels of the panel above it
        for i, ax in enumerate(flat[:n]):
            if i + ncols >= n:
                ax.xaxis.set_tick_params(labelbottom=True)
    return fig, flat[:n]


def _single(height_in: float, *, right_in: float = 0.08, bottom_in: float = 0.42) -> tuple[Figure, Axes]:
    """One panel; ``right_in`` leaves room for a legend outside the axes."""
    fig, axes = _grid(
        1, 1, height_per_row=height_in - 0.25 - bottom_in, sharex=False, right_in=right_in, bottom_in=bottom_in
    )
    return fig, axes[0]


_LEGEND_RIGHT_IN = 0.7  # right margin holding a legend of band names outside the axes


def _legend_outside(ax: Axes) -> None:
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


_MONTH_STEPS = (1, 2, 3, 4, 6, 12, 24, 60)
_DAY_STEPS = (1, 2, 5, 7, 14)


def _date_ticks(t0: datetime, t1: datetime, max_ticks: int = 5) -> tuple[list[float], list[str]]:
    """Tick positions (matplotlib date numbers) and labels between t0 and t1.

    Month starts ("2026-03") for spans over ~2 months, else days ("03-14"). Pure arithmetic, no
    dateutil rrule: AutoDateLocator dominated the plotting time.
    """
    t0, t1 = t0.astimezone(UTC), t1.astimezone(UTC)
    span_days = (t1 - t0).total_seconds() / SECONDS_PER_DAY
    ticks: list[datetime] = []
    if span_days > 62:
        months = (t1.year - t0.year) * 12 + t1.month - t0.month + 1
        step = next((m for m in _MONTH_STEPS if months / m <= max_ticks), _MONTH_STEPS[-1])
        idx = t0.year * 12 + t0.month - 1
        idx += (-idx) % step  # align to multiples of the step (January for 6 and 12)
        while True:
            t = datetime(idx // 12, idx % 12 + 1, 1, tzinfo=UTC)
            if t > t1:
                break
            if t >= t0:
                ticks.append(t)
            idx += step
        fmt = "%Y-%m"
    else:
        step = next((d for d in _DAY_STEPS if span_days / d <= max_ticks), 31)
        t = datetime(t0.year, t0.month, t0.day, tzinfo=UTC)
        while t <= t1:
            if t >= t0:
                ticks.append(t)
            t += timedelta(days=step)
        fmt = "%m-%d" if t0.year == t1.year else "%Y-%m-%d"
    if not ticks:
        ticks = [t0]
    return _dates(ticks).tolist(), [t.strftime(fmt) for t in ticks]


def _date_axis(ax: Axes, times: Sequence[datetime], label: bool = True, max_ticks: int = 5) -> None:
    """Fixed date ticks covering ``times`` (with 3 % padding), UTC."""
    t0, t1 = min(times), max(times)
    pad = max((t1 - t0) * 0.03, timedelta(days=1))
    t0, t1 = t0 - pad, t1 + pad
    ax.set_xlim(float(_dates([t0])[0]), float(_dates([t1])[0]))
    pos, lab = _date_ticks(t0, t1, max_ticks)
    ax.xaxis.set_major_locator(FixedLocator(pos))
    ax.xaxis.set_major_formatter(FixedFormatter(lab))
    ax.xaxis.set_minor_locator(NullLocator())
    if label:
        ax.set_xlabel(TIME_LABEL)


_MPL_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # matplotlib's default date epoch


def _dates(times: Sequence[datetime]) -> np.ndarray:
    """Aware datetimes -> matplotlib date numbers (days since 1970-01-01 UTC).

    Plain arithmetic: about 10x faster than ``mdates.date2num`` on lists of datetimes.
    """
    return np.array([(t - _MPL_EPOCH).total_seconds() for t in times], dtype=float) / SECONDS_PER_DAY


def _all_times(*groups: Sequence[datetime]) -> list[datetime]:
    return [t for g in groups for t in g]


def _drift_line(
    fit_epoch: datetime, a0: float, rate: float, epochs: Sequence[datetime]
) -> tuple[np.ndarray, np.ndarray]:
    """A(t) of the linear drift model at the first and last epoch."""
    t = [min(epochs), max(epochs)]
    dt_years = np.array([(e - fit_epoch).total_seconds() / SECONDS_PER_YEAR for e in t])
    return _dates(t), a0 * (1.0 + rate * dt_years)


def _shade_period(ax: Axes, period: tuple[datetime, datetime] | None) -> None:
    """Shade the report period on a time axis (what the tables of the report cover)."""
    if period is None:
        return
    x0, x1 = _dates(list(period))
    ax.axvspan(float(x0), float(x1), color="#f3e6a8", alpha=0.45, linewidth=0, zorder=0)


# --------------------------------------------------------------------------- figures


def plot_calibration(series: Sequence[CalibrationSeries], satellite: str = "", *,
                     period: tuple[datetime, datetime] | None = None) -> str | None:
    """A_k vs time, one panel per band and method, error bars (1 sigma) and the drift fit line."""
    usable = [s for s in series if len(s.epochs)]
    if not usable:
        return None

    def build() -> Figure:
        fig, axes = _grid(len(usable), 2)
        times = _all_times(*(s.epochs for s in usable))
        for i, (ax, s) in enumerate(zip(axes, usable, strict=True)):
            x = _dates(s.epochs)
            ax.errorbar(x, s.a, yerr=s.a_sigma, fmt="o", capsize=1.5, elinewidth=0.6, label=s.method)
            if s.starpool_mean_drift is not None:  # not primary: drawn thin and dashed, for comparison
                d = s.starpool_mean_drift
                xd, yd = _drift_line(d.reference_epoch, d.a0, d.rate_per_year, s.epochs)
                ax.plot(xd, yd, "--", color="0.45", linewidth=0.8,
                        label="starpool means " + pm(d.rate_per_year, d.rate_sigma, "%/yr", scale=100.0, sign=True))
            if s.drift is not None:  # the primary drift (the summary's)
                xd, yd = _drift_line(s.drift.reference_epoch, s.drift.a0, s.drift.rate_per_year, s.epochs)
                which = "per-star offsets" if s.drift.model == "star-offsets" else "drift"
                label = f"{which} " + pm(s.drift.rate_per_year, s.drift.rate_sigma, "%/yr", scale=100.0, sign=True)
                ax.plot(xd, yd, "-", color="C3", label=label)
            ax.set_title(f"{satellite} {s.band} ({s.method})", y=1.0)
            ax.set_ylabel(f"A [{A_UNIT}]")
            ax.legend(loc="lower left")
            _shade_period(ax, period)
            _date_axis(ax, times, label=i >= len(usable) - 2)
        return fig

    return _render(build)


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
        fig, axes = _grid(len(windows), 3, height_per_row=1.45, sharey=True)
        times = _all_times(*(w.epochs for w in windows), *([o.time for o in w.outliers] for w in windows))
        for i, (ax, w) in enumerate(zip(axes, windows, strict=True)):
            x = _dates(w.epochs)
            med = np.asarray(w.median, dtype=float)
            spread = np.asarray(w.spread, dtype=float)
            ax.fill_between(x, med - spread, med + spread, color="C0", alpha=0.25, linewidth=0)
            ax.plot(x, med, "-o", color="C0", markersize=2.5, label="median")
            if w.outliers:
                ax.plot(_dates([o.time for o in w.outliers]), [o.ratio for o in w.outliers], "x", color="C3",
                        markersize=3.5, label="outlier")
            side = 2 * w.half_width_px + 1
            ax.set_title(f"{traces.band}, window {side}×{side} px", y=1.0)
            if i % 3 == 0:
                ax.set_ylabel("measured / predicted [1]")
            _shade_period(ax, period)
            _date_axis(ax, times, label=i >= len(windows) - 3, max_ticks=4)
        axes[0].autoscale_view()
        for ax, w in zip(axes, windows, strict=True):
            _label_outliers(ax, [(float(_dates([o.time])[0]), o.ratio, abs(o.departure_sigma),
                                  o.star.replace("HIP ", "")) for o in w.outliers if o.in_period])
        return fig

    return _render(build)


def plot_star_trace_appendix(traces: StarTraceSet, stars: Sequence[str], satellite: str = "") -> str | None:
    """Each named star's own trace (one panel per star, one line per window) against the median of
    its window, for the per-star appendix."""
    wanted = [s for s in stars if any(tr.star == s and len(tr.times) for w in traces.windows for tr in w.traces)]
    if not wanted:
        return None

    def build() -> Figure:
        # one more panel: the legend of the windows gets a panel of its own (inside the first star's
        # panel it hid that star's points)
        fig, all_axes = _grid(len(wanted) + 1, 3, height_per_row=1.45, sharex=True, right_in=0.08)
        axes, legend_ax = all_axes[:-1], all_axes[-1]
        times = _all_times(*(tr.times for w in traces.windows for tr in w.traces if tr.star in wanted))
        for i, (ax, star) in enumerate(zip(axes, wanted, strict=True)):
            for k, w in enumerate(traces.windows):
                tr = next((t for t in w.traces if t.star == star), None)
                if tr is None or not len(tr.times):
                    continue
                side = 2 * w.half_width_px + 1
                ax.plot(_dates(tr.times), np.asarray(tr.ratio, dtype=float), "-o", color=f"C{k % 10}",
                        markersize=2, linewidth=0.7, label=f"{side}×{side}")
            ax.set_title(f"{satellite} {traces.band} {star}", y=1.0)
            if i % 3 == 0:
                ax.set_ylabel("measured / predicted [1]")
            _date_axis(ax, times, label=i >= len(wanted) + 1 - 3, max_ticks=3)
        handles: dict[str, Any] = {}
        for ax in axes:
            for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
                handles.setdefault(lab, h)
        legend_ax.set_axis_off()
        legend_ax.legend(list(handles.values()), list(handles), loc="center", title="window [px]",
                         title_fontsize=6.0, fontsize=6.0)
        return fig

    return _render(build)


def plot_variable_stars(stars: Sequence[VariableStarTrace], satellite: str = "", *,
                        period: tuple[datetime, datetime] | None = None) -> str | None:
    """One panel per star flagged variable and band (at most :data:`MAX_APPENDIX_STARS`): the
    star's coefficient over its starpool's A_k (normalised count, 1 = as the other stars) with 1
    sigma error bars, the first flagging epoch marked, and the test statistic in the title."""
    usable = [v for v in stars if len(v.times)][:MAX_APPENDIX_STARS]
    if not usable:
        return None

    def build() -> Figure:
        fig, axes = _grid(len(usable), 3, height_per_row=1.45, right_in=0.08)
        times = _all_times(*(v.times for v in usable))
        for i, (ax, v) in enumerate(zip(axes, usable, strict=True)):
            ax.errorbar(_dates(v.times), v.ratio, yerr=v.ratio_sigma, fmt="-o", color="C3", markersize=2.5,
                        capsize=1.2, elinewidth=0.6, linewidth=0.7)
            ax.axhline(1.0, color="0.5", linewidth=0.6)
            if v.first_flagged is not None:
                ax.axvline(float(_dates([v.first_flagged])[0]), color="C1", linestyle=":", linewidth=0.9)
            stat = ("" if v.chi2 is None else
                    f"χ² {v.chi2:.1f}/{max(v.n_points - 1, 1)}" + ("" if v.p_value is None else f", p {v.p_value:.1g}"))
            ax.set_title(f"{v.band} {v.star}" + (f": {stat}" if stat else ""), y=1.0)
            if i % 3 == 0:
                ax.set_ylabel("a_i / A_k [1]")
            _shade_period(ax, period)
            _date_axis(ax, times, label=i >= len(usable) - 3, max_ticks=3)
        return fig

    return _render(build)


def plot_mtf_curves(curves: Sequence[MtfCurve], satellite: str = "") -> str | None:
    """MTF along and across track vs spatial frequency, one panel per band, ±1 sigma bands;
    dashed: the non-parametric stacked-ePSF cross-check of the same starpool."""
    usable = [c for c in curves if len(c.frequency)]
    if not usable:
        return None

    def build() -> Figure:
        fig, axes = _grid(len(usable), 3, height_per_row=1.6, sharex=False)
        for ax, c in zip(axes, usable, strict=True):
            f = np.asarray(c.frequency, dtype=float)
            for name, val, sig, col in (
                ("along", c.along, c.along_sigma, "C0"),
                ("across", c.across, c.across_sigma, "C1"),
            ):
                if not len(val):
                    continue
                v = np.asarray(val, dtype=float)
                ax.plot(f, v, "-", color=col, label=name)
                if len(sig) == len(v):
                    s = np.asarray(sig, dtype=float)
                    ax.fill_between(f, v - s, v + s, color=col, alpha=0.25, linewidth=0)
                epsf = c.epsf_along if name == "along" else c.epsf_across
                if len(epsf) == len(f):
                    ax.plot(f, np.asarray(epsf, dtype=float), "--", color=col, linewidth=0.8,
                            label=f"{name} (ePSF)")
            ax.axvline(0.5, color="0.4", linestyle=":", linewidth=0.7)
            ax.set_xlim(0.0, max(0.5, float(f.max())))
            ax.set_ylim(0.0, 1.05)
            ax.set_title(f"{satellite} {c.band}", y=1.0)
            ax.set_xlabel("frequency [cycles / pixel]")
            ax.set_ylabel("MTF [1]")
            ax.legend(loc="lower left")
        return fig

    return _render(build)


def plot_mtf_band(c: MtfCurve, satellite: str = "") -> str | None:
    """The latest MTF curve of one band: two panels, along and across track, each with the
    parametric PSF-fit curve and its ±1 sigma band (solid, shaded) and the stacked-ePSF curve with
    its ±1 sigma (dashed, lighter); dotted: Nyquist (0.5 cycles/pixel). None without a curve."""
    f = np.asarray(c.frequency, dtype=float)
    if not f.size or not (len(c.along) or len(c.across)):
        return None

    def build() -> Figure:
        # right margin: room for the last frequency tick label ("1.0" was cut at the page edge)
        fig, axes = _grid(2, 2, height_per_row=1.7, sharex=False, right_in=0.18)
        for ax, name, val, sig, epsf, epsf_sig, col in (
            (axes[0], "along", c.along, c.along_sigma, c.epsf_along, c.epsf_along_sigma, "C0"),
            (axes[1], "across", c.across, c.across_sigma, c.epsf_across, c.epsf_across_sigma, "C1"),
        ):
            if len(val) == f.size:
                v = np.asarray(val, dtype=float)
                ax.plot(f, v, "-", color=col, linewidth=1.0, label="PSF fit ±1σ")
                if len(sig) == f.size:
                    s = np.asarray(sig, dtype=float)
                    ax.fill_between(f, v - s, v + s, color=col, alpha=0.3, linewidth=0)
            if len(epsf) == f.size:
                e = np.asarray(epsf, dtype=float)
                ax.plot(f, e, "--", color="0.25", linewidth=0.8, label="ePSF ±1σ")
                if len(epsf_sig) == f.size:
                    es = np.asarray(epsf_sig, dtype=float)
                    ax.fill_between(f, e - es, e + es, color="0.5", alpha=0.2, linewidth=0)
            ax.axvline(0.5, color="0.4", linestyle=":", linewidth=0.7)
            ax.set_xlim(0.0, max(0.5, float(f.max())))
            ax.set_ylim(0.0, 1.05)
            ax.set_title(f"{satellite} {c.band} {name} track" + (f" ({c.starpool})" if c.starpool else ""), y=1.0)
            ax.set_xlabel("frequency [cycles / pixel]")
            ax.set_ylabel("MTF [1]")
            ax.legend(loc="upper right")
        return fig

    return _render(build)


def plot_mtf_nyquist(series: Sequence[MtfNyquistSeries], satellite: str = "", *,
                     period: tuple[datetime, datetime] | None = None) -> str | None:
    """MTF at Nyquist vs time: two panels (along, across), one line per band, ±1 sigma error bars."""
    usable = [s for s in series if len(s.epochs)]
    if not usable:
        return None

    def build() -> Figure:
        fig, axes = _grid(2, 2, height_per_row=2.0, right_in=_LEGEND_RIGHT_IN)
        times = _all_times(*(s.epochs for s in usable))
        for ax, direction in zip(axes, ("along", "across"), strict=True):
            for s in usable:
                val = getattr(s, direction)
                sig = getattr(s, f"{direction}_sigma")
                if not len(val):
                    continue
                ax.errorbar(
                    _dates(s.epochs),
                    val,
                    yerr=sig if len(sig) == len(val) else None,
                    fmt="-o",
                    markersize=2,
                    capsize=1,
                    elinewidth=0.5,
                    label=s.band,
                )
            ax.set_title(f"{satellite} MTF at Nyquist, {direction} track", y=1.0)
            ax.set_ylabel("MTF(0.5 cycles/pixel) [1]")
            _shade_period(ax, period)
            _date_axis(ax, times)
        _legend_outside(axes[-1])
        return fig

    return _render(build)


def _by_band(results: Sequence[MoonResult]) -> dict[str, list[MoonResult]]:
    out: dict[str, list[MoonResult]] = {}
    for r in results:
        out.setdefault(r.band, []).append(r)
    return out


def plot_moon_series(results: Sequence[MoonResult], satellite: str = "", band_order: Sequence[str] = (), *,
                     period: tuple[datetime, datetime] | None = None) -> str | None:
    """Moon A_k vs time, all bands in one panel as % departure from each band's median A.

    One panel instead of one per band keeps the figure cheap and makes a common drift visible;
    absolute values are in the calibration figure and tables. Flagged results: crosses.
    """
    if not results:
        return None
    groups = _by_band(results)
    bands = [b for b in band_order if b in groups] + sorted(b for b in groups if b not in band_order)

    def build() -> Figure:
        fig, ax = _single(2.8, right_in=_LEGEND_RIGHT_IN)
        for i, band in enumerate(bands):
            rs = sorted(groups[band], key=lambda r: r.epoch)
            ref = float(np.median([r.a for r in rs if not r.flagged] or [r.a for r in rs]))
            ok = [r for r in rs if not r.flagged]
            bad = [r for r in rs if r.flagged]
            col = f"C{i % 10}"
            if ok:
                ax.errorbar(
                    _dates([r.epoch for r in ok]),
                    [100 * (r.a / ref - 1) for r in ok],
                    yerr=[100 * r.a_sigma / ref for r in ok],
                    fmt="-o",
                    markersize=2,
                    capsize=1,
                    elinewidth=0.5,
                    linewidth=0.6,
                    color=col,
                    label=band,
                )
            if bad:  # a band with only flagged results is named by its crosses (an empty legend raised)
                ax.plot(_dates([r.epoch for r in bad]), [100 * (r.a / ref - 1) for r in bad], "x", color=col,
                        label=None if ok else band)
        ax.set_title(f"{satellite}: Moon A_k relative to band median (× = flagged)", y=1.0)
        ax.set_ylabel("A / median(A) − 1 [%]")
        _legend_outside(ax)
        _shade_period(ax, period)
        _date_axis(ax, [r.epoch for r in results])
        return fig

    return _render(build)


def _residual(r: MoonResult) -> float:
    return float("nan") if r.residual_pct is None else r.residual_pct


def plot_moon_phase(results: Sequence[MoonResult], satellite: str = "", band_order: Sequence[str] = ()) -> str | None:
    """Moon A_k residual (%) vs signed phase angle, one colour per band."""
    usable = [r for r in results if r.residual_pct is not None]
    if not usable:
        return None
    groups = _by_band(usable)
    bands = [b for b in band_order if b in groups] + sorted(b for b in groups if b not in band_order)

    def build() -> Figure:
        fig, ax = _single(2.6, right_in=_LEGEND_RIGHT_IN)
        for i, band in enumerate(bands):
            rs = groups[band]
            ok = [r for r in rs if not r.flagged]
            bad = [r for r in rs if r.flagged]
            ax.plot([r.phase_deg for r in ok], [_residual(r) for r in ok], "o", color=f"C{i % 10}", label=band)
            if bad:
                ax.plot([r.phase_deg for r in bad], [_residual(r) for r in bad], "x", color=f"C{i % 10}")
        ax.axhline(0.0, color="0.3", linewidth=0.6)
        ax.set_title(f"{satellite}: Moon residual vs phase angle (× = flagged)", y=1.0)
        ax.set_xlabel("signed phase angle [deg]")
        ax.set_ylabel("residual [%]")
        # residuals of a few 1e-3 % had five-character tick labels over the axis label: a power of ten instead
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3), useMathText=True)
        _legend_outside(ax)
        return fig

    return _render(build)


def plot_geometry(rows: Sequence[GeometryRow], satellite: str = "") -> str | None:
    """Check-point RMSE (east, north, up) per geometry acquisition as grouped bars."""
    usable = [r for r in rows if r.rmse_e_m is not None or r.rmse_n_m is not None or r.rmse_u_m is not None]
    if not usable:
        return None

    def build() -> Figure:
        fig, ax = _single(3.0, right_in=_LEGEND_RIGHT_IN, bottom_in=0.75)  # two-line labels below the axis
        x = np.arange(len(usable), dtype=float)
        width = 0.27
        for k, (name, attr) in enumerate((("east", "rmse_e_m"), ("north", "rmse_n_m"), ("up", "rmse_u_m"))):
            vals = [getattr(r, attr) if getattr(r, attr) is not None else np.nan for r in usable]
            ax.bar(x + (k - 1) * width, vals, width, label=name)
        # date and sequence number of the ACQ_ID: full ids (31 characters) rotated ran off the figure
        labels = [(f"{r.epoch:%m-%d}" if r.epoch is not None else "") + f"\n#{r.acq_id.rsplit('-', 1)[-1]}"
                  for r in usable]
        ax.set_xticks(x, labels, fontsize=5.5 if len(usable) > 8 else 6.5)
        ax.set_title(f"{satellite}: check-point RMSE per acquisition", y=1.0)
        ax.set_xlabel("acquisition (UTC date, sequence number)")
        ax.set_ylabel("RMSE [m]")
        _legend_outside(ax)
        return fig

    return _render(build)


# --------------------------------------------------------------------------- whole report


def make_satellite_figures(section: SatelliteSection, period: tuple[datetime, datetime] | None = None
                           ) -> SatelliteFigures:
    """All figures of one satellite section; ``period`` (start, end) is shaded on the time axes."""
    name = section.satellite
    return SatelliteFigures(
        calibration=plot_calibration(section.calibration, name, period=period),
        star_traces={t.band: uri for t in section.star_traces
                     if (uri := plot_star_traces(t, name, period=period)) is not None},
        mtf_curve_bands={c.band: uri for c in section.mtf_curves if (uri := plot_mtf_band(c, name)) is not None},
        mtf_nyquist=plot_mtf_nyquist(section.mtf_nyquist, name, period=period),
        moon_series=plot_moon_series(section.moon, name, section.bands, period=period),
        moon_phase=plot_moon_phase(section.moon, name, section.bands),
        geometry=plot_geometry(section.geometry, name),
        star_appendix={t.band: uri for t in section.star_traces
                       if (uri := plot_star_trace_appendix(t, t.outlier_stars[:MAX_APPENDIX_STARS], name))
                       is not None},
        variable_stars=plot_variable_stars(section.variable_stars, name, period=period),
    )


def make_figures(ctx: ReportContext) -> ReportFigures:
    """All figures of a report."""
    period = (ctx.period_start, ctx.period_end)
    return ReportFigures(satellites={s.satellite: make_satellite_figures(s, period) for s in ctx.satellites})
