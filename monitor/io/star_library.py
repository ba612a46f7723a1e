"""Readers of the external REF-2 inputs a site installs (ICD 2.2b): a stellar spectral library in
the Pickles (1998) UVKLIB layout and a directory of measured relative spectral responses.

Neither is package data: the site names them in ``[reference] star_library`` and
``[reference] rsr_dir``, and every result computed with them records their checksums.

Library layout: ``index.csv`` (``#`` comment lines, then the columns ``file, sptype, lum_class,
b_v, v_i``: synthetic colours of ICD 2.2b item 1) and one text file per template whose first two
columns are the wavelength in angstroms and F_lambda (any scale; Pickles normalises at 555.6 nm).
Measured RSRs: ``<SATELLITE>_<BAND>.csv`` (``wavelength_nm,response``), e.g. ``PHR1A_B0.csv``.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from monitor.domain import MISSION_OF_SATELLITE, Satellite
from monitor.io.reference_data import Spectrum, load_rsr, reference_checksums

__all__ = [
    "StarLibrary",
    "LibraryError",
    "load_star_library",
    "BandResponse",
    "load_band_response",
    "INDEX_COLUMNS",
    "read_template",
    "read_pickles_readme",
    "write_library_index",
]

INDEX_COLUMNS = ("file", "sptype", "lum_class", "b_v", "v_i")

ANGSTROM_PER_NM = 10.0


class LibraryError(ValueError):
    """A configured reference library or RSR directory is missing or malformed."""


@dataclass(frozen=True, eq=False)
class StarLibrary:
    """Templates of a spectral library on one common wavelength grid.

    Attributes
    ----------
    directory : Path
    files, sptype, lum_class : tuple of str, length m
    b_v, v_i : ndarray, shape (m,)
        Synthetic colours of ``index.csv``, mag.
    wavelength_nm : ndarray, shape (n_lambda,)
    flux : ndarray, shape (m, n_lambda)
        F_lambda as tabulated (relative).
    checksum : str
        SHA-256 of ``index.csv`` and every template file (in index order), hex.
    """

    directory: Path
    files: tuple[str, ...]
    sptype: tuple[str, ...]
    lum_class: tuple[str, ...]
    b_v: NDArray[np.float64]
    v_i: NDArray[np.float64]
    wavelength_nm: NDArray[np.float64]
    flux: NDArray[np.float64]
    checksum: str


def _data_lines(path: Path) -> list[str]:
    return [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def read_template(path: Path) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """One template file: its first two columns, wavelength in angstroms and F_lambda (``#`` comments).

    Returns
    -------
    wavelength_nm, flux : NDArray[np.float64], shape (n_lambda,)
    """
    data = np.loadtxt(path, usecols=(0, 1), comments="#", ndmin=2)
    return data[:, 0] / ANGSTROM_PER_NM, data[:, 1]


# a file line of the CDS ReadMe of J/PASP/110/863: "uka0v.dat  57  4771  A0 V  (1150-25000 A)"
_README_FILE_LINE = re.compile(r"^(uk\S+\.dat)\s+\d+\s+\d+\s+(.+?)\s+\(\d+-\d+ A\)\s*$")


def read_pickles_readme(path: Path) -> dict[str, tuple[str, str]]:
    """Spectral type and luminosity class of each UVKLIB file listed in the CDS ``ReadMe`` of the
    Pickles (1998) library (J/PASP/110/863): ``{"uka0v.dat": ("A0", "V"), "ukb57v.dat": ("B5-7", "V"),
    "ukwf5v.dat": ("metal-weak F5", "V"), ...}`` (the class is the description's last word).

    Raises
    ------
    LibraryError
        If the file lists no ``uk*.dat`` file.
    """
    out: dict[str, tuple[str, str]] = {}
    for line in Path(path).read_text(encoding="latin-1").splitlines():
        m = _README_FILE_LINE.match(line)
        if m:
            *sptype, lum_class = m.group(2).split()
            out[m.group(1)] = (" ".join(sptype), lum_class)
    if not out:
        raise LibraryError(f"{path}: lists no UVKLIB file (uk*.dat); is it the CDS ReadMe of J/PASP/110/863?")
    return out


def write_library_index(
    directory: Path, rows: Sequence[tuple[str, str, str, float, float]], comment: Sequence[str] = ()
) -> Path:
    """Write ``<directory>/index.csv`` (the columns :data:`INDEX_COLUMNS`, colours to 0.1 mmag;
    ``comment`` lines first, each prefixed ``# ``) and return its path."""
    if any("," in str(v) for r in rows for v in r[:3]):
        raise LibraryError("a file name, spectral type or class holds a comma")
    lines = [f"# {c}" for c in comment] + [",".join(INDEX_COLUMNS)]
    lines += [f"{f},{sp},{lc},{bv:.4f},{vi:.4f}" for f, sp, lc, bv, vi in rows]
    path = Path(directory) / "index.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@functools.cache
def load_star_library(directory: Path) -> StarLibrary:
    """Read a library in the Pickles UVKLIB layout (see the module docstring).

    Raises
    ------
    LibraryError
        If ``index.csv`` or a template file is missing, a column is absent, or a template does not
        cover the grid of the first one (templates are interpolated onto that grid).
    """
    directory = Path(directory)
    index = directory / "index.csv"
    if not index.is_file():
        raise LibraryError(f"no index.csv in the star library {directory}")
    lines = _data_lines(index)
    header = [h.strip() for h in lines[0].split(",")]
    need = INDEX_COLUMNS
    if any(c not in header for c in need):
        raise LibraryError(f"{index}: needs the columns {', '.join(need)}, has {', '.join(header)}")
    rows = [dict(zip(header, (v.strip() for v in ln.split(",")), strict=False)) for ln in lines[1:]]
    digest = hashlib.sha256(index.read_bytes())
    grid: NDArray[np.float64] | None = None
    fluxes = []
    for r in rows:
        path = directory / r["file"]
        if not path.is_file():
            raise LibraryError(f"star library {directory}: {r['file']} listed in index.csv is missing")
        raw = path.read_bytes()
        digest.update(raw)
        lam, f = read_template(path)
        if grid is None:
            grid = lam
            fluxes.append(f)
            continue
        if lam.shape == grid.shape and np.array_equal(lam, grid):
            fluxes.append(f)
            continue
        if lam[0] > grid[0] or lam[-1] < grid[-1]:
            raise LibraryError(f"{path}: does not cover {grid[0]:g}-{grid[-1]:g} nm")
        fluxes.append(np.interp(grid, lam, f))
    if grid is None:
        raise LibraryError(f"star library {directory}: index.csv lists no template")
    flux = np.vstack(fluxes)
    for a in (grid, flux):
        a.setflags(write=False)
    return StarLibrary(
        directory=directory, files=tuple(r["file"] for r in rows), sptype=tuple(r["sptype"] for r in rows),
        lum_class=tuple(r["lum_class"] for r in rows),
        b_v=np.array([float(r["b_v"]) for r in rows]), v_i=np.array([float(r["v_i"]) for r in rows]),
        wavelength_nm=grid, flux=flux, checksum=digest.hexdigest(),
    )


@dataclass(frozen=True, eq=False)
class BandResponse:
    """The RSR used for one satellite and band, with where it came from.

    ``source`` is ``"measured:<file>"`` or ``"nominal:<MISSION>_<band>"``; ``checksum`` the
    SHA-256 (16 hex digits) of the file used.
    """

    spectrum: Spectrum
    source: str
    checksum: str


@functools.cache
def load_band_response(satellite: str, band: str, rsr_dir: Path | None) -> BandResponse:
    """The measured RSR ``<rsr_dir>/<SATELLITE>_<BAND>.csv`` when there is one, else the nominal one.

    A measured file, when present, must read as a 1-D response on a strictly increasing grid.
    """
    sat = Satellite(satellite)
    if rsr_dir is not None:
        path = Path(rsr_dir) / f"{sat.value}_{band}.csv"
        if path.is_file():
            raw = path.read_bytes()
            lines = _data_lines(path)
            try:
                data = np.array([[float(v) for v in ln.split(",")[:2]] for ln in lines[1:]])
            except ValueError as exc:
                raise LibraryError(f"{path}: {exc}") from exc
            if data.ndim != 2 or data.shape[0] < 2 or np.any(np.diff(data[:, 0]) <= 0):
                raise LibraryError(f"{path}: not a response on a strictly increasing wavelength grid")
            lam, resp = np.ascontiguousarray(data[:, 0]), np.ascontiguousarray(np.clip(data[:, 1], 0.0, None))
            lam.setflags(write=False)
            resp.setflags(write=False)
            return BandResponse(Spectrum(lam, resp), f"measured:{path.name}", hashlib.sha256(raw).hexdigest()[:16])
    mission = MISSION_OF_SATELLITE[sat]
    spec = load_rsr(mission, band)

    key = f"rsr/{mission.value}_{band}.csv"
    return BandResponse(spec, f"nominal:{mission.value}_{band}", reference_checksums().get(key, ""))
