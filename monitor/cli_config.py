"""``monitor config check`` and ``monitor config show``: the site's configuration validated without
running anything, and the effective settings with where each came from. Registered by
:mod:`monitor.cli`."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from monitor.cli_common import SiteOption, UsageError, out, plain, user_errors, verdict

config_app = typer.Typer(no_args_is_help=True, help="Check the site's configuration, show the effective settings.")


@config_app.command("check")
@user_errors
def config_check(site: SiteOption = None) -> None:
    """Validate monitor.toml and the MONITOR_* variables (every key, cron expressions, campaign
    periods, ranges, addresses, the database URL, the files they name) without running anything.
    Exit 1 with one line per problem."""
    from monitor.settings_loader import check

    verdict(check(site), "OK: configuration valid", "problem")


@config_app.command("show")
@user_errors
def config_show(
    fmt: Annotated[str, typer.Option("--format", help="table (default) or json.")] = "table",
    site: SiteOption = None,
) -> None:
    """The effective settings and where each came from (default, file, env MONITOR_...); secrets
    are masked."""
    from monitor.settings_loader import effective

    if fmt not in ("table", "json"):
        raise UsageError(f"unknown format {fmt!r} (table or json)")
    _, rows = effective(site)
    if fmt == "json":
        sys.stdout.write(json.dumps([{"key": k, "value": v, "source": src} for k, v, src in rows], indent=1,
                                    default=str) + "\n")
        return
    t = Table(title="Effective settings")
    for c in ("key", "value", "source"):
        t.add_column(c)
    for key, value, src in rows:
        t.add_row(key, plain(json.dumps(value, default=str) if not isinstance(value, str) else value), src)
    out.print(t)
