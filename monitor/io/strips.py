"""Bounded-memory reading of a large 2-D FITS image HDU as strips of rows (float32).

A native PAN Moon image can be 9000 x 20000 float32 (720 MB); the photometry
(``monitor.science.moon_photometry``) works on an iterator of row blocks, and this module makes
that iterator from a file without ever holding the whole image: the file's HDUs are walked up to
the wanted one (:func:`monitor.io.fits_structure.iter_hdus`: headers read, earlier data skipped,
decompressed and discarded for a ``*.fits.gz``), then its rows are read and decoded one strip at
a time by the pixel decoder of io (:func:`monitor.io.pixels.iter_strips`: ``BZERO``/``BSCALE``
applied, ``BLANK`` integers as NaN). Memory use is one strip.

The iterator yields ``(row_start, block)`` with ``block`` a fresh C-contiguous float32 array of
shape ``(n_rows, n_columns)``; the caller may modify it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from monitor.io.errors import shown_name
from monitor.io.fits_stream import Stream, open_stream
from monitor.io.fits_structure import Hdu, iter_hdus
from monitor.io.pixels import iter_strips

__all__ = ["ImageStrips", "iter_image_strips", "image_strips_factory", "image_shape"]

ImageStrips = Iterator[tuple[int, NDArray[np.float32]]]


def _find_image(stream: Stream, path: Path, extname: str) -> Hdu:
    """Walk the stream up to the image HDU ``extname``, leaving it at the HDU's data."""
    for hdu in iter_hdus(stream, shown_name(path)):
        if hdu.kind == "IMAGE" and hdu.extname == extname:
            if int(hdu.header["NAXIS"]) != 2:
                raise ValueError(f"HDU {extname!r} of {path} is not a 2-D image")
            return hdu
    raise KeyError(f"{path} has no image HDU {extname!r}")


def image_shape(path: str | Path, extname: str) -> tuple[int, int]:
    """(rows, columns) of the 2-D image HDU ``extname`` (headers only; no data read)."""
    path = Path(path)
    with open_stream(path) as stream:
        header = _find_image(stream, path, extname).header
    return int(header["NAXIS2"]), int(header["NAXIS1"])


def iter_image_strips(path: str | Path, extname: str, rows_per_strip: int = 512) -> ImageStrips:
    """Yield the image HDU ``extname`` of a FITS file as float32 row blocks.

    Parameters
    ----------
    path : str or Path
        FITS file (optionally gzip-compressed).
    extname : str
        ``EXTNAME`` of a 2-D image HDU (a band name, ICD 1.2).
    rows_per_strip : int
        Rows per block (>= 1); memory use is about ``rows_per_strip * n_columns * 8`` bytes.

    Yields
    ------
    (int, NDArray[np.float32])
        Index of the first row of the block and the block, shape ``(n, n_columns)``, scaled with
        BZERO/BSCALE, BLANK integers as NaN (float NaNs pass through).

    Raises
    ------
    KeyError
        If the file has no image HDU ``extname``.
    ValueError
        If the HDU is not a 2-D image or ``rows_per_strip < 1``.
    InvalidAcquisitionError
        ``TRUNCATED`` when the file is shorter than its headers declare, ``NOT_FITS`` or
        ``UNREADABLE`` when its gzip stream is damaged (a damaged archived file is a verdict on
        that file, not a failure to retry), any structural refusal of the HDUs walked.
    OSError
        When the file cannot be read now (transient).
    """
    if rows_per_strip < 1:
        raise ValueError("rows_per_strip must be >= 1")
    path = Path(path)
    with open_stream(path) as stream:
        hdu = _find_image(stream, path, extname)
        yield from iter_strips(stream, path, hdu, rows_per_strip)


def image_strips_factory(path: str | Path, extname: str, rows_per_strip: int = 512) -> Callable[[], ImageStrips]:
    """A zero-argument callable returning a fresh :func:`iter_image_strips` iterator.

    This is the ``strips_factory`` of :func:`monitor.science.moon_photometry.measure_moon_band`,
    which reads the image twice (two passes).
    """

    def factory() -> ImageStrips:
        return iter_image_strips(path, extname, rows_per_strip)

    return factory
