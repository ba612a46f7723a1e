"""``monitor init`` (a new site and its catalogue) and ``monitor db upgrade|downgrade|current|history``
(the catalogue schema, Alembic). Registered by :mod:`monitor.cli`."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from monitor.cli_common import SiteOption, UserError, out, site_settings, user_errors

db_app = typer.Typer(no_args_is_help=True, help="Catalogue schema (Alembic) management.")


@user_errors
def init(
    site_dir: Annotated[Path | None, typer.Argument(help="Site directory to create")] = None,
    site: SiteOption = None,
) -> None:
    """Create a site (inbox/, archive/, quarantine/, reports/, monitor.toml) and its catalogue."""
    from monitor.site import init_site

    target = site_dir or site
    if target is None:
        raise UserError("give the site directory: monitor init SITE (or --site / MONITOR_SITE)")
    settings = site_settings(target)
    actions = init_site(settings)
    for a in actions:
        out.print(f"  {a}", highlight=False)
    out.print(f"site ready: {settings.site}", highlight=False)
    from monitor.cli_reference import star_model_line

    out.print(star_model_line(settings), highlight=False, markup=False)  # "[reference]" is not markup


def _engine(site: Path | None, check: bool = False, create: bool = True) -> Any:
    from monitor.site import open_engine

    return open_engine(site_settings(site), check_schema=check, create=create)


@db_app.command("upgrade")
@user_errors
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision (default: head).")] = "head",
    site: SiteOption = None,
) -> None:
    """Upgrade the catalogue schema (default: to head)."""
    from monitor.catalogue import migrate

    engine = _engine(site)
    try:
        with _alembic_errors():
            migrate.upgrade(engine, revision)
        out.print(f"catalogue at {migrate.current_revision(engine)}")
    finally:
        engine.dispose()


@db_app.command("downgrade")
@user_errors
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. base (drops every table).")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    site: SiteOption = None,
) -> None:
    """Downgrade the catalogue schema to REVISION (e.g. base). Destroys data of dropped tables.

    Asks for confirmation on a terminal; without one, refuses unless ``--yes`` is given."""
    from monitor.catalogue import migrate
    from monitor.catalogue.engine import redact_url

    settings = site_settings(site)
    engine = _engine(site, create=False)
    try:
        current = migrate.current_revision(engine) or "base"
        if not yes:
            question = (f"downgrade the catalogue {redact_url(settings.database_url)} from {current} to "
                        f"{revision}? Data of the dropped tables and columns is lost")
            if not sys.stdin.isatty():
                raise UserError(f"refusing to {question[0].lower()}{question[1:]} without confirmation: "
                                "run it on a terminal or add --yes")
            if not typer.confirm(question, default=False):
                raise UserError("downgrade cancelled: nothing changed")
        with _alembic_errors():
            migrate.downgrade(engine, revision)
        out.print(f"catalogue at {migrate.current_revision(engine) or 'base'}")
    finally:
        engine.dispose()


@contextlib.contextmanager
def _alembic_errors() -> Iterator[None]:
    """A bad revision (unknown, or in the wrong direction) is the user's mistake: one line."""
    from alembic.util import CommandError

    try:
        yield
    except CommandError as exc:
        raise UserError(f"schema revision: {exc}") from None


@db_app.command("current")
@user_errors
def db_current(site: SiteOption = None) -> None:
    """Show the schema revision of the catalogue and the code's head revision."""
    from monitor.catalogue import migrate

    engine = _engine(site, create=False)
    try:
        cur, head = migrate.current_revision(engine), migrate.head_revision()
        out.print(f"current: {cur or 'base (empty)'}  head: {head}" + ("" if cur == head else "  (upgrade needed)"))
    finally:
        engine.dispose()


@db_app.command("history")
@user_errors
def db_history() -> None:
    """List the schema revisions shipped with this version."""
    from monitor.catalogue import migrate

    for line in migrate.history():
        out.print(line, highlight=False)
