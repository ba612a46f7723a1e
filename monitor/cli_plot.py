"""``monitor plot KIND --satellite S [--band B] --out FILE.png|svg``: one figure of the report
without a PDF, drawn by the report's own figure functions (:mod:`monitor.reports.plots`) from
the report's view of the catalogue. Registered by :mod:`monitor.cli`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from monitor.cli_common import (
    SiteOption,
    UsageError,
    UserError,
    check_selection,
    parse_time,
    site_settings,
    user_errors,
)

# kind -> (what it draws, needs a band)
KINDS: dict[str, tuple[str, bool]] = {
    "drift": ("A_k over time with the drift fit, one panel per band and method", False),
    "traces": ("star traces of one band, one panel per window", True),
    "mtf": ("latest MTF curves, parametric and ePSF", False),
    "mtf-nyquist": ("MTF at Nyquist over time", False),
    "moon": ("Moon A_k over time", False),
    "moon-phase": ("Moon residuals versus phase angle", False),
    "geometry": ("GEOM check-point residuals (no band)", False),
}


def _draw(kind: str, section: Any, band: str | None) -> Any:
    """The plot function call of ``kind`` for one satellite section, restricted to ``band``."""
    from monitor.reports import plots

    def of_band(items: Any) -> list[Any]:
        return [x for x in items if band is None or x.band == band]

    name = section.satellite
    draws = {
        "drift": lambda: plots.plot_calibration(of_band(section.calibration), name),
        "traces": lambda: next((plots.plot_star_traces(t, name) for t in of_band(section.star_traces)), None),
        "mtf": lambda: plots.plot_mtf_curves(of_band(section.mtf_curves), name),
        "mtf-nyquist": lambda: plots.plot_mtf_nyquist(of_band(section.mtf_nyquist), name),
        "moon": lambda: plots.plot_moon_series(of_band(section.moon), name, section.bands),
        "moon-phase": lambda: plots.plot_moon_phase(of_band(section.moon), name, section.bands),
        "geometry": lambda: plots.plot_geometry(section.geometry, name),
    }
    return draws[kind]


@user_errors
def plot(
    kind: Annotated[str, typer.Argument(help=f"One of {', '.join(KINDS)}.")],
    satellite: Annotated[str, typer.Option(help="Satellite, e.g. PHR1A.")],
    out: Annotated[Path, typer.Option("--out", help="Output file, .png or .svg.")],
    band: Annotated[str | None, typer.Option(help="Only this band (required for traces).")] = None,
    until: Annotated[str | None, typer.Option(
        help="Results before this UTC time (default: now); trends cover the two years before it.")] = None,
    site: SiteOption = None,
) -> None:
    """Draw one figure of the report (the same function, style and data) into a PNG or SVG file."""
    from monitor.reports.period import Period
    from monitor.reports.plots import save_figure
    from monitor.reports.view import build_context
    from monitor.site import session_scope, utc_now

    if kind not in KINDS:
        raise UsageError(f"unknown kind {kind!r} (one of {', '.join(KINDS)})")
    if out.suffix.lower() not in (".png", ".svg"):
        raise UsageError(f"--out {out}: give a .png or .svg file")
    if KINDS[kind][1] and band is None:
        raise UsageError(f"{kind} needs --band")
    if kind == "geometry" and band is not None:
        raise UsageError("geometry has no band: leave out --band")
    if not out.parent.is_dir():
        raise UserError(f"--out {out}: no such directory {out.parent}")
    check_selection(satellite, band)
    end = parse_time(until, "--until") or utc_now()
    settings = site_settings(site)
    with session_scope(settings, read_only=True) as session:
        ctx = build_context(session, settings, Period("plot", "plot", end - timedelta(days=31), end), end)
    section = next(s for s in ctx.satellites if s.satellite == satellite)
    if not save_figure(_draw(kind, section, band), out):
        what = f"{satellite}" + (f" {band}" if band else "")
        raise UserError(f"nothing to draw: no {kind} data of {what} before {end:%Y-%m-%dT%H:%M:%SZ}")
    typer.echo(str(out))
