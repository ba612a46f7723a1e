"""The report's figure style and drawing kit: matplotlib object API (``Figure`` + Agg canvas, never
pyplot) -> PNG data URIs, and the panel grids and UTC date axes every figure family shares
(:mod:`monitor.reports.plots_star`, ``plots_mtf``, ``plots_moon``, ``plots_geometry``,
:mod:`monitor.reports.lunar`).

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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
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
from monitor.science.constants import SECONDS_PER_DAY, SECONDS_PER_YEAR

__all__ = [
    "DPI",
    "WIDTH_IN",
    "PANEL_H_IN",
    "FONT_FAMILY",
    "A_UNIT",
    "TIME_LABEL",
    "LEGEND_RIGHT_IN",
    "shipped_font_files",
    "figure_to_data_uri",
    "save_figure",
    "capture_figures",
    "render",
    "grid",
    "single",
    "legend_outside",
    "date_ticks",
    "date_axis",
    "dates",
    "all_times",
    "drift_line",
    "shade_period",
]

DPI = 100  # dots per inch of every PNG
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


def render(build: Callable[[], Figure | None]) -> str | None:
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


def grid(
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


def single(height_in: float, *, right_in: float = 0.08, bottom_in: float = 0.42) -> tuple[Figure, Axes]:
    """One panel; ``right_in`` leaves room for a legend outside the axes."""
    fig, axes = grid(
        1, 1, height_per_row=height_in - 0.25 - bottom_in, sharex=False, right_in=right_in, bottom_in=bottom_in
    )
    return fig, axes[0]


LEGEND_RIGHT_IN = 0.7  # right margin holding a legend of band names outside the axes


def legend_outside(ax: Axes) -> None:
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


_MONTH_STEPS = (1, 2, 3, 4, 6, 12, 24, 60)
_DAY_STEPS = (1, 2, 5, 7, 14)


def date_ticks(t0: datetime, t1: datetime, max_ticks: int = 5) -> tuple[list[float], list[str]]:
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
    return dates(ticks).tolist(), [t.strftime(fmt) for t in ticks]


def date_axis(ax: Axes, times: Sequence[datetime], label: bool = True, max_ticks: int = 5) -> None:
    """Fixed date ticks covering ``times`` (with 3 % padding), UTC."""
    t0, t1 = min(times), max(times)
    pad = max((t1 - t0) * 0.03, timedelta(days=1))
    t0, t1 = t0 - pad, t1 + pad
    ax.set_xlim(float(dates([t0])[0]), float(dates([t1])[0]))
    pos, lab = date_ticks(t0, t1, max_ticks)
    ax.xaxis.set_major_locator(FixedLocator(pos))
    ax.xaxis.set_major_formatter(FixedFormatter(lab))
    ax.xaxis.set_minor_locator(NullLocator())
    if label:
        ax.set_xlabel(TIME_LABEL)


_MPL_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # matplotlib's default date epoch


def dates(times: Sequence[datetime]) -> np.ndarray:
    """Aware datetimes -> matplotlib date numbers (days since 1970-01-01 UTC).

    Plain arithmetic: about 10x faster than ``mdates.date2num`` on lists of datetimes.
    """
    return np.array([(t - _MPL_EPOCH).total_seconds() for t in times], dtype=float) / SECONDS_PER_DAY


def all_times(*groups: Sequence[datetime]) -> list[datetime]:
    return [t for g in groups for t in g]


def drift_line(
    fit_epoch: datetime, a0: float, rate: float, epochs: Sequence[datetime]
) -> tuple[np.ndarray, np.ndarray]:
    """A(t) of the linear drift model at the first and last epoch."""
    t = [min(epochs), max(epochs)]
    dt_years = np.array([(e - fit_epoch).total_seconds() / SECONDS_PER_YEAR for e in t])
    return dates(t), a0 * (1.0 + rate * dt_years)


def shade_period(ax: Axes, period: tuple[datetime, datetime] | None) -> None:
    """Shade the report period on a time axis (what the tables of the report cover)."""
    if period is None:
        return
    x0, x1 = dates(list(period))
    ax.axvspan(float(x0), float(x1), color="#f3e6a8", alpha=0.45, linewidth=0, zorder=0)
