"""Pass 1 of the Moon photometry: the block preview of a band image, read once as row strips.

Per ``f x f`` block of delivered pixels: the NaN-aware sum, sum of squares, count of valid pixels
and count of pixels at or above the saturation level (float64 arrays of at most 256 blocks along
each axis: bounded memory whatever the image size). The lit Moon and its limb are found on it
(:mod:`monitor.science.moon_limb`), and the sky plane fitted to it
(:mod:`monitor.science.moon_sky`). The measurement as a whole: :mod:`monitor.science.moon_photometry`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["Preview", "preview_blocks", "robust_sigma"]


@dataclass(frozen=True)
class Preview:
    """Block statistics of one band image (``f x f`` delivered pixels per block)."""

    f: int
    total: NDArray[np.float64]  # sum of valid pixels per block
    total_sq: NDArray[np.float64]
    count: NDArray[np.float64]  # valid pixels per block
    n_pix: NDArray[np.float64]  # pixels per block (valid or not)
    row_centre: NDArray[np.float64]  # delivered row of each block row
    col_centre: NDArray[np.float64]
    n_sat: NDArray[np.float64]  # pixels at or above the saturation level per block (never sky)


def _block_edges(n: int, f: int) -> NDArray[np.intp]:
    return np.arange(0, n, f, dtype=np.intp)


def preview_blocks(
    strips: Iterable[tuple[int, NDArray[np.float32]]], shape: tuple[int, int], f: int, saturation_dn: float = np.inf
) -> Preview:
    """The block preview of an image given as ``(row_start, block)`` strips covering every row once."""
    n_rows, n_cols = shape
    col_edges = _block_edges(n_cols, f)
    nbr, nbc = -(-n_rows // f), col_edges.size
    total = np.zeros((nbr, nbc))
    total_sq = np.zeros((nbr, nbc))
    count = np.zeros((nbr, nbc))
    n_sat = np.zeros((nbr, nbc))
    col_width = np.diff(np.append(col_edges, n_cols)).astype(np.float64)
    rows_seen = 0
    for r0, strip in strips:
        block = np.asarray(strip, dtype=np.float32)
        if block.ndim != 2 or block.shape[1] != n_cols or r0 < 0 or r0 + block.shape[0] > n_rows:
            raise ValueError(f"strip at row {r0} of shape {block.shape} does not fit image {shape}")
        rows_seen += block.shape[0]
        nan = ~np.isfinite(block)
        has_nan = bool(nan.any())
        if has_nan:
            block = np.where(nan, np.float32(0.0), block)
        rb = (r0 + np.arange(block.shape[0])) // f
        starts = np.flatnonzero(np.r_[True, rb[1:] != rb[:-1]])
        idx = rb[starts]
        s = np.add.reduceat(np.add.reduceat(block, col_edges, axis=1, dtype=np.float64), starts, axis=0)
        # squares in float64: a corrupt pixel of 1e20 DN overflows float32 (then the sky fit fails)
        sq = np.add.reduceat(np.add.reduceat(np.square(block, dtype=np.float64), col_edges, axis=1), starts, axis=0)
        sat = np.add.reduceat(np.add.reduceat(block >= saturation_dn, col_edges, axis=1, dtype=np.float64), starts,
                              axis=0)
        nrows_in = np.diff(np.append(starts, block.shape[0])).astype(np.float64)
        cnt = nrows_in[:, None] * col_width[None, :]
        if has_nan:
            cnt = cnt - np.add.reduceat(np.add.reduceat(nan, col_edges, axis=1, dtype=np.float64), starts, axis=0)
        total[idx] += s
        total_sq[idx] += sq
        count[idx] += cnt
        n_sat[idx] += sat
    if rows_seen != n_rows:
        raise ValueError(f"strips cover {rows_seen} rows, image has {n_rows}")
    row_edges = _block_edges(n_rows, f)
    row_hi = np.append(row_edges[1:], n_rows)
    col_hi = np.append(col_edges[1:], n_cols)
    n_pix = (row_hi - row_edges)[:, None].astype(np.float64) * (col_hi - col_edges)[None, :]
    return Preview(
        f=f,
        total=total,
        total_sq=total_sq,
        count=count,
        n_pix=n_pix,
        row_centre=(row_edges + row_hi - 1) / 2.0,
        col_centre=(col_edges + col_hi - 1) / 2.0,
        n_sat=n_sat,
    )


def robust_sigma(x: NDArray[np.float64]) -> float:
    """Standard deviation estimated from the median absolute deviation (1.4826 MAD)."""
    return float(1.4826 * np.median(np.abs(x - np.median(x))))
