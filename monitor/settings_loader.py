"""Loading of the settings (:func:`monitor.settings.load_settings`): ``monitor.toml`` merged with the
``MONITOR_*`` overrides, validated by pydantic against the kinds of value the sections declare.

Imported by ``load_settings`` when settings are read (the command line, the daemon, the tests), not by
the job child processes that only unpickle a :class:`~monitor.settings.Settings`: pydantic-settings and
the validating model cost ~0.1 s of start-up per process.

pydantic-settings reads the ``MONITOR_*`` overrides (:class:`_EnvironmentSource`, from the given
mapping), and pydantic validates the file's values merged with them against :data:`_SiteFile`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import fields, is_dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError, create_model
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from monitor.settings import ConfigError, Settings, SiteSettings
from monitor.settings_types import DatabaseUrl, LogLevel, error_lines, one_line

__all__ = ["load", "check", "effective"]

_ENV_PREFIX = "MONITOR_"
_TEST_ENV_PREFIX = "MONITOR_TEST_"  # the test harness's variables (tests/harness.py), never read here
_SITE_ENV = "MONITOR_SITE"  # the site directory, not a key of monitor.toml
_SECRET_KEYS = ("database_password", "smtp.password", "web.password")  # from the environment only
_NEVER_ECHOED = (*_SECRET_KEYS, "database_url")  # a database URL may hold a password
_EMPTY_MEANS_UNSET = ("MONITOR_DATABASE_URL", "MONITOR_LOG_LEVEL")  # an empty one leaves the file's value


class _SiteFileKeys(BaseSettings):
    """The top-level keys of ``monitor.toml`` and the ``[site]`` table; :data:`_SiteFile` adds the sections.

    Its configuration tells :class:`_EnvironmentSource` how environment names map to keys; it is built
    from the values :func:`load_settings` gathered (the file merged with the given environment) and reads
    no source of its own.
    """

    model_config = SettingsConfigDict(env_prefix=_ENV_PREFIX, env_nested_delimiter="_", env_nested_max_split=1,
                                      case_sensitive=False, extra="forbid", frozen=True)

    database_url: DatabaseUrl = "sqlite:///monitor.db"
    database_password: str = ""
    log_level: LogLevel = "INFO"
    site: SiteSettings = SiteSettings()

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the values :func:`load_settings` passes (never ``os.environ`` or a .env file directly)."""
        return (init_settings,)


# ``monitor.toml`` merged with the MONITOR_* overrides, as pydantic validates it: the keys above plus one
# table per section of Settings (a section added to Settings is read, overridden and checked with no more).
_SECTION_NAMES = tuple(f.name for f in fields(Settings) if is_dataclass(f.default))
_SECTION_FIELDS: dict[str, Any] = {f.name: (type(f.default), f.default) for f in fields(Settings)
                                   if f.name in _SECTION_NAMES}
_SiteFile = create_model("_SiteFile", __base__=_SiteFileKeys, **_SECTION_FIELDS)


def _check_between_keys(settings: Settings) -> None:
    """The rules that tie two keys together (each key alone is checked by its kind of value)."""
    if settings.star.reference_half_width_px not in settings.star.half_widths_px:
        raise ConfigError("star.reference_half_width_px must be one of star.half_widths_px")
    if not settings.moon.min_phase_deg < settings.moon.max_phase_deg:
        raise ConfigError(f"moon.min_phase_deg ({settings.moon.min_phase_deg!r}) must be below moon.max_phase_deg "
                          f"({settings.moon.max_phase_deg!r})")


class _EnvironmentSource(EnvSettingsSource):
    """The ``MONITOR_<SECTION>_<KEY>`` overrides of a given environment mapping, as nested values."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(_SiteFile)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {name.lower(): value for name, value in self._environ.items()}


def _env_names() -> set[str]:
    """Every ``MONITOR_*`` name that is a setting: one per top-level key, one per key of a section."""
    names = {_SITE_ENV}
    for name, info in _SiteFile.model_fields.items():
        if is_dataclass(info.default):
            names |= {f"{_ENV_PREFIX}{name}_{f.name}".upper() for f in fields(info.default)}
        else:
            names.add(f"{_ENV_PREFIX}{name}".upper())
    return names


def _overrides(env: Mapping[str, str]) -> dict[str, str]:
    """The ``MONITOR_*`` variables that override keys; any other ``MONITOR_*`` one is an error (a misspelt
    override, ``MONITOR_SMTP_HOTS``, must not be silently ignored). ``MONITOR_TEST_*`` is left to the tests."""
    mine = {k: v for k, v in env.items() if k.startswith(_ENV_PREFIX) and not k.startswith(_TEST_ENV_PREFIX)}
    unknown = sorted(set(mine) - _env_names())
    if unknown:
        raise ConfigError(f"unknown environment variable(s) {', '.join(unknown)}: not a setting (the names are "
                          "MONITOR_<SECTION>_<KEY> of the keys of monitor.toml, e.g. MONITOR_SMTP_HOST)")
    return {k: v for k, v in mine.items() if k != _SITE_ENV and not (k in _EMPTY_MEANS_UNSET and not v)}


def _read_file(path: Path) -> dict[str, Any]:
    """The TOML file's values (none if there is no file); a password in it is refused, not echoed."""
    if not path.is_file():
        return {}
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    hidden = sorted(key for key in raw if key.startswith("_"))  # BaseSettings would take them as its arguments
    if hidden:
        raise ConfigError(f"unknown key(s) in {path}: {', '.join(hidden)}")
    if any(_has_key(raw, key) for key in _SECRET_KEYS):
        raise ConfigError(f"{path}: passwords must not be stored in the configuration file; set "
                          "MONITOR_SMTP_PASSWORD / MONITOR_DATABASE_PASSWORD / MONITOR_WEB_PASSWORD in the environment")
    if "database_url" in raw and _has_password(raw["database_url"]):
        raise ConfigError(
            f"{path}: database_url must not contain a password (it is not shown here); remove it from the "
            "URL and set MONITOR_DATABASE_PASSWORD, or the whole URL in MONITOR_DATABASE_URL, in the environment"
        )
    return raw


def _has_key(raw: Mapping[str, Any], dotted: str) -> bool:
    """Whether the file sets ``dotted`` (``smtp.password``)."""
    *tables, key = dotted.split(".")
    for table in tables:
        raw = raw.get(table)  # type: ignore[assignment]
        if not isinstance(raw, dict):
            return False
    return key in raw


def _merge(file: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The file's values with the environment's on top, table by table (a file value that should be a
    table and is not stays, so that its error is reported)."""
    out = dict(file)
    for key, value in overrides.items():
        if isinstance(value, dict) and key in file:
            out[key] = _merge(file[key], value) if isinstance(file[key], dict) else file[key]
        else:
            out[key] = value
    return out


def _has_password(url: object) -> bool:
    """Whether a database URL carries a password (``scheme://user:password@host/db``)."""
    try:
        return urlsplit(str(url)).password is not None
    except ValueError:  # unparsable netloc: look for the user:password@ form by hand
        netloc = str(url).partition("://")[2].partition("/")[0]
        return "@" in netloc and ":" in netloc.rpartition("@")[0]


def _resolve_sqlite_path(url: str, site: Path) -> str:
    """Make a relative SQLite path relative to the site directory, not the working directory."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////") and url != "sqlite:///:memory:":
        return prefix + str(site / url[len(prefix) :])
    return url


def _parse_instruments(raw: object, site: Path) -> tuple[tuple[str, Path], ...]:
    """``[instruments."<name>"] srf = "<path>"``: the GSICS SRF file of each GLOD instrument (ICD 6; a
    relative path is relative to the site). One-line errors for anything else; no environment override
    (instrument names are free text)."""
    if not isinstance(raw, dict):
        raise ConfigError('[instruments] must be tables: [instruments."MSG3 SEVIRI"] srf = "<SRF netCDF file>"')
    out = []
    for name, table in raw.items():
        if not isinstance(table, dict) or set(table) != {"srf"} or not isinstance(table["srf"], str) \
                or not table["srf"].strip():
            raise ConfigError(f'[instruments."{name}"] must hold exactly one key, srf = "<SRF netCDF file>"')
        out.append((" ".join(str(name).split()), site / Path(table["srf"]).expanduser()))
    return tuple(out)


def load(site: Path | str | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """:func:`monitor.settings.load_settings`."""
    env = os.environ if env is None else env
    overrides = _overrides(env)
    site_path = Path(site if site is not None else env.get(_SITE_ENV, ".")).expanduser().resolve()
    toml_path = site_path / "monitor.toml"
    file_values = _read_file(toml_path)
    instruments = _parse_instruments(file_values.pop("instruments", {}), site_path)
    values = _merge(file_values, _EnvironmentSource(overrides)())
    try:
        loaded = _SiteFile(**values)
    except ValidationError as exc:
        raise ConfigError(one_line(exc, environ=overrides, secret_keys=_NEVER_ECHOED, file=toml_path)) from None
    sections = {name: getattr(loaded, name) for name in _SECTION_NAMES}
    if sections["smtp"].ca_file:
        smtp = sections["smtp"]
        sections["smtp"] = replace(smtp, ca_file=str(site_path / Path(smtp.ca_file).expanduser()))
    settings = Settings(
        site=site_path,
        database_url=_resolve_sqlite_path(loaded.database_url, site_path),
        database_password=loaded.database_password,
        log_level=loaded.log_level,
        umask=loaded.site.umask,
        instruments=instruments,
        **sections,
    )
    _check_between_keys(settings)
    return settings


def check(site: Path | str | None = None, env: Mapping[str, str] | None = None) -> list[str]:
    """Every problem of a site's configuration, one line each, without running anything
    (``monitor config check``): what :func:`load` checks (each bad key, not only the first; cron
    expressions with the daemon's parser, campaign periods, ranges, addresses, the database URL and
    its driver, unknown ``MONITOR_*`` variables), and the files it names (the SRF file of each GLOD
    instrument, ``[smtp] ca_file``) and the site's directories, which only a run would find missing."""
    env = os.environ if env is None else env
    problems: list[str] = []
    mine = {k: v for k, v in env.items() if k.startswith(_ENV_PREFIX) and not k.startswith(_TEST_ENV_PREFIX)}
    problems += [f"unknown environment variable {k}: not a setting (the names are MONITOR_<SECTION>_<KEY>)"
                 for k in sorted(set(mine) - _env_names())]
    overrides = {k: v for k, v in mine.items() if k in _env_names() and k != _SITE_ENV
                 and not (k in _EMPTY_MEANS_UNSET and not v)}
    site_path = Path(site if site is not None else env.get(_SITE_ENV, ".")).expanduser().resolve()
    toml_path = site_path / "monitor.toml"
    if not site_path.is_dir():
        problems.append(f"site {site_path}: not a directory (monitor init {site_path} creates a site)")
    elif not toml_path.exists() and not (site_path / "inbox").exists():
        problems.append(f"{site_path} is not a monitor site: no monitor.toml, no inbox/ (monitor init {site_path} "
                        "creates one; or give --site / MONITOR_SITE)")
    for sub in ("inbox", "archive", "quarantine", "reports"):
        if (site_path / sub).exists() and not (site_path / sub).is_dir():
            problems.append(f"{site_path / sub}: not a directory")
    try:
        file_values = _read_file(toml_path)
    except ConfigError as exc:
        return [*problems, str(exc)]
    try:
        instruments = _parse_instruments(file_values.pop("instruments", {}), site_path)
    except ConfigError as exc:
        problems.append(str(exc))
        instruments = ()
    problems += [f'[instruments."{name}"] srf: no such file {path}' for name, path in instruments if not path.is_file()]
    values = _merge(file_values, _EnvironmentSource(overrides)())
    try:
        loaded = _SiteFile(**values)
    except ValidationError as exc:
        return problems + error_lines(exc, environ=overrides, secret_keys=_NEVER_ECHOED, file=toml_path)
    ca_file = loaded.smtp.ca_file  # type: ignore[attr-defined]
    if ca_file and not (site_path / Path(ca_file).expanduser()).is_file():
        problems.append(f"smtp.ca_file: no such file {site_path / Path(ca_file).expanduser()}")
    try:  # the rules between keys (each key alone has passed)
        load(site_path, {k: v for k, v in env.items() if k in _env_names()})
    except ConfigError as exc:
        problems.append(str(exc))
    return problems


def effective(site: Path | str | None = None, env: Mapping[str, str] | None = None
              ) -> tuple[Settings, list[tuple[str, Any, str]]]:
    """The settings of a site and, for each key (dotted: ``smtp.port``), its effective value and
    where it came from: ``default``, ``file`` (monitor.toml) or ``env MONITOR_...`` (``monitor
    config show``). The values of secrets are masked (``***`` when set), a database URL's password
    hidden. Raises :class:`ConfigError` like :func:`load`."""
    env = os.environ if env is None else env
    settings = load(site, env)
    overrides = _overrides(env)
    file_values = _read_file(settings.site / "monitor.toml")

    def source(path: tuple[str, ...]) -> str:
        name = (_ENV_PREFIX + "_".join(path)).upper()
        if name in overrides:
            return f"env {name}"
        raw: Any = file_values
        for part in path:
            if not isinstance(raw, dict) or part not in raw:
                return "default"
            raw = raw[part]
        return "file"

    from monitor.catalogue.engine import redact_url

    rows: list[tuple[str, Any, str]] = [
        ("site", str(settings.site), "--site or MONITOR_SITE" if site is not None or _SITE_ENV in env
         else "default (the current directory)"),
        ("database_url", redact_url(settings.database_url), source(("database_url",))),
        ("database_password", "***" if settings.database_password else "", source(("database_password",))),
        ("log_level", settings.log_level, source(("log_level",))),
        ("site.umask", f"{settings.umask:03o}", source(("site", "umask"))),
    ]
    for section in _SECTION_NAMES:
        if section == "site":
            continue
        obj = getattr(settings, section)
        for f in fields(obj):
            value = getattr(obj, f.name)
            if f"{section}.{f.name}" in _SECRET_KEYS:
                value = "***" if value else ""
            elif isinstance(value, tuple):
                value = list(value)
            rows.append((f"{section}.{f.name}", value, source((section, f.name))))
    rows += [(f'instruments."{name}".srf', str(path), "file") for name, path in settings.instruments]
    return settings, rows
