"""Sequential reading of a FITS file, plain or gzip-compressed, that skips forward cheaply.

A ``.fits.gz`` is recognised from its content (``1f 8b``), not its name, and decompressed as it
is read; skipping data decompresses and discards it in 1 MiB chunks (``seek`` on a plain file).
Only damaged data are verdicts (:func:`open_stream`): a gzip stream cut short is ``TRUNCATED``, a
bad gzip header or checksum ``NOT_FITS``, corrupt deflate data ``UNREADABLE``; any other
``OSError`` propagates unchanged (transient).
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from monitor.domain import RejectReason
from monitor.fsutil import CHUNK_BYTES, open_regular
from monitor.io.errors import InvalidAcquisitionError, shown_name

__all__ = ["Stream", "open_stream"]


class Stream:
    """Sequential byte reader over a plain or gzip file that can skip forward cheaply."""

    def __init__(self, path: Path, data: bytes | None = None) -> None:
        self.path = path
        self._raw: IO[bytes] = open_regular(path) if data is None else io.BytesIO(data)
        try:
            self.gz = self._raw.read(2) == b"\x1f\x8b"
            self._raw.seek(0)
        except BaseException:
            self._raw.close()
            raise
        self._f: IO[bytes] = (
            gzip.GzipFile(fileobj=self._raw, mode="rb") if self.gz else self._raw  # type: ignore[assignment]
        )
        self.pos = 0
        self.size: int | None = None
        if not self.gz:
            self.size = os.fstat(self._raw.fileno()).st_size if data is None else len(data)

    def close(self) -> None:
        if self._f is not self._raw:
            self._f.close()
        self._raw.close()

    def read(self, n: int) -> bytes:
        """Read up to n bytes (fewer only at the end of the stream)."""
        parts: list[bytes] = []
        remaining = n
        while remaining > 0:
            chunk = self._f.read(remaining)
            if not chunk:
                break
            parts.append(chunk)
            remaining -= len(chunk)
        data = b"".join(parts)
        self.pos += len(data)
        return data

    def skip(self, n: int) -> int:
        """Skip n bytes; return how many could be skipped."""
        if not self.gz:
            assert self.size is not None
            done = max(0, min(n, self.size - self.pos))
            self._raw.seek(self.pos + done)
            self.pos += done
            return done
        done = 0
        while done < n:
            chunk = self._f.read(min(CHUNK_BYTES, n - done))
            if not chunk:
                break
            done += len(chunk)
        self.pos += done
        return done

    def seek(self, offset: int) -> None:
        """Move to an absolute offset (forward only for gzip streams)."""
        if not self.gz:
            self._raw.seek(offset)
            self.pos = offset
            return
        if offset < self.pos:
            raise ValueError("cannot seek backwards in a gzip stream")
        self.skip(offset - self.pos)


@contextmanager
def open_stream(path: Path, data: bytes | None = None) -> Iterator[Stream]:
    """Open a stream, turning damaged gzip data into :class:`InvalidAcquisitionError`.

    ``data``: the bytes of ``path`` already read into memory (the ingest validates the very bytes
    it hashed); ``path`` then only names the file in messages.

    Only data corruption is a verdict: a gzip stream cut short (``TRUNCATED``), a bad gzip header
    or checksum (``NOT_FITS``), corrupt deflate data (``UNREADABLE``). Any other ``OSError``
    (cannot open, permission, I/O error, not a regular file) propagates: it is transient.
    """
    stream = Stream(path, data)
    try:
        yield stream
    except EOFError as exc:
        raise InvalidAcquisitionError(
            RejectReason.TRUNCATED,
            f"the gzip stream of {shown_name(path)} ends early (compressed file cut at "
            f"{stream._raw.tell()} bytes): the file is truncated",
        ) from exc
    except gzip.BadGzipFile as exc:  # an OSError subclass: caught before any other OSError could be
        raise InvalidAcquisitionError(
            RejectReason.NOT_FITS, f"{shown_name(path)} starts like gzip but is not a valid gzip file ({exc})"
        ) from exc
    except zlib.error as exc:
        raise InvalidAcquisitionError(
            RejectReason.UNREADABLE, f"the gzip stream of {shown_name(path)} is corrupt ({exc})"
        ) from exc
    finally:
        stream.close()
