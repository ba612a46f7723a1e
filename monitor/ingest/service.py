"""Ingest use-case: inbox -> checked, deduplicated catalogue rows + archive/quarantine.

:func:`run_ingest` is the entry function; each step has its own module:

1. :mod:`monitor.ingest.moves` finishes the moves a crash left half-done (recovery pass);
2. :mod:`monitor.ingest.inbox` lists the complete entries of the inbox and gives each a storable
   name;
3. :mod:`monitor.ingest.checking` hashes and validates each file (no database);
4. :mod:`monitor.ingest.decisions` decides on each file against the catalogue, in chunks of
   ``ingest.batch_files``, and archives or quarantines it with the crash-safe moves of
   :mod:`monitor.ingest.moves`.

Crash safety (a ``kill -9`` at any point loses nothing and never double-counts):

1. every decision about a file is first committed to the catalogue together with the file's
   final destination, in a "moving" state (``acquisition.status = 'archiving'`` or
   ``rejection.state = 'moving'``);
2. the file is then moved with an atomic rename (or copy + fsync + rename + unlink across
   file systems), and the destination directory is fsynced;
3. the state is then committed as done.

The crash tests kill the process at the named steps of :data:`FAULT_POINTS` (:data:`fault_hook`).
Only one ingest runs at a time per site (:mod:`monitor.catalogue.locks`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from monitor.catalogue.locks import site_operation
from monitor.ingest.checking import check_files
from monitor.ingest.decisions import Ingestor
from monitor.ingest.glod import recover_glod
from monitor.ingest.inbox import (
    clean_orphan_markers,
    complete_files,
    left_in_inbox,
    record_left,
    shown,
    storable_entries,
)
from monitor.ingest.moves import Mover
from monitor.ingest.summary import IngestSummary
from monitor.settings import Settings

__all__ = ["IngestSummary", "run_ingest", "complete_files", "left_in_inbox", "FAULT_POINTS"]

FAULT_POINTS = ("after_insert", "after_move", "after_reject_insert", "after_reject_move")

ProgressCallback = Callable[[int, int, str], None]


def _no_fault(point: str) -> None:
    """Production: the named steps of :data:`FAULT_POINTS` do nothing."""


# Test hook: called with the name of each step of :data:`FAULT_POINTS` as it is reached. Only
# Python code can set it (the crash tests' harness, ``tests/harness.py``, installs a
# hook that kills the process at a chosen step); no setting or environment variable reaches it.
fault_hook: Callable[[str], None] = _no_fault


def _fault(point: str) -> None:
    """Call :data:`fault_hook` as it is when the step is reached."""
    fault_hook(point)


@site_operation("ingest")  # one ingest at a time per site (monitor.catalogue.locks)
def run_ingest(
    session: Session, settings: Settings, now: datetime, progress: ProgressCallback | None = None
) -> IngestSummary:
    """Ingest every complete file of the inbox (ICD 1). Idempotent and restartable.

    Parameters
    ----------
    session
        Catalogue session (one per run).
    settings
        Site settings (inbox/archive/quarantine paths, settle time, batch size, size limits).
    now
        Aware UTC time of the run (file completeness and ``received_at``).
    progress
        Optional callback ``(done, total, file_name)`` for a progress display (names escaped).
    """
    for d in (settings.inbox, settings.archive, settings.quarantine):
        d.mkdir(parents=True, exist_ok=True)
    summary = IngestSummary()
    mover = Mover(session, settings, now, summary, _fault)
    mover.recover()
    recover_glod(mover)
    files, summary.waiting = complete_files(settings.inbox, now, settings.ingest.settle_seconds)
    files = storable_entries([f for f in files if f.name not in mover.stuck], summary)
    ing = Ingestor(session, settings, now, mover)
    done = 0

    def on_file(path: Path) -> None:
        nonlocal done
        if progress is not None:
            progress(done, len(files), shown(path))
        done += 1

    chunk = settings.ingest.batch_files
    try:
        for start in range(0, len(files), chunk):
            ing.ingest_chunk(check_files(files[start : start + chunk], settings, now, summary), on_file)
    except SQLAlchemyError:  # the catalogue failed: nothing half-done stays, the run stops
        session.rollback()
        ing.drop_staged()
        raise
    if progress is not None:
        progress(len(files), len(files), "")
    clean_orphan_markers(settings.inbox)
    record_left(settings, summary)
    return summary
