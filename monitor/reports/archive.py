"""The archive of the report PDFs.

The PDF is written to ``<site>/reports/monitor-report-<period>.pdf`` (a new version of the same
period gets ``-v2``, ``-v3``...; an existing file is never overwritten) through a temporary file
and a hard link, next to a ``.txt`` file holding the e-mail body. Then the use-case commits one
``report`` row (path, SHA-256, pages, size) and, when sending, one ``outbox`` row per recipient
together (:func:`monitor.reports.service.run_report`).
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from monitor.fsutil import write_new
from monitor.settings import Settings

__all__ = ["ArchivedReport", "archive_report"]


@dataclass(frozen=True)
class ArchivedReport:
    """A report PDF in the archive."""

    path: Path
    stored_path: str  # as the catalogue records it: relative to the site when inside it
    sha256: str
    size_bytes: int


def archive_report(settings: Settings, stem: str, pdf: bytes, mail_body: Callable[[str], str]) -> ArchivedReport:
    """Write ``pdf`` into the site's reports directory under a new name (``stem.pdf``,
    ``stem-v2.pdf``...), and beside it the e-mail body ``mail_body(<name of the PDF>)``."""
    path = _write_new(settings.reports_dir, stem, pdf)
    path.with_suffix(".txt").write_text(mail_body(path.name), encoding="utf-8")
    return ArchivedReport(path=path, stored_path=_stored_path(settings, path), sha256=hashlib.sha256(pdf).hexdigest(),
                          size_bytes=len(pdf))


def _write_new(directory: Path, stem: str, pdf: bytes) -> Path:
    """Write ``pdf`` under a name not used yet (``stem.pdf``, ``stem-v2.pdf``...), atomically.

    The bytes go to a temporary file (fsync'd) that is then hard-linked to the final name; the
    link fails if the name exists, so nothing is ever overwritten (:func:`monitor.fsutil.write_new`).
    """
    names = (f"{stem}.pdf" if version == 1 else f"{stem}-v{version}.pdf" for version in itertools.count(1))
    return write_new(directory, names, pdf, tmp_name=f".{stem}.{os.getpid()}.tmp")


def _stored_path(settings: Settings, path: Path) -> str:
    try:
        return str(path.relative_to(settings.site))
    except ValueError:
        return str(path)
