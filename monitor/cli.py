"""Command line of the monitoring system (typer + rich).

``monitor init|db|ingest|process|report|reports|results|traces|plot|alerts|status|check|config|export|
simulate|demo|daemon``; ``--verbose``/``--quiet`` before the command set its log level.
User mistakes (bad configuration, unreachable database, bad arguments) end with a one-line
``error:`` message and a non-zero exit code, never a traceback.

Exit status: 0 done; 1 failed (or work left pending after errors); 2 configuration or usage
error; 75 (``EX_TEMPFAIL``) ``ingest`` or ``process`` found another run of the same command on
this site and gave up after ``[ingest] lock_wait_seconds`` (nothing done; run it again later).
"""

from __future__ import annotations

from typing import Annotated

import typer

from monitor import __version__
from monitor.cli_common import (
    NO_TERMINAL_WIDTH,
    SiteOption,
    UsageError,
    UserError,
    check_selection,
    check_star,
    err,
    fit_output_to_environment,
    log_level,
    out,
    parse_time,
    plain,
    print_error,
    printable,
    set_log_override,
    site_settings,
    user_errors,
)

# The helpers under their former private names: command modules of other branches import them
# from here (``from monitor.cli import _user_errors``); new modules import monitor.cli_common.
_user_errors = user_errors
_settings = site_settings
_plain = plain
_error = print_error
_check_selection = check_selection
_check_star = check_star
_parse_time = parse_time
_log_level = log_level
_fit_output_to_environment = fit_output_to_environment

__all__ = ["app", "NO_TERMINAL_WIDTH", "SiteOption", "UsageError", "UserError", "err", "out", "printable"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Calibration monitoring of Pleiades (PHR1A/1B) and Pleiades Neo (PNEO3/4).",
    pretty_exceptions_enable=False,
)


@app.callback(invoke_without_command=True)
def main(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at DEBUG level (whatever log_level says).")
                       ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Log only warnings and errors.")] = False,
) -> None:
    fit_output_to_environment()
    if verbose and quiet:
        print_error("--verbose and --quiet exclude each other")
        raise typer.Exit(2)
    set_log_override("DEBUG" if verbose else "WARNING" if quiet else None)
    if version:
        out.print(f"monitor {__version__}")
        raise typer.Exit(0)
    if ctx.invoked_subcommand is None:
        out.print(ctx.get_help())
        raise typer.Exit(0)


def _register_subcommands() -> None:
    """Every command, from its ``monitor/cli_<topic>.py`` module, in the order of ``monitor --help``
    (the modules import :mod:`monitor.cli_common` for their helpers, never this module)."""
    from monitor import cli_pipeline, cli_plot, cli_reports, cli_results, cli_simulate, cli_site, cli_status
    from monitor.cli_alerts import alerts_app
    from monitor.cli_config import config_app
    from monitor.cli_export import export_app
    from monitor.cli_reference import reference_app
    from monitor.cli_web import serve
    from monitor.cli_worker import worker

    app.add_typer(cli_site.db_app, name="db")  # monitor db upgrade|downgrade|current|history
    for command in (cli_site.init,                                                 # site
                    cli_pipeline.ingest, cli_pipeline.process,                     # the work
                    cli_results.traces,
                    cli_status.status, cli_status.check,                           # health
                    cli_results.results,                                           # ICD 5 export
                    cli_reports.report, cli_pipeline.daemon,
                    cli_simulate.simulate, cli_simulate.demo):
        app.command()(command)
    app.command("plot")(cli_plot.plot)  # one report figure as PNG/SVG (issue 20)
    app.command("reports")(cli_reports.reports_list)  # archived reports and their e-mails (issue 20)
    app.command()(serve)  # the read-only web dashboard
    app.command()(worker)  # units of work shared by several workers (issue 18)
    app.add_typer(export_app, name="export")  # GLOD, lunar comparison (ICD 6)
    app.add_typer(alerts_app, name="alerts")  # calibration alerts and their states (issue 20)
    app.add_typer(config_app, name="config")  # config check|show (issue 20)
    app.add_typer(reference_app, name="reference")  # reference index DIR: the REF-2 library's index (issue 14)


if __name__ == "__main__":  # pragma: no cover
    # ``python -m monitor.cli``: run the importable module, whose sub-commands register without a
    # circular import of this ``__main__`` copy
    from monitor.cli import app as _app

    _app()
else:
    _register_subcommands()
