"""The kinds of value of the settings (:mod:`monitor.settings`): type, range, and the wording of their errors.

Each kind is an ``Annotated`` type that pydantic checks when ``monitor.toml`` and the ``MONITOR_*``
overrides are loaded; a section of the settings declares each key with one of them. Constructing a
settings object in code does not check it (a test may build an invalid one on purpose).

Our own checks raise ``ValueError`` with the whole requirement and the value ("must be > 0, not
-1.0"); :func:`one_line` turns pydantic's errors into the one line the command line prints, naming
the key (``smtp.port``), and the environment variable when the value came from one
(``MONITOR_SMTP_PORT (smtp.port)``). Values of secret keys (passwords, a database URL that may hold
one) are never repeated.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Mapping
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, ValidationError

__all__ = [
    "Integer",
    "PositiveInteger",
    "NonNegativeInteger",
    "Number",
    "Positive",
    "NonNegative",
    "Degrees",
    "Port",
    "EmailAddress",
    "Addresses",
    "Cron",
    "CampaignPeriod",
    "HalfWidths",
    "Umask",
    "LogLevel",
    "DatabaseUrl",
    "Flag",
    "choice",
    "at_most",
    "one_line",
    "error_lines",
]


def _fail(requirement: str, value: Any) -> ValueError:
    return ValueError(f"{requirement}, not {value!r}")


def _parsed(convert: Callable[[str], Any], accepted: tuple[type, ...], requirement: str) -> BeforeValidator:
    """A value of an ``accepted`` type from TOML (true is not a number), or ``convert``-ed from an
    environment string ("12")."""

    def check(value: Any) -> Any:
        if isinstance(value, str):
            try:
                return convert(value.strip())
            except ValueError:
                raise _fail(requirement, value) from None
        if isinstance(value, bool) or not isinstance(value, accepted):
            raise _fail(requirement, value)
        return value

    return BeforeValidator(check)


_INTEGER = _parsed(int, (int,), "must be an integer")  # 2.7, "2.0" and true are not integers
_NUMBER = _parsed(float, (int, float), "must be a number")


def _requires(test: Callable[[Any], bool], requirement: str) -> AfterValidator:
    def check(value: Any) -> Any:
        if not test(value):
            raise _fail(requirement, value)
        return value

    return AfterValidator(check)


def at_most(limit: float, requirement: str) -> AfterValidator:
    """A number not above ``limit`` (``requirement`` says why, e.g. "must be at most 144 (6 days)")."""
    return _requires(lambda v: v <= limit, requirement)


def choice(*allowed: Any) -> AfterValidator:
    """One of a few values (for integers: ``kepler_order`` 2 or 3)."""
    return _requires(lambda v: v in allowed, "must be " + " or ".join(str(a) for a in allowed))


def _finite(v: float) -> bool:
    return math.isfinite(v)


Integer = Annotated[int, _INTEGER]
PositiveInteger = Annotated[int, _INTEGER, _requires(lambda v: v > 0, "must be > 0")]
NonNegativeInteger = Annotated[int, _INTEGER, _requires(lambda v: v >= 0, "must be >= 0")]
Number = Annotated[float, _NUMBER]
# Positive and non-negative numbers are finite too (nan and inf are refused).
Positive = Annotated[float, _NUMBER, _requires(lambda v: _finite(v) and v > 0, "must be > 0")]
NonNegative = Annotated[float, _NUMBER, _requires(lambda v: _finite(v) and v >= 0, "must be >= 0")]
Degrees = Annotated[float, _NUMBER, _requires(lambda v: 0.0 <= v <= 180.0,
                                                                "must be within 0-180 degrees")]
Port = Annotated[int, _INTEGER, _requires(lambda v: 1 <= v <= 65535, "must be within 1-65535")]


def _flag(value: Any) -> Any:
    """true/false in TOML; 1/true/yes/on or 0/false/no/off in the environment."""
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("1", "true", "yes", "on"):
            return True
        if word in ("0", "false", "no", "off"):
            return False
        raise _fail("must be true or false", value)
    return bool(value)


Flag = Annotated[bool, BeforeValidator(_flag)]


def _items(value: Any) -> Any:
    """A TOML list, or a comma-separated environment string ("3,5"); empty items are dropped."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise _fail("must be a list", value)
    return tuple(i.strip() if isinstance(i, str) else i for i in items if i != "")


_ADDRESS = re.compile(r"[^@\s,;<>\"]+@[^@\s,;<>\"]+")


def _email_address(value: str) -> str:
    """``user@host`` or ``Name <user@host>``, nothing else (no list in one string)."""
    display, addr = parseaddr(value)
    if not _ADDRESS.fullmatch(addr) or ("<" in value) != bool(display or value.strip().startswith("<")):
        raise ValueError(f"is not an e-mail address (user@host or Name <user@host>): {value!r}")
    return value


EmailAddress = Annotated[str, AfterValidator(_email_address)]
Addresses = Annotated[tuple[EmailAddress, ...], BeforeValidator(_items)]
HalfWidths = Annotated[tuple[Integer, ...], BeforeValidator(_items),
                       _requires(lambda v: len(v) > 0 and min(v) >= 1, "must be a non-empty list of positive integers")]


def _cron(value: str) -> str:
    """A 5-field crontab expression, checked by the daemon's own parser (APScheduler)."""
    from monitor.scheduler.wiring import cron_trigger  # the daemon's parser; imports the settings

    try:
        cron_trigger(value)
    except ValueError as exc:
        raise ValueError(f"is not a valid cron expression ({exc})") from None
    return value


Cron = Annotated[str, AfterValidator(_cron)]

_PERIOD = re.compile(r"[0-9]+d")


def _campaign_period(period: str) -> str:
    """``month`` or ``<n>d`` with n >= 1 (the rule of monitor.calibration.star_photometry.campaign_period)."""
    if period != "month" and not (_PERIOD.fullmatch(period) and int(period[:-1]) > 0):
        raise _fail('must be "month" or a number of days like "14d"', period)
    return period


CampaignPeriod = Annotated[str, AfterValidator(_campaign_period)]


def _umask(value: Any) -> Any:
    """``[site] umask``: an octal string of 3 or 4 digits ("027") that leaves the owner rwx."""
    text = value.strip() if isinstance(value, str) else None
    if not text or len(text) > 4 or any(c not in "01234567" for c in text):
        raise _fail('must be an octal string like "027" (in quotes)', value)
    mask = int(text, 8)
    if mask > 0o777 or mask & 0o700:
        raise _fail("must leave the owner read, write and search permission (000-077)", text)
    return mask


Umask = Annotated[int, BeforeValidator(_umask)]

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _log_level(value: Any) -> Any:
    if not isinstance(value, str) or value.upper() not in _LOG_LEVELS:
        raise _fail(f"must be one of {', '.join(_LOG_LEVELS)}", value)
    return value.upper()


LogLevel = Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(_log_level)]


def _database_url(value: Any) -> str:
    """A parsable SQLAlchemy URL of a supported back end (SQLite, PostgreSQL) whose driver is installed.

    The messages never contain the URL: it may hold a password (from ``MONITOR_DATABASE_URL``).
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        url = make_url(str(value))
    except (ArgumentError, ValueError):
        raise ValueError("is not a SQLAlchemy URL (e.g. sqlite:///monitor.db or "
                         "postgresql+psycopg://monitor@dbhost:5432/monitor)") from None
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"uses an unsupported database {backend!r} (sqlite or postgresql)")
    try:
        url.set(drivername="postgresql+psycopg" if url.drivername == "postgresql" else url.drivername).get_dialect()
    except (NoSuchModuleError, ImportError) as exc:
        raise ValueError(f"names a driver that is not available: {url.drivername!r} ({exc})") from None
    return str(value)


DatabaseUrl = Annotated[str, BeforeValidator(_database_url)]

# ------------------------------------------------------------------------------ error wording

# pydantic's own error types, in our words (our checks above already say everything themselves)
_REQUIREMENT = {
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "literal_error": "must be one of {expected}",
    "tuple_type": "must be a list",
}
_TABLE_ERRORS = {"dataclass_type", "dataclass_exact_type", "model_type", "dict_type"}
_UNKNOWN_ERRORS = {"extra_forbidden", "unexpected_keyword_argument"}


def one_line(exc: ValidationError, *, environ: Mapping[str, str], secret_keys: Collection[str],
             file: Path, env_prefix: str = "MONITOR_") -> str:
    """The first error of a failed load as one line that names the key (and its environment variable).

    Unknown keys come first (all of one table together), then the other errors in the order of the
    settings. A secret key's value is never repeated.
    """
    return error_lines(exc, environ=environ, secret_keys=secret_keys, file=file, env_prefix=env_prefix)[0]


def error_lines(exc: ValidationError, *, environ: Mapping[str, str], secret_keys: Collection[str],
                file: Path, env_prefix: str = "MONITOR_") -> list[str]:
    """Every error of a failed load, one line each, in the order and words of :func:`one_line`
    (``monitor config check``)."""
    errors = exc.errors(include_url=False)
    lines: list[str] = []
    unknown = [e for e in errors if e["type"] in _UNKNOWN_ERRORS]
    for table in dict.fromkeys(e["loc"][:-1] for e in unknown):
        keys = sorted(str(e["loc"][-1]) for e in unknown if e["loc"][:-1] == table)
        lines.append(f"unknown key(s) in {f'[{table[0]}]' if table else file}: {', '.join(keys)}")
    lines += [_error_line(e, environ, secret_keys, env_prefix) for e in errors if e["type"] not in _UNKNOWN_ERRORS]
    return lines


def _error_line(error: Any, environ: Mapping[str, str], secret_keys: Collection[str], env_prefix: str) -> str:
    path = [str(part) for part in error["loc"] if isinstance(part, str)]
    if not path:  # a rule between keys: its message names them
        return str(error["ctx"]["error"]) if "error" in error.get("ctx", {}) else str(error["msg"])
    if error["type"] in _TABLE_ERRORS and len(path) == 1:
        return f"[{path[0]}] must be a table (a [{path[0]}] section), not {error['input']!r}"
    env_name = env_prefix + "_".join(path).upper()
    name = f"{env_name} ({'.'.join(path)})" if env_name in environ else ".".join(path)
    if error["type"] == "value_error":
        requirement = str(error["ctx"]["error"])
    else:
        requirement = _REQUIREMENT.get(error["type"], str(error["msg"])).format(**error.get("ctx", {}))
        if ".".join(path) not in secret_keys:
            requirement += f", not {error['input']!r}"
    return f"{name} {requirement}"
