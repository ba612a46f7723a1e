"""``monitor export ...``: lunar exports (ICD 6). Registered by :mod:`monitor.cli` as the
``export`` command group (kept in its own module so that the main CLI file stays small)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from monitor.cli_common import SiteOption, UsageError, check_selection, parse_time, site_settings, user_errors

export_app = typer.Typer(no_args_is_help=True, help="Exports for the lunar calibration community (GLOD, LIME TBX).")


@export_app.command("glod")
@user_errors
def export_glod_command(
    satellite: Annotated[str, typer.Option(help="PNEO3 or PNEO4.")],
    out: Annotated[Path, typer.Option("--out", help="Directory of the GLOD files (created).")],
    site: SiteOption = None,
) -> None:
    """Write each measured Moon acquisition of a satellite as a GSICS lunar observation (GLOD) file,
    with irr_obs from the coefficients in force, and the satellite's SRF file."""
    from monitor.calibration.glod_export import export_glod
    from monitor.domain import MOON_SATELLITES
    from monitor.site import session_scope

    if satellite not in [s.value for s in MOON_SATELLITES]:
        raise UsageError(f"--satellite must be one of {', '.join(s.value for s in MOON_SATELLITES)}")
    settings = site_settings(site)
    with session_scope(settings, read_only=True) as session:
        summary = export_glod(session, settings, satellite, out)
    for path in summary.files:
        sys.stdout.write(f"{path}\n")
    sys.stdout.write(f"srf: {summary.srf_file}\n" if summary.files else "no measured Moon acquisition\n")


@export_app.command("lunar-comparison")
@user_errors
def export_lunar_comparison(
    fmt: Annotated[str, typer.Option("--format", help="csv (stdout or --out) or netcdf (LIME TBX style, --out).")],
    out: Annotated[Path | None, typer.Option("--out", help="Output file.")] = None,
    instrument: Annotated[str | None, typer.Option(help="Only this GLOD instrument.")] = None,
    channel: Annotated[str | None, typer.Option(help="Only this channel.")] = None,
    since: Annotated[str | None, typer.Option(help="Observations at or after this UTC time.")] = None,
    until: Annotated[str | None, typer.Option(help="Observations at or before this UTC time.")] = None,
    site: SiteOption = None,
) -> None:
    """The lunar comparisons (observed vs REF-1 irradiance per GLOD observation and channel)."""
    from monitor import __version__
    from monitor.lunar_results import comparisons_csv, write_comparison_netcdf
    from monitor.site import session_scope

    t0, t1 = parse_time(since, "--since"), parse_time(until, "--until")
    check_selection(None, None, t0, t1)
    if fmt not in ("csv", "netcdf"):
        raise UsageError(f"unknown format {fmt!r} (csv or netcdf)")
    if fmt == "netcdf" and out is None:
        raise UsageError("--format netcdf needs --out FILE")
    filters = dict(satellite=instrument, band=channel, since=t0, until=t1)
    settings = site_settings(site)
    with session_scope(settings, read_only=True) as session:
        if fmt == "csv":
            text = comparisons_csv(session, **filters)
            if out is None:
                sys.stdout.write(text)
            else:
                out.write_text(text, encoding="utf-8")
        else:
            assert out is not None
            n = write_comparison_netcdf(out, session, code_version=__version__, **filters)
            sys.stdout.write(f"{out}: {n} observations\n")
