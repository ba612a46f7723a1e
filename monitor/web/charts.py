"""Interactive figures of the dashboard: Plotly figure documents (plain dicts, JSON-ready) made
from the report's view model (:mod:`monitor.reports.context`), so every plotted value is the one
the PDF report draws. The browser draws them with the Plotly.js bundled in the ``plotly`` Python
package (served by the dashboard itself: no network). Hover shows the value and its 1σ.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.reports.context import (
    CalibrationSeries,
    DriftFit,
    MoonResult,
    MtfCurve,
    MtfNyquistSeries,
    StarWindowTraces,
)
from monitor.science.constants import SECONDS_PER_YEAR

__all__ = ["LunarPoint", "a_vs_time", "mtf_nyquist", "mtf_curve", "star_traces", "moon_residuals", "lunar_ratio"]


@dataclass(frozen=True)
class LunarPoint:
    """One GLOD observation and channel: observed / REF-1 model irradiance and its 1σ."""

    observation: str
    channel: str
    time: datetime
    phase_deg: float | None
    ratio: float
    ratio_sigma: float | None
    in_trend: bool

Figure = dict[str, Any]
_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
_T = "%{x|%Y-%m-%d %H:%M} UTC"


def _num(values: Sequence[float | None]) -> list[float | None]:
    """Plain floats for JSON, a non-finite one (NaN, ±inf: no value) as None: the figure is
    embedded as JSON, which has no NaN (the browser's ``JSON.parse`` would refuse the whole figure
    and the page would draw none after it); Plotly leaves a gap at a None."""
    return [None if v is None or not math.isfinite(v) else float(v) for v in values]


def _iso(times: Sequence[datetime]) -> list[str]:
    return [t.isoformat() for t in times]


def _layout(title: str, ytitle: str, xtitle: str = "", **extra: Any) -> dict[str, Any]:
    return {"title": {"text": title, "font": {"size": 14}}, "xaxis": {"title": {"text": xtitle}},
            "yaxis": {"title": {"text": ytitle}, "exponentformat": "none"}, "margin": {"l": 70, "r": 20, "t": 40,
                                                                                     "b": 50},
            "height": 360, "hovermode": "closest",
            # below the x-axis title when there is one (else they overlap)
            "legend": {"orientation": "h", **({"y": -0.28} if xtitle else {})}, **extra}


def _drift_line(fit: DriftFit, epochs: Sequence[datetime], name: str, dash: str) -> dict[str, Any]:
    t0, t1 = min(epochs), max(epochs)

    def model(t: datetime) -> float:
        return fit.a0 * (1.0 + fit.rate_per_year * (t - fit.reference_epoch).total_seconds() / SECONDS_PER_YEAR)

    return {"type": "scatter", "mode": "lines", "x": _iso([t0, t1]), "y": _num([model(t0), model(t1)]),
            "name": f"{name} {100 * fit.rate_per_year:+.2f} ± {100 * fit.rate_sigma:.2f} %/yr",
            "line": {"dash": dash}, "hoverinfo": "skip"}


def a_vs_time(series: Sequence[CalibrationSeries], title: str) -> Figure:
    """A_k of each method (starpools, Moon) with 1σ error bars, its primary drift (solid, named: the
    star-offsets fit for the starpools when recorded, else the linear fit) and, when that is not the
    primary one, the linear fit of the starpool means (dashed, for comparison), as the PDF draws them."""
    data: list[dict[str, Any]] = []
    for s in series:
        if not s.epochs:
            continue
        data.append({"type": "scatter", "mode": "markers", "name": f"A_k {s.method}", "x": _iso(s.epochs),
                     "y": _num(s.a), "error_y": {"type": "data", "array": _num(s.a_sigma), "visible": True},
                     "hovertemplate": f"{s.method} {_T}<br>A = %{{y:.6g}} ± %{{error_y.array:.2g}}<extra></extra>"})
        if s.drift is not None:
            data.append(_drift_line(s.drift, s.epochs, f"{s.method} drift ({s.drift.label})", "solid"))
        if s.starpool_mean_drift is not None:
            data.append(_drift_line(s.starpool_mean_drift, s.epochs, f"{s.method} starpool means (linear fit)",
                                    "dash"))
    return {"data": data, "layout": _layout(title, "A_k [DN/(W m⁻² sr⁻¹ µm⁻¹)]")}


def mtf_nyquist(s: MtfNyquistSeries, title: str) -> Figure:
    """MTF at Nyquist along and across track vs time, ±1σ (hover: value ± σ)."""
    data = [
        {"type": "scatter", "mode": "lines+markers", "name": name, "x": _iso(s.epochs), "y": _num(values),
         "error_y": {"type": "data", "array": _num(sigma), "visible": True},
         "hovertemplate": f"{name} {_T}<br>MTF(Nyquist) = %{{y:.4f}} ± %{{error_y.array:.4f}}<extra></extra>"}
        for name, values, sigma in (("along", s.along, s.along_sigma), ("across", s.across, s.across_sigma))
        if values
    ]
    return {"data": data, "layout": _layout(title, "MTF at Nyquist")}


def mtf_curve(c: MtfCurve, title: str) -> Figure:
    """The latest MTF curve along and across track (continuous PSF with pixel aperture) and the
    stacked-ePSF cross-check (dotted), ±1σ where the catalogue has it (hover: value ± σ)."""
    f = _num(c.frequency)
    data: list[dict[str, Any]] = []
    for name, values, sigma, dash in (("along", c.along, c.along_sigma, "solid"),
                                      ("across", c.across, c.across_sigma, "solid"),
                                      ("ePSF along", c.epsf_along, c.epsf_along_sigma, "dot"),
                                      ("ePSF across", c.epsf_across, c.epsf_across_sigma, "dot")):
        if not values:
            continue
        with_sigma = len(sigma) == len(values)
        hover = f"{name} f = %{{x:.3f}} cy/px<br>MTF = %{{y:.4f}}" + (" ± %{error_y.array:.4f}" if with_sigma else "")
        trace: dict[str, Any] = {"type": "scatter", "mode": "lines", "name": name, "x": f, "y": _num(values),
                                 "line": {"dash": dash}, "hovertemplate": hover + "<extra></extra>"}
        if with_sigma:
            trace["error_y"] = {"type": "data", "array": _num(sigma), "visible": True}
        data.append(trace)
    layout = _layout(title, "MTF", "spatial frequency [cycles / native pixel]",
                     shapes=[{"type": "line", "x0": 0.5, "x1": 0.5, "y0": 0, "y1": 1, "yref": "paper",
                              "line": {"color": "#999", "width": 1, "dash": "dot"}}])
    return {"data": data, "layout": layout}


def star_traces(w: StarWindowTraces, title: str) -> Figure:
    """One extraction window: the starpool median of measured / predicted per time bin with its
    robust spread (1.4826 MAD, as error bars; hover: median ± spread and number of stars), the
    stars rejected as outliers of their bin (red crosses; hover: star, acquisition, departure in
    σ), as the PDF draws them, and each member star's own series (thin grey lines, hover names the
    star; the PDF's per-star appendix)."""
    data: list[dict[str, Any]] = []
    if w.epochs:
        data.append({"type": "scatter", "mode": "lines+markers", "name": "starpool median ± spread",
                     "x": _iso(w.epochs), "y": _num(w.median),
                     "error_y": {"type": "data", "array": _num(w.spread), "visible": True},
                     "customdata": [int(n) for n in w.n_stars] if len(w.n_stars) == len(w.epochs) else None,
                     "line": {"width": 3, "color": "#1f77b4"},
                     "hovertemplate": (f"starpool median {_T}<br>measured / predicted = %{{y:.4f}} ± "
                                       "%{error_y.array:.4f}<br>%{customdata} stars<extra></extra>")})
    if w.outliers:
        data.append({"type": "scatter", "mode": "markers", "name": "rejected (outlier)",
                     "x": _iso([o.time for o in w.outliers]), "y": _num([o.ratio for o in w.outliers]),
                     "marker": {"symbol": "x", "size": 9, "color": "#d62728"},
                     "text": [f"{o.star} {o.acq_id}" for o in w.outliers],
                     "customdata": _num([o.departure_sigma for o in w.outliers]),
                     "hovertemplate": (f"%{{text}} {_T}<br>measured / predicted = %{{y:.4f}}"
                                       "<br>%{customdata:+.1f}σ from the median: rejected<extra></extra>")})
    if w.traces:  # one Plotly trace for all the stars (a gap between two stars): ~25 traces per figure drew slowly
        x: list[str | None] = []
        y: list[float | None] = []
        text: list[str | None] = []
        for t in w.traces:
            if x:
                x.append(None)
                y.append(None)
                text.append(None)
            x += _iso(t.times)
            y += _num(t.ratio)
            text += [t.star] * len(t.times)
        data.append({"type": "scatter", "mode": "lines+markers", "name": f"each star ({len(w.traces)})", "x": x,
                     "y": y, "text": text, "connectgaps": False, "line": {"width": 1, "color": "#9aa7b3"},
                     "marker": {"size": 4, "color": "#9aa7b3"},
                     "hovertemplate": f"%{{text}} {_T}<br>measured / predicted = %{{y:.4f}}<extra></extra>"})
    return {"data": data, "layout": _layout(title, "measured / predicted")}


def moon_residuals(results: Sequence[MoonResult], title: str, by_phase: bool) -> Figure:
    data = []
    for flagged, symbol, name in ((False, "circle", "in trend"), (True, "x", "flagged")):
        sel = [r for r in results if r.flagged is flagged and r.residual_pct is not None]
        if not sel:
            continue
        x: list[Any] = _num([r.phase_deg for r in sel]) if by_phase else _iso([r.epoch for r in sel])
        data.append({
            "type": "scatter", "mode": "markers", "name": name, "x": x, "y": _num([r.residual_pct for r in sel]),
            "error_y": {"type": "data", "array": _num([100.0 * r.a_sigma / r.a if r.a else 0.0 for r in sel]),
                        "visible": True},
            "marker": {"symbol": symbol}, "text": [r.acq_id for r in sel],
            "hovertemplate": ("%{text}<br>" + ("g = %{x:.1f}°" if by_phase else _T)
                              + "<br>residual = %{y:+.2f} ± %{error_y.array:.2f} %<extra></extra>"),
        })
    xtitle = "phase angle g [deg] (negative: waxing)" if by_phase else ""
    return {"data": data, "layout": _layout(title, "residual to drift model [%]", xtitle)}


def lunar_ratio(points: Sequence[LunarPoint], title: str, by_phase: bool) -> Figure:
    """Another instrument's lunar comparisons (GLOD): observed / REF-1 irradiance per channel vs
    date or signed phase angle, ±1σ, flagged observations as crosses (the PDF's two figures)."""
    data: list[dict[str, Any]] = []
    for i, channel in enumerate(sorted({p.channel for p in points})):
        colour = _COLOURS[i % len(_COLOURS)]  # one per channel, flagged or not (as the PDF)
        for in_trend, symbol in ((True, "circle"), (False, "x")):
            sel = [p for p in points if p.channel == channel and p.in_trend is in_trend
                   and (p.phase_deg is not None or not by_phase)]
            if not sel:
                continue
            x: list[Any] = _num([p.phase_deg for p in sel]) if by_phase else _iso([p.time for p in sel])
            data.append({
                "type": "scatter", "mode": "markers", "name": channel if in_trend else f"{channel} (flagged)",
                "x": x, "y": _num([p.ratio for p in sel]),
                "error_y": {"type": "data", "array": _num([p.ratio_sigma or 0.0 for p in sel]), "visible": True,
                            "color": colour},
                "marker": {"symbol": symbol, "color": colour},
                "text": [p.observation for p in sel],
                "hovertemplate": (f"{channel} %{{text}}<br>" + ("g = %{x:.1f}°" if by_phase else _T)
                                  + "<br>observed / REF-1 = %{y:.4f} ± %{error_y.array:.4f}<extra></extra>"),
            })
    xtitle = "phase angle g [deg] (negative: waxing)" if by_phase else ""
    layout = _layout(title, "irr_obs / irr_model", xtitle,
                     shapes=[{"type": "line", "x0": 0, "x1": 1, "xref": "paper", "y0": 1, "y1": 1,
                              "line": {"color": "#999", "width": 1}}])
    return {"data": data, "layout": layout}
