"""The star reference model's site-installed inputs (ICD 2.2b): what ``monitor init`` and
``monitor status`` say about the model (which is active and why: library found, its checksum; or
that REF-1 runs without a library), and ``monitor reference index DIR``, which writes the
``index.csv`` of a directory of the public Pickles (1998) UVKLIB files. Registered by :mod:`monitor.cli`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from monitor.calibration.star_model import resolve_star_model
from monitor.cli_common import UserError, out, user_errors
from monitor.settings import ConfigError, Settings

__all__ = ["reference_app", "star_model_line", "star_model_doc"]

reference_app = typer.Typer(no_args_is_help=True, help="Install the star reference inputs (REF-2 spectral library).")


@reference_app.command("index")
@user_errors
def reference_index(
    directory: Annotated[Path, typer.Argument(help="Directory of the Pickles UVKLIB uk*.dat files.")],
    readme: Annotated[
        Path | None, typer.Option("--readme", help="The CDS ReadMe of J/PASP/110/863 (default: DIRECTORY/ReadMe).")
    ] = None,
) -> None:
    """Write DIRECTORY/index.csv: each uk*.dat file the ReadMe lists, its spectral type and
    luminosity class, and its synthetic B-V and V-I (ICD 2.2b item 1). Then name DIRECTORY in
    [reference] star_library."""
    from monitor.calibration.star_model import build_library_index
    from monitor.io.star_library import LibraryError, load_star_library

    if not directory.is_dir():
        raise UserError(f"{directory} is not a directory")
    try:
        path, n = build_library_index(directory, readme)
        library = load_star_library(directory.resolve())  # what the system will read
    except LibraryError as exc:
        raise UserError(str(exc)) from None
    out.print(f"{path}: {n} templates; library sha256 {library.checksum[:16]}", highlight=False, markup=False)


def star_model_line(settings: Settings) -> str:
    """One line: ``star reference model REF-2: default with a library; library ... found ...``."""
    try:
        return resolve_star_model(settings).describe()
    except ConfigError as exc:
        return f"star reference model: configuration error: {exc}"


def star_model_doc(settings: Settings) -> dict[str, Any]:
    """The same for ``status --format json``: model, reason, library checksum, RSR directory."""
    try:
        choice = resolve_star_model(settings)
    except ConfigError as exc:
        return {"model": None, "error": str(exc)}
    return {"model": choice.model, "reason": choice.reason, **choice.record()}
