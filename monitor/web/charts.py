"""Interactive figures of the dashboard: Plotly figure documents (plain dicts, JSON-ready) made
from the report's view model (:mod:`monitor.reports.context`), so every plotted value is the one
the PDF report draws. The browser draws them with the Plotly.js bundled in the ``plotly`` Python
package (served by the dashboard itself: no network). Hover shows the value and its 1σ.
"""

from __future__ import annotations

from collections.abc import Sequence
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

__all__ = ["a_vs_time", "mtf_nyquist", "mtf_curve", "star_traces", "moon_residuals"]

Figure = dict[str, Any]
_T = "%{x|%Y-%m-%d %H:%M} UTC"


def _iso(times: Sequence[datetime]) -> list[str]:
    return [t.isoformat() for t in times]


def _layout(title: str, ytitle: str, xtitle: str = "", **extra: Any) -> dict[str, Any]:
    return {"title": {"text": title, "font": {"size": 14}}, "xaxis": {"title": {"text": xtitle}},
            "yaxis": {"title": {"text": ytitle}, "exponentformat": "none"}, "margin": {"l": 70, "r": 20, "t": 40,
                                                                                     "b": 50},
            "height": 360, "hovermode": "closest", "legend": {"orientation": "h"}, **extra}


def _drift_line(fit: DriftFit, epochs: Sequence[datetime], method: str) -> dict[str, Any]:
    t0, t1 = min(epochs), max(epochs)

    def model(t: datetime) -> float:
        return fit.a0 * (1.0 + fit.rate_per_year * (t - fit.reference_epoch).total_seconds() / SECONDS_PER_YEAR)

    return {"type": "scatter", "mode": "lines", "x": _iso([t0, t1]), "y": [model(t0), model(t1)],
            "name": f"{method} drift ({fit.label}) {100 * fit.rate_per_year:+.2f} ± {100 * fit.rate_sigma:.2f} %/yr",
            "line": {"dash": "dash"}, "hoverinfo": "skip"}


def a_vs_time(series: Sequence[CalibrationSeries], title: str) -> Figure:
    """A_k of each method (starpools, Moon) with 1σ error bars, and its primary drift (named: the
    star-offsets fit for the starpools when recorded, else the linear fit)."""
    data: list[dict[str, Any]] = []
    for s in series:
        if not s.epochs:
            continue
        data.append({"type": "scatter", "mode": "markers", "name": f"A_k {s.method}", "x": _iso(s.epochs),
                     "y": list(s.a), "error_y": {"type": "data", "array": list(s.a_sigma), "visible": True},
                     "hovertemplate": f"{s.method} {_T}<br>A = %{{y:.6g}} ± %{{error_y.array:.2g}}<extra></extra>"})
        if s.drift is not None:
            data.append(_drift_line(s.drift, s.epochs, s.method))
    return {"data": data, "layout": _layout(title, "A_k [DN/(W m⁻² sr⁻¹ µm⁻¹)]")}


def mtf_nyquist(s: MtfNyquistSeries, title: str) -> Figure:
    data = [
        {"type": "scatter", "mode": "lines+markers", "name": name, "x": _iso(s.epochs), "y": list(values),
         "error_y": {"type": "data", "array": list(sigma), "visible": True},
         "hovertemplate": f"{name} {_T}<br>MTF(Nyquist) = %{{y:.4f}} ± %{{error_y.array:.4f}}<extra></extra>"}
        for name, values, sigma in (("along", s.along, s.along_sigma), ("across", s.across, s.across_sigma))
        if values
    ]
    return {"data": data, "layout": _layout(title, "MTF at Nyquist")}


def mtf_curve(c: MtfCurve, title: str) -> Figure:
    f = list(c.frequency)
    data: list[dict[str, Any]] = []
    for name, values, sigma in (("along", c.along, c.along_sigma), ("across", c.across, c.across_sigma)):
        if values:
            data.append({"type": "scatter", "mode": "lines", "name": name, "x": f, "y": list(values),
                         "error_y": {"type": "data", "array": list(sigma), "visible": bool(sigma)},
                         "hovertemplate": f"{name} f = %{{x:.3f}} cy/px<br>MTF = %{{y:.4f}}<extra></extra>"})
    for name, values, sigma in (("ePSF along", c.epsf_along, c.epsf_along_sigma),
                                ("ePSF across", c.epsf_across, c.epsf_across_sigma)):
        if values:
            data.append({"type": "scatter", "mode": "lines", "name": name, "x": f, "y": list(values),
                         "line": {"dash": "dot"},
                         "error_y": {"type": "data", "array": list(sigma), "visible": bool(sigma)},
                         "hovertemplate": f"{name} f = %{{x:.3f}} cy/px<br>MTF = %{{y:.4f}}<extra></extra>"})
    layout = _layout(title, "MTF", "spatial frequency [cycles / native pixel]",
                     shapes=[{"type": "line", "x0": 0.5, "x1": 0.5, "y0": 0, "y1": 1, "yref": "paper",
                              "line": {"color": "#999", "width": 1, "dash": "dot"}}])
    return {"data": data, "layout": layout}


def star_traces(w: StarWindowTraces, title: str) -> Figure:
    data = [{"type": "scatter", "mode": "lines+markers", "name": t.star, "x": _iso(t.times), "y": list(t.ratio),
             "hovertemplate": f"{t.star} {_T}<br>measured / predicted = %{{y:.4f}}<extra></extra>"}
            for t in w.traces]
    return {"data": data, "layout": _layout(title, "measured / predicted")}


def moon_residuals(results: Sequence[MoonResult], title: str, by_phase: bool) -> Figure:
    data = []
    for flagged, symbol, name in ((False, "circle", "in trend"), (True, "x", "flagged")):
        sel = [r for r in results if r.flagged is flagged and r.residual_pct is not None]
        if not sel:
            continue
        x: list[Any] = [r.phase_deg for r in sel] if by_phase else _iso([r.epoch for r in sel])
        data.append({
            "type": "scatter", "mode": "markers", "name": name, "x": x, "y": [r.residual_pct for r in sel],
            "error_y": {"type": "data", "array": [100.0 * r.a_sigma / r.a if r.a else 0.0 for r in sel],
                        "visible": True},
            "marker": {"symbol": symbol}, "text": [r.acq_id for r in sel],
            "hovertemplate": ("%{text}<br>" + ("g = %{x:.1f}°" if by_phase else _T)
                              + "<br>residual = %{y:+.2f} ± %{error_y.array:.2f} %<extra></extra>"),
        })
    xtitle = "phase angle g [deg] (negative: waxing)" if by_phase else ""
    return {"data": data, "layout": _layout(title, "residual to drift model [%]", xtitle)}
