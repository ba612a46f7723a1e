"""``monitor alerts [--all] [--format table|json]`` and ``monitor alerts ack ID [--note TEXT]``:
the calibration alerts (drift rate, drift departure, MTF disagreement) and their states.
Registered by :mod:`monitor.cli`."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from monitor.cli_common import SiteOption, UsageError, UserError, out, plain, site_settings, user_errors

alerts_app = typer.Typer(help="Calibration alerts: list them, acknowledge one.")

_FIELDS = ("id", "kind", "satellite", "band", "method", "state", "opened_at", "updated_at", "acknowledged_at",
           "closed_at", "value", "sigma", "threshold", "message", "note")


def alert_dict(a: Any) -> dict[str, Any]:
    """An :class:`monitor.catalogue.alerts.AlertRow` as JSON values (times ISO 8601 UTC)."""
    from monitor.results import iso_utc

    d = {f: getattr(a, f) for f in _FIELDS}
    for f in ("opened_at", "updated_at", "acknowledged_at", "closed_at"):
        d[f] = None if d[f] is None else iso_utc(d[f])
    return d


@alerts_app.callback(invoke_without_command=True)
@user_errors
def alerts_list(
    ctx: typer.Context,
    show_all: Annotated[bool, typer.Option("--all", help="Also the closed alerts.")] = False,
    fmt: Annotated[str, typer.Option("--format", help="table (default) or json.")] = "table",
    site: SiteOption = None,
) -> None:
    """List the active calibration alerts (open or acknowledged; --all: also the closed ones)."""
    if ctx.invoked_subcommand is not None:
        return
    from monitor.catalogue.alerts import list_alerts
    from monitor.site import session_scope

    if fmt not in ("table", "json"):
        raise UsageError(f"unknown format {fmt!r} (table or json)")
    settings = site_settings(site)
    with session_scope(settings, read_only=True) as session:
        rows = list_alerts(session, include_closed=show_all)
    if fmt == "json":
        sys.stdout.write(json.dumps([alert_dict(a) for a in rows], indent=1) + "\n")
        return
    if not rows:
        out.print("no calibration alert" + ("" if show_all else " open"), highlight=False)
        return
    t = Table(title="Calibration alerts" if show_all else "Active calibration alerts")
    for c in ("#", "series", "kind", "state", "opened (UTC)", "closed (UTC)", "message"):
        t.add_column(c)
    for a in rows:
        t.add_row(str(a.id), f"{a.satellite} {a.band} ({a.method})", a.kind, a.state, f"{a.opened_at:%Y-%m-%d %H:%M}",
                  f"{a.closed_at:%Y-%m-%d %H:%M}" if a.closed_at else "-",
                  plain(a.message + (f" (note: {a.note})" if a.note else "")))
    out.print(t)


@alerts_app.command("ack")
@user_errors
def alerts_ack(
    alert_id: Annotated[int, typer.Argument(metavar="ID", help="The alert's number (monitor alerts).")],
    note: Annotated[str | None, typer.Option("--note", help="Why, who, what is done about it.")] = None,
    site: SiteOption = None,
) -> None:
    """Acknowledge an active alert (listed as acknowledged until the processing closes it).

    The processing closes an alert, acknowledged or not, once its condition no longer holds."""
    from monitor.catalogue.alerts import AlertStateError, acknowledge
    from monitor.site import session_scope, utc_now

    if note is not None and len(note) > 1000:
        raise UsageError("--note: at most 1000 characters")
    settings = site_settings(site)
    try:
        with session_scope(settings) as session:
            row = acknowledge(session, alert_id, utc_now(), note)
            session.commit()
    except AlertStateError as exc:
        raise UserError(str(exc)) from None
    out.print(plain(f"alert #{row.id} {row.satellite} {row.band} ({row.method}) {row.kind}: acknowledged"),
              soft_wrap=True)
