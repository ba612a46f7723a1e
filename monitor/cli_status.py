"""``monitor status`` (catalogue counts, the daemon, its jobs and incidents, the backlog, recent
rejections) and ``monitor check`` (the same health as a monitoring probe's exit status).
Registered by :mod:`monitor.cli`."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from monitor.cli_common import SiteOption, UserError, out, plain, site_settings, user_errors, verdict


@user_errors
def status(
    fmt: Annotated[str, typer.Option("--format", help="table (default) or json.")] = "table",
    site: SiteOption = None,
) -> None:
    """Catalogue counts, the daemon and its jobs, open incidents, backlog, recent rejections."""
    import json

    from monitor.catalogue import acquisitions, outbox
    from monitor.catalogue import operations as ops
    from monitor.catalogue.alerts import count_by_state
    from monitor.catalogue.states import OutboxKind
    from monitor.daemon.health import collect_health, health_json
    from monitor.ingest.service import left_in_inbox
    from monitor.site import session_scope, utc_now

    if fmt not in ("table", "json"):
        raise UserError(f"unknown format {fmt!r} (table or json)")
    settings = site_settings(site)
    with session_scope(settings, read_only=True) as session:
        health = collect_health(session, settings, utc_now())
        counts = acquisitions.catalogue_counts(session)
        if fmt == "json":
            doc = health_json(health)
            doc["acquisitions"] = [{"satellite": a, "type": t, "status": st, "count": n}
                                   for a, t, st, n in counts.acquisitions]
            doc["rejections"] = [{"reason": r, "count": n} for r, n in counts.rejections]
            doc["emails"] = [{"id": m.id, "kind": m.kind, "report_id": m.report_id, "incident_id": m.incident_id,
                              "recipient": m.recipient, "status": m.status, "attempts": m.attempts,
                              "uncertain": m.uncertain, "message_id": m.message_id, "note": m.last_error}
                             for m in outbox.undelivered(session)]
            doc["inbox_left"] = [{"file": f, "reason": r} for f, r in left_in_inbox(settings)]
            doc["calibration_alerts"] = count_by_state(session)  # by state
            from monitor.cli_reference import star_model_doc

            doc["star_model"] = star_model_doc(settings)
            from monitor.calibration.mtf_stage import mtf_off_note

            doc["mtf_stage"] = {"enabled": settings.star.mtf, "note": mtf_off_note(settings)}
            from monitor.cli_worker import queue_doc

            doc["work_queue"] = queue_doc(session)  # units not done, by kind and state
            sys.stdout.write(json.dumps(doc, indent=1) + "\n")
            return
        t = Table(title="Acquisitions")
        for c in ("satellite", "type", "status", "count"):
            t.add_column(c)
        for sat, typ, st, n in counts.acquisitions:
            t.add_row(sat, typ, st, str(n))
        out.print(t)
        t = Table(title="Rejected inputs by reason")
        t.add_column("reason")
        t.add_column("count")
        for reason, n in counts.rejections:
            t.add_row(reason, str(n))
        out.print(t)
        t = Table(title="Last processing runs")
        for c in ("id", "kind", "started (UTC)", "outcome", "items", "code"):
            t.add_column(c)
        for r in ops.last_runs(session):
            t.add_row(str(r.id), r.kind, f"{r.started_at:%Y-%m-%d %H:%M:%S}", r.outcome, str(r.n_items),
                      r.code_version)
        out.print(t)
        from monitor.cli_reference import star_model_line

        out.print(star_model_line(settings), highlight=False, markup=False)  # "[reference]" is not markup
        from monitor.calibration.mtf_stage import mtf_off_note

        out.print(mtf_off_note(settings) or "MTF stage: on ([star] mtf = true): PSF fit, MTF and MTF drift of every "
                  "starpool", highlight=False, markup=False)
        _print_daemon(health)
        from monitor.cli_worker import print_queue

        print_queue(session)
        n_alerts = count_by_state(session)
        out.print(f"calibration alerts: {n_alerts['open']} open, {n_alerts['acknowledged']} acknowledged"
                  + (" (monitor alerts)" if n_alerts["open"] or n_alerts["acknowledged"] else ""), highlight=False)
        runs = ops.last_job_runs(session)
        if runs:
            t = Table(title="Last job runs")
            for c in ("job", "started (UTC)", "outcome", "message"):
                t.add_column(c)
            for jr in runs:
                first_line = jr.message.strip().splitlines()[0] if jr.message.strip() else ""
                t.add_row(jr.job_id, f"{jr.started_at:%Y-%m-%d %H:%M:%S}", jr.outcome, plain(first_line[:160]))
            out.print(t)
        mails = outbox.undelivered(session)
        if mails:
            t = Table(title="E-mails not confirmed (or maybe duplicated: uncertain)")
            for c in ("#", "what", "recipient", "status", "attempts", "note"):
                t.add_column(c)
            for m in mails:
                what = f"report {m.report_id}" if m.kind == OutboxKind.REPORT else f"{m.kind} {m.incident_id}"
                t.add_row(str(m.id), what, plain(m.recipient), m.status + (", uncertain" if m.uncertain else ""),
                          str(m.attempts), plain(m.last_error[:200]))
            out.print(t)
        t = Table(title="Recent rejections")
        for c in ("received (UTC)", "file", "reason", "message"):
            t.add_column(c)
        for rej in acquisitions.recent_rejections(session):
            t.add_row(f"{rej.received_at:%Y-%m-%d %H:%M:%S}", plain(rej.file_name), rej.reason, plain(rej.message))
        out.print(t)
        left = left_in_inbox(settings)
        if left:
            t = Table(title="Inbox entries left without a verdict (last ingest)")
            t.add_column("file")
            t.add_column("reason")
            for name, reason in left:
                t.add_row(plain(name), plain(reason))
            out.print(t)


def _print_daemon(health: Any) -> None:
    """The daemon, its scheduled jobs, open incidents and the backlog."""
    if health.daemon_running:
        beat = f", last heartbeat {health.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC" if health.heartbeat_at else ""
        out.print(f"daemon: running (pid {health.daemon_pid}{beat})", highlight=False)
    else:
        out.print("daemon: not running", highlight=False)
    if health.jobs:
        t = Table(title="Scheduled jobs")
        for c in ("job", "next run (UTC)", "time limit", "last outcome", "last start (UTC)"):
            t.add_column(c)
        for j in health.jobs:
            t.add_row(j.job_id, f"{j.next_run_at:%Y-%m-%d %H:%M:%S}" if j.next_run_at else "-",
                      f"{j.timeout_s / 60:g} min" if j.timeout_s else "-", j.last_outcome or "-",
                      f"{j.last_started_at:%Y-%m-%d %H:%M:%S}" if j.last_started_at else "-")
        out.print(t)
    t = Table(title="Open incidents")
    for c in ("#", "job", "since (UTC)", "failures", "last outcome", "last message"):
        t.add_column(c)
    for inc in health.incidents:
        t.add_row(str(inc.id), inc.job_id, f"{inc.first_failure_at:%Y-%m-%d %H:%M:%S}", str(inc.failures),
                  inc.last_outcome, plain(inc.last_message))
    out.print(t if health.incidents else "open incidents: none", highlight=False)
    b = health.backlog
    if b is not None:
        waiting = ", ".join(f"{k} {v}" for k, v in b.processing.items())
        out.print(f"backlog: inbox {b.inbox_files} file(s); processing {waiting}; e-mails {b.emails}",
                  highlight=False)


@user_errors
def check(
    max_backlog_hours: Annotated[float | None, typer.Option(
        help="Fail when work has waited longer than this (default: [alerts] backlog_hours).")] = None,
    site: SiteOption = None,
) -> None:
    """Exit 1 when the daemon is not running, a job has an open incident, or the backlog is too
    old (for a monitoring probe); print OK or one line per problem."""
    from monitor.daemon.health import check_health, collect_health
    from monitor.site import session_scope, utc_now

    settings = site_settings(site)
    with session_scope(settings, read_only=True) as session:
        problems = check_health(collect_health(session, settings, utc_now()), settings, max_backlog_hours)
    verdict(problems, "OK: daemon running, no open incident, no old backlog", "CRITICAL")
