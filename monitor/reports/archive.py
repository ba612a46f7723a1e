"""The archive of the report PDFs.

The PDF is written to ``<site>/reports/monitor-report-<period>.pdf`` (a new version of the same
period gets ``-v2``, ``-v3``...; an existing file is never overwritten) through a temporary file
and a hard link, next to a ``.txt`` file holding the e-mail body. Then one ``report`` row
(path, SHA-256, pages, size) and, when sending, one ``outbox`` row per recipient are committed
together.
"""

from __future__ import annotations

import os
import re
import zlib
from pathlib import Path

from monitor.settings import Settings

__all__ = [
    "count_pdf_pages",
]


def count_pdf_pages(pdf: bytes) -> int:
    """Number of page objects of a PDF written by WeasyPrint.

    WeasyPrint (pydyf) puts most objects into compressed object streams, so page dictionaries are
    looked for both in the plain file and inside every Flate-compressed stream.
    """
    page = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")
    n = len(page.findall(pdf))
    for m in re.finditer(rb"stream\r?\n", pdf):
        end = pdf.find(b"endstream", m.end())
        if end < 0:
            break
        try:
            data = zlib.decompressobj().decompress(pdf[m.end():end])
        except zlib.error:
            continue
        n += len(page.findall(data))
    return n


def _write_new(directory: Path, stem: str, pdf: bytes) -> Path:
    """Write ``pdf`` under a name not used yet (``stem.pdf``, ``stem-v2.pdf``...), atomically.

    The bytes go to a temporary file (fsync'd) that is then hard-linked to the final name; the
    link fails if the name exists, so nothing is ever overwritten.
    """
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{stem}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(pdf)
        f.flush()
        os.fsync(f.fileno())
    try:
        version = 1
        while True:
            name = f"{stem}.pdf" if version == 1 else f"{stem}-v{version}.pdf"
            target = directory / name
            try:
                os.link(tmp, target)
                break
            except FileExistsError:
                version += 1
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return target


def _stored_path(settings: Settings, path: Path) -> str:
    try:
        return str(path.relative_to(settings.site))
    except ValueError:
        return str(path)
