"""``monitor results`` (the ICD 5 export, JSON or CSV tables) and ``monitor traces`` (each star's
normalised count per window). Registered by :mod:`monitor.cli`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from monitor.cli_common import (
    SiteOption,
    UsageError,
    UserError,
    check_selection,
    check_star,
    out,
    parse_time,
    plain,
    printable,
    site_settings,
    user_errors,
)


@user_errors
def results(
    fmt: Annotated[str, typer.Option("--format", help="json (the ICD 5 document) or csv (one table).")] = "json",
    satellite: Annotated[str | None, typer.Option(help="Only this satellite.")] = None,
    band: Annotated[str | None, typer.Option(help="Only this band.")] = None,
    since: Annotated[str | None, typer.Option(help="Epochs at or after this UTC time.")] = None,
    until: Annotated[str | None, typer.Option(help="Epochs before this UTC time.")] = None,
    table: Annotated[str | None, typer.Option(
        "--table",
        help="With --format csv: calibration, measurements, drift, mtf, mtf_drift, geometry, alerts or traces.",
    )] = None,
    out_dir: Annotated[Path | None, typer.Option(
        "--out", help="With --format csv: write every table (or --table) as DIR/NAME.csv.")] = None,
    site: SiteOption = None,
) -> None:
    """Print the results export of ICD 5 (calibration, mtf, drift, measurements, geometry, alerts),
    or one of its tables as CSV."""
    from monitor.results import CSV_TABLES, build_results, results_json, results_tables, table_csv
    from monitor.site import session_scope

    if fmt not in ("json", "csv"):
        raise UsageError(f"unknown format {fmt!r} (json or csv)")
    if fmt == "json" and (table is not None or out_dir is not None):
        raise UsageError("--table and --out go with --format csv")
    if table is not None and table not in CSV_TABLES:
        raise UsageError(f"unknown table {printable(table)!r} (one of {', '.join(CSV_TABLES)})")
    if fmt == "csv" and table is None and out_dir is None:
        raise UsageError(f"--format csv: give --table NAME (one of {', '.join(CSV_TABLES)}) or --out DIR")
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir}: not a directory")
    t0, t1 = parse_time(since, "--since"), parse_time(until, "--until")
    check_selection(satellite, band, t0, t1)
    settings = site_settings(site)
    with session_scope(settings, read_only=True) as session:
        if fmt == "json":
            doc = build_results(session, satellite=satellite, band=band, since=t0, until=t1)
        else:
            names = [table] if table is not None else list(CSV_TABLES)
            tables = results_tables(session, names, satellite=satellite, band=band, since=t0, until=t1)
    if fmt == "json":
        sys.stdout.write(results_json(doc) + "\n")
        return
    if out_dir is None:
        sys.stdout.write(table_csv(names[0], tables[names[0]]))
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        path = out_dir / f"{name}.csv"
        path.write_text(table_csv(name, rows), encoding="utf-8")
        out.print(plain(f"{path}: {len(rows)} row(s)"), soft_wrap=True)


@user_errors
def traces(
    satellite: Annotated[str, typer.Option(help="Satellite, e.g. PHR1A.")],
    band: Annotated[str, typer.Option(help="Band, e.g. P.")],
    star: Annotated[str | None, typer.Option(help='Only this star, e.g. "HIP 32349".')] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    site: SiteOption = None,
) -> None:
    """Time series of each star's normalised count S_w/(OVERSAMP*GAINFACT) per window, with the
    ratio to the starpool's prediction."""
    import csv
    import dataclasses
    import json

    from monitor.results import iso_utc, star_traces
    from monitor.site import session_scope

    hip = None
    if star is not None:
        parts = star.replace("HIP", "").strip()
        if not parts.isdigit():
            raise UserError(f'--star must look like "HIP 32349", not {star!r}')
        hip = int(parts)
    if fmt not in ("csv", "json"):
        raise UserError(f"unknown format {fmt!r} (csv or json)")
    check_selection(satellite, band)
    if hip is not None:
        check_star(hip)
    settings = site_settings(site)
    with session_scope(settings, read_only=True) as session:
        rows = [dataclasses.asdict(p) for p in star_traces(session, satellite, band, hip)]
    for r in rows:
        r["time"] = iso_utc(r["time"])
    if fmt == "json":
        sys.stdout.write(json.dumps(rows, indent=1) + "\n")
        return
    fields = ["time", "acq_id", "star", "band", "half_width_px", "normalised_count_dn", "sum_dn", "sigma_dn",
              "status", "reason", "usable", "ratio_to_prediction"]
    writer = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
