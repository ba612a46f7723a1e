"""``monitor report`` (render a period's PDF report, e-mail it, or e-mail an archived one again) and
``monitor reports`` (the archived reports and the state of their e-mails: the outbox).
Registered by :mod:`monitor.cli`."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from monitor.cli_common import SiteOption, UsageError, UserError, err, out, plain, site_settings, user_errors


@user_errors
def report(
    period: Annotated[str | None, typer.Option(
        "--period", help="2025-03 (month), 2025-W11 (ISO week), 2025 (year), weekly or monthly.")] = None,
    send: Annotated[bool, typer.Option("--send", help="E-mail the PDF to [report] recipients.")] = False,
    resend: Annotated[int | None, typer.Option(
        "--resend", metavar="REPORT_ID",
        help="Requeue the failed e-mails of an archived report, send them (never one the server confirmed).",
    )] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="With --period: render even when no acquisition is dated in the period. With --resend: "
        "also send again the e-mails the server confirmed, as new copies.",
    )] = False,
    site: SiteOption = None,
) -> None:
    """Render the PDF report of a period into the site's reports/ (and e-mail it with --send)."""
    from monitor.progress import progress_reporter
    from monitor.reports.delivery import resend_report
    from monitor.reports.period import ReportError
    from monitor.reports.service import run_report
    from monitor.site import session_scope, utc_now

    if (period is None) == (resend is None):
        raise UserError("give either --period P (to make a report) or --resend REPORT_ID")
    settings = site_settings(site)
    try:
        with session_scope(settings) as session:
            if resend is not None:
                n, mail = resend_report(session, settings, utc_now(), resend, force=force)
                out.print(f"report #{resend}: {n} e-mail(s) queued; {mail}", highlight=False)
                failed = mail.failed
            else:
                with progress_reporter("report", err) as progress:
                    outcome = run_report(session, settings, utc_now(), period, send=send, force=force,
                                         progress=progress)
                out.print(str(outcome), highlight=False)
                failed = outcome.mail.failed if outcome.mail else 0
                if outcome.mail and outcome.mail.retrying:
                    err.print("[yellow]warning:[/yellow] some e-mails were not delivered yet; the daemon's "
                              "email_retry job (or 'monitor report --resend ID') will retry them", highlight=False)
    except ReportError as exc:
        raise UserError(str(exc)) from None
    if failed:
        raise typer.Exit(1)


def _mail_state(counts: dict[str, int], uncertain: int) -> str:
    """``not e-mailed``, or the e-mails by state (``2 sent, 1 failed``), with the uncertain ones."""
    if not counts:
        return "not e-mailed"
    text = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    return text + (f" ({uncertain} uncertain: maybe duplicated)" if uncertain else "")


@user_errors
def reports_list(
    limit: Annotated[int, typer.Option(help="At most this many, newest first (0: all).")] = 50,
    fmt: Annotated[str, typer.Option("--format", help="table (default) or json.")] = "table",
    site: SiteOption = None,
) -> None:
    """List the archived reports (newest first) and the state of their e-mails."""
    from monitor.catalogue.outbox import archived_reports
    from monitor.results import iso_utc
    from monitor.site import session_scope

    if fmt not in ("table", "json"):
        raise UsageError(f"unknown format {fmt!r} (table or json)")
    if limit < 0:
        raise UsageError(f"--limit must be >= 0, not {limit}")
    settings = site_settings(site)
    with session_scope(settings, read_only=True) as session:
        rows = archived_reports(session, limit or None)
    docs: list[dict[str, Any]] = []
    for r, counts, uncertain in rows:
        path = settings.site / r.path
        docs.append({"id": r.id, "period": r.period, "created_at": iso_utc(r.created_at), "path": str(path),
                     "file_present": path.is_file(), "pages": r.pages, "size_bytes": r.size_bytes,
                     "sha256": r.sha256, "emails": counts, "uncertain": uncertain,
                     "email_state": _mail_state(counts, uncertain)})
    if fmt == "json":
        sys.stdout.write(json.dumps(docs, indent=1) + "\n")
        return
    if not docs:
        out.print("no archived report", highlight=False)
        return
    t = Table(title="Archived reports")
    for c in ("#", "period", "created (UTC)", "pages", "file", "e-mails"):
        t.add_column(c)
    for d, (r, _, _) in zip(docs, rows, strict=True):
        t.add_row(str(d["id"]), d["period"], f"{r.created_at:%Y-%m-%d %H:%M}", str(d["pages"]),
                  plain(r.path + ("" if d["file_present"] else " (missing)")), d["email_state"])
    out.print(t)
