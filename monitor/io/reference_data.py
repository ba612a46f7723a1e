"""Readers of the reference data shipped inside the package (``monitor/reference_data``).

REF-1 files (ICD 2): nominal RSRs, solar spectrum, Johnson V passband, bright-star list and
ROLO coefficients. Each loader parses its CSV once (cached) and returns read-only numpy arrays.
A deployment may point ``rsr_dir`` at measured responses instead of the nominal ones.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from monitor.domain import Mission

__all__ = [
    "REFERENCE_DIR",
    "Spectrum",
    "StarCatalogue",
    "RoloCoefficients",
    "load_rsr",
    "load_solar_spectrum",
    "load_johnson_v",
    "load_johnson_b",
    "load_cousins_i",
    "load_vega_spectrum",
    "load_star_catalogue",
    "load_rolo_coefficients",
    "reference_checksums",
]

REFERENCE_DIR = Path(str(resources.files("monitor") / "reference_data"))


@dataclass(frozen=True)
class Spectrum:
    """A tabulated spectral curve on a wavelength grid (nm)."""

    wavelength_nm: NDArray[np.float64]
    values: NDArray[np.float64]


@dataclass(frozen=True)
class StarCatalogue:
    """Bright-star list (Hipparcos new reduction, V <= 6); arrays sorted by HIP number."""

    hip: NDArray[np.int64]
    ra_deg: NDArray[np.float64]
    dec_deg: NDArray[np.float64]
    v_mag: NDArray[np.float64]
    b_v: NDArray[np.float64]  # NaN when missing
    v_i: NDArray[np.float64] | None = None  # V-I (Hipparcos-2), NaN when missing
    hp_scatter_mag: NDArray[np.float64] | None = None  # Hipparcos-2 sHp, mag (NaN when missing)
    var_flag: NDArray[np.int64] | None = None  # Hipparcos-2 VA: 0 = not in the variability annex, 1 or 2

    def index_of(self, hip: int) -> int:
        """Row of star ``HIP hip``; raises KeyError when it is not in the list."""
        i = int(np.searchsorted(self.hip, hip))
        if i >= self.hip.size or self.hip[i] != hip:
            raise KeyError(f"HIP {hip} is not in the reference star list")
        return i


@dataclass(frozen=True)
class RoloCoefficients:
    """ROLO Table 4 of Kieffer & Stone (2005), REF-1 form (see the CSV header).

    ``per_wavelength`` has columns a0,a1,a2,a3,b1,b2,b3,d1,d2,d3 (shape (32, 10)).
    """

    wavelength_nm: NDArray[np.float64]
    per_wavelength: NDArray[np.float64]
    columns: tuple[str, ...]
    c: tuple[float, float, float, float]
    p: tuple[float, float, float, float]


def _read_csv(path: Path) -> tuple[list[str], NDArray[np.float64]]:
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    header = lines[0].split(",")
    data = np.array([[float(v) if v else np.nan for v in ln.split(",")] for ln in lines[1:]])
    data.setflags(write=False)
    return header, data


def _readonly(a: NDArray[np.float64]) -> NDArray[np.float64]:
    a = np.ascontiguousarray(a, dtype=np.float64)
    a.setflags(write=False)
    return a


def _spectrum(path: Path) -> Spectrum:
    """A two-column table (wavelength nm, value) as a read-only :class:`Spectrum`."""
    _, data = _read_csv(path)
    return Spectrum(_readonly(data[:, 0]), _readonly(data[:, 1]))


@functools.cache
def load_rsr(mission: Mission | str, band: str, rsr_dir: Path | None = None) -> Spectrum:
    """Relative spectral response of a band (``<MISSION>_<band>.csv``, 1 nm grid, ICD 2.1)."""
    mission = Mission(mission)
    path = (rsr_dir or REFERENCE_DIR / "rsr") / f"{mission.value}_{band}.csv"
    if not path.is_file():
        raise KeyError(f"no spectral response for {mission.value} band {band!r} ({path})")
    return _spectrum(path)


@functools.cache
def load_solar_spectrum() -> Spectrum:
    """Solar spectral irradiance at 1 AU, W m^-2 um^-1 (CALSPEC sun_reference_stis_001)."""
    return _spectrum(REFERENCE_DIR / "solar_spectrum.csv")


@functools.cache
def load_johnson_v() -> Spectrum:
    """Johnson V passband (energy-counting convention), relative response."""
    return _spectrum(REFERENCE_DIR / "johnson_v.csv")


@functools.cache
def load_star_catalogue() -> StarCatalogue:
    """Reference star list of ICD 2.2/2.2b (hip, ra_deg, dec_deg, v_mag, b_v; v_i, hp_scatter_mag, var_flag)."""
    header, data = _read_csv(REFERENCE_DIR / "stars.csv")
    col = {name: data[:, i] for i, name in enumerate(header)}
    order = np.argsort(col["hip"], kind="stable")
    hip = np.asarray(col["hip"][order], dtype=np.int64)
    hip.setflags(write=False)
    return StarCatalogue(
        hip=hip,
        ra_deg=_readonly(col["ra_deg"][order]),
        dec_deg=_readonly(col["dec_deg"][order]),
        v_mag=_readonly(col["v_mag"][order]),
        b_v=_readonly(col["b_v"][order]),
        v_i=_readonly(col["v_i"][order]) if "v_i" in col else None,
        hp_scatter_mag=_readonly(col["hp_scatter_mag"][order]) if "hp_scatter_mag" in col else None,
        var_flag=_flags(col["var_flag"][order]) if "var_flag" in col else None,
    )


def _flags(values: NDArray[np.float64]) -> NDArray[np.int64]:
    out = np.where(np.isfinite(values), values, 0.0).astype(np.int64)
    out.setflags(write=False)
    return out


@functools.cache
def load_johnson_b() -> Spectrum:
    """Johnson B passband, Bessell (1990) Table 2, as tabulated (photon-counting use, ICD 2.2b)."""
    return _spectrum(REFERENCE_DIR / "johnson_b.csv")


@functools.cache
def load_cousins_i() -> Spectrum:
    """Cousins I passband, Bessell (1990) Table 2, as tabulated (photon-counting use, ICD 2.2b)."""
    return _spectrum(REFERENCE_DIR / "cousins_i.csv")


@functools.cache
def load_vega_spectrum() -> Spectrum:
    """CALSPEC Vega (alpha_lyr_stis_011) spectral irradiance, W m^-2 um^-1, 300-2500 nm (ICD 2.2b)."""
    return _spectrum(REFERENCE_DIR / "vega_calspec.csv")


_CONST = re.compile(r"([cp][1-4])\s*=\s*([-+0-9.eE]+)")


@functools.cache
def load_rolo_coefficients() -> RoloCoefficients:
    """ROLO coefficients with the wavelength-independent c and p constants from the header."""
    path = REFERENCE_DIR / "rolo_coefficients.csv"
    consts: dict[str, float] = {}
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            consts.update({k: float(v) for k, v in _CONST.findall(line)})
    header, data = _read_csv(path)
    c = tuple(consts[f"c{i}"] for i in range(1, 5))
    p = tuple(consts[f"p{i}"] for i in range(1, 5))
    return RoloCoefficients(
        wavelength_nm=_readonly(data[:, 0]),
        per_wavelength=_readonly(data[:, 1:]),
        columns=tuple(header[1:]),
        c=c,  # type: ignore[arg-type]
        p=p,  # type: ignore[arg-type]
    )


@functools.cache
def reference_checksums() -> dict[str, str]:
    """SHA-256 (first 16 hex digits) of every shipped reference file, for provenance."""
    out: dict[str, str] = {}
    for path in sorted(REFERENCE_DIR.rglob("*.csv")):
        out[str(path.relative_to(REFERENCE_DIR))] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return out
