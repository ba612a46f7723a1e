"""``monitor reports``: the archived reports and the state of their e-mails (the outbox).
Registered by :mod:`monitor.cli`."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from monitor.cli import SiteOption, UsageError, _plain, _settings, _user_errors, app, out


def _mail_state(counts: dict[str, int], uncertain: int) -> str:
    """``not e-mailed``, or the e-mails by state (``2 sent, 1 failed``), with the uncertain ones."""
    if not counts:
        return "not e-mailed"
    text = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    return text + (f" ({uncertain} uncertain: maybe duplicated)" if uncertain else "")


@app.command("reports")
@_user_errors
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
    settings = _settings(site)
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
                  _plain(r.path + ("" if d["file_present"] else " (missing)")), d["email_state"])
    out.print(t)
