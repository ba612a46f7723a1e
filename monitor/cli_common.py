"""What every ``monitor`` sub-command shares: the output consoles, the ``--site`` option, the
one-line error handling (:func:`user_errors` and its exit codes), the settings of this invocation
and the checks of a selection (satellite, band, time interval, star).

The commands live in ``monitor/cli_<topic>.py`` by family; :mod:`monitor.cli` registers them in
the order of ``monitor --help``.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from monitor.logconfig import configure_logging, stderr_console
from monitor.settings import ConfigError, Settings, load_settings

log = logging.getLogger("monitor.cli")

# Without a terminal (journald, a pipe, cron) a line is never wrapped at the console's width: one
# message is one line; and a table is laid out for 200 columns (COLUMNS, when set, decides), not
# rich's default of 80, which truncated its cells with an ellipsis in a pipe or a log.
NO_TERMINAL_WIDTH = 200
out = Console(soft_wrap=not sys.stdout.isatty())


def fit_output_to_environment() -> None:
    """Lay ``out`` out for this invocation: the terminal's width, else COLUMNS, else 200 columns."""
    if out.is_terminal:
        return
    columns = os.environ.get("COLUMNS", "")
    out.width = int(columns) if columns.isdigit() and int(columns) > 0 else NO_TERMINAL_WIDTH
err = stderr_console()  # shared with the rich log handler and the progress bars

SiteOption = Annotated[
    Path | None,
    typer.Option("--site", envvar="MONITOR_SITE", help="Site directory (default: MONITOR_SITE or .)"),
]

F = TypeVar("F", bound=Callable[..., Any])


class UserError(Exception):
    """A mistake of the user or of the environment, reported in one line."""


class UsageError(UserError):
    """Bad arguments (a selection that cannot match anything): one line, exit status 2."""


def print_error(message: str) -> None:
    """One ``error:`` line on stderr: no rich markup in the message, no wrapping, no control character."""
    from monitor.domain import printable_name

    err.print(Text.assemble(("error:", "red"), " ", printable_name(message)), soft_wrap=True)


def user_errors(fn: F) -> F:
    """Turn failures into one ``error: ...`` line and an exit code, never a traceback.

    2 for configuration and usage errors; 75 when another run of the same operation holds the
    site's lock (:class:`monitor.catalogue.locks.SiteBusyError`); 1 for everything else: the user's or the environment's
    mistakes, transient failures (catalogue unreachable, file system errors), and, as a last
    resort, a defect of the code (its traceback is logged at DEBUG level: ``MONITOR_LOG_LEVEL=DEBUG``).
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from monitor.catalogue.engine import DatabaseUnavailableError
        from monitor.catalogue.locks import BUSY_EXIT_CODE, SiteBusyError
        from monitor.failures import is_transient
        from monitor.site import SchemaOutdatedError

        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except ConfigError as exc:
            print_error(f"configuration: {exc}")
            raise typer.Exit(2) from None
        except UsageError as exc:
            print_error(str(exc))
            raise typer.Exit(2) from None
        except SiteBusyError as exc:
            print_error(str(exc))
            raise typer.Exit(BUSY_EXIT_CODE) from None
        except (UserError, DatabaseUnavailableError, SchemaOutdatedError, FileNotFoundError,
                PermissionError, NotADirectoryError) as exc:
            print_error(str(exc))
            raise typer.Exit(1) from None
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [""])[0]
            if is_transient(exc):
                print_error(f"{type(exc).__name__}: {first} (nothing was lost; run the command again later)")
            else:
                log.debug("internal error", exc_info=True)
                print_error(f"internal error: {type(exc).__name__}: {first} (run with --verbose, or "
                       "MONITOR_LOG_LEVEL=DEBUG, for the traceback; please report it)")
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


# --verbose / --quiet: the log level of this command whatever log_level says (None: log_level)
_log_override: str | None = None


def set_log_override(level: str | None) -> None:
    """``--verbose``/``--quiet`` of this invocation: DEBUG, WARNING, or None (``log_level`` decides)."""
    global _log_override
    _log_override = level


def log_level(configured: str) -> str:
    return _log_override or configured


def site_settings(site: Path | None) -> Settings:
    from monitor.site import apply_umask

    settings = load_settings(site)
    apply_umask(settings)  # [site] umask, before any file is created
    configure_logging(log_level(settings.log_level))
    return settings


def parse_time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"{name}: not an ISO 8601 date/time: {value!r}") from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def check_selection(satellite: str | None, band: str | None, since: datetime | None = None,
                     until: datetime | None = None) -> None:
    """Refuse a selection that cannot match anything (an unknown satellite or band, a band of the
    other mission, an empty time interval) rather than answer with nothing."""
    from monitor.domain import BANDS_BY_MISSION, MISSION_OF_SATELLITE, Satellite

    known = [s.value for s in Satellite]
    if satellite is not None and satellite not in known:
        raise UsageError(f"unknown satellite {printable(satellite)!r} (one of {', '.join(known)})")
    if band is not None:
        missions = [MISSION_OF_SATELLITE[Satellite(satellite)]] if satellite is not None else list(BANDS_BY_MISSION)
        bands = list(dict.fromkeys(b for m in missions for b in BANDS_BY_MISSION[m]))
        if band not in bands:
            of = f"of {satellite}" if satellite is not None else "known"
            raise UsageError(f"unknown band {printable(band)!r}: the bands {of} are {', '.join(bands)}")
    if since is not None and until is not None and since >= until:
        raise UsageError(f"--since {since:%Y-%m-%dT%H:%M:%SZ} must be before --until {until:%Y-%m-%dT%H:%M:%SZ}")


def check_star(hip: int) -> None:
    """The star must be one of the reference star list (ICD 2.2)."""
    from monitor.reference_stars import is_reference_star

    if not is_reference_star(hip):
        raise UsageError(f"unknown star HIP {hip}: not in the reference star list")


def printable(text: str) -> str:
    from monitor.domain import printable_name

    return printable_name(text)


def plain(text: str) -> Text:
    """Text shown as is: no rich markup, control characters escaped."""
    from monitor.domain import printable_name

    return Text(printable_name(text))


def verdict(problems: list[str], ok_line: str, label: str) -> None:
    """The end of a check command: ``ok_line`` when there is no problem, else one ``label: problem``
    line each and exit status 1."""
    if not problems:
        out.print(ok_line, highlight=False)
        return
    for p in problems:
        out.print(plain(f"{label}: {p}"), soft_wrap=True)
    raise typer.Exit(1)
