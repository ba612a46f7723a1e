"""Which star reference model is active (REF-1 or REF-2, ICD 2.2/2.2b) and the irradiance it gives.

The choice follows ``[reference]`` (:class:`monitor.settings.ReferenceSettings`): ``star_model =
"REF-1"`` or ``"REF-2"`` explicitly, or by default REF-2 when a spectral library is configured and
REF-1 otherwise. A library that is configured but cannot be read is a configuration error (never a
silent fall-back to REF-1). The measured RSRs of ``rsr_dir`` apply to the active model (ICD 2.1);
bands without a measured file keep their nominal RSR; the RSR of each band is recorded.

:func:`star_reference` is what the star photometry calls per star and band: it runs in worker
processes too, so it takes a small picklable :class:`StarModelKey` and caches by it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from monitor.domain import REF2_VERSION, REF_VERSION
from monitor.io.reference_data import (
    load_cousins_i,
    load_johnson_b,
    load_johnson_v,
    load_star_catalogue,
    load_vega_spectrum,
)
from monitor.io.star_library import (
    LibraryError,
    load_band_response,
    load_star_library,
    read_pickles_readme,
    read_template,
    write_library_index,
)
from monitor.science.star_expectation import template_expectation
from monitor.science.star_ref2 import (
    TEMPLATE_KERNEL_MAG,
    choose_templates,
    is_ref2_calibration_star,
    photon_average,
    ref2_band_irradiance_w_m2_um,
    synthetic_colours,
    template_band_ratios,
    template_weights,
)
from monitor.science.star_reference import is_calibration_star, star_band_irradiance_w_m2_um
from monitor.settings import ConfigError, Settings

# How REF-2 turns the library into a star's spectrum ([reference] star_template), recorded with
# every REF-2 result.
TEMPLATE_RULES = {
    "nearest": "nearest class III-V template in (B-V, V-I) (ICD 2.2b item 2)",
    "blend": f"blend of class III-V templates, Gaussian kernel h = {TEMPLATE_KERNEL_MAG} mag in (B-V, V-I)",
}

__all__ = [
    "StarModelKey",
    "StarModelChoice",
    "StarReference",
    "StarExpectation",
    "build_library_index",
    "resolve_star_model",
    "star_expectation",
    "star_reference",
]


@dataclass(frozen=True)
class StarModelKey:
    """The active star model and its inputs (hashable, picklable)."""

    model: str  # REF-1 or REF-2
    library_dir: Path | None = None
    rsr_dir: Path | None = None
    template: str = "nearest"  # REF-2 template rule, a key of TEMPLATE_RULES


@dataclass(frozen=True)
class StarModelChoice:
    """:func:`resolve_star_model`'s answer: the key, why, and the library's provenance."""

    key: StarModelKey
    reason: str
    library_checksum: str = ""
    n_templates: int = 0

    @property
    def model(self) -> str:
        return self.key.model

    def describe(self) -> str:
        """One line for ``monitor init``/``status``: the model and why."""
        rsr = f"; measured RSRs from {self.key.rsr_dir}" if self.key.rsr_dir is not None else "; nominal RSRs"
        rule = f"; template: {TEMPLATE_RULES[self.key.template]}" if self.key.library_dir is not None else ""
        return f"star reference model {self.model}: {self.reason}{rsr}{rule}"

    def record(self) -> dict[str, Any]:
        """Provenance of results computed with this model (ICD 2.2b item 6)."""
        out: dict[str, Any] = {"reference_model": self.model}
        if self.key.library_dir is not None:
            out.update(library=str(self.key.library_dir), library_sha256=self.library_checksum,
                       template_rule=TEMPLATE_RULES[self.key.template])
        if self.key.rsr_dir is not None:
            out["rsr_dir"] = str(self.key.rsr_dir)
        return out


def resolve_star_model(settings: Settings) -> StarModelChoice:
    """The star model of this site (see the module docstring).

    Raises
    ------
    ConfigError
        ``star_model = "REF-2"`` without a library, or a configured library that cannot be read,
        or a configured ``rsr_dir`` that is not a directory.
    """
    ref = settings.reference
    lib = ref.path(settings.site, ref.star_library)
    rsr = ref.path(settings.site, ref.rsr_dir)
    if rsr is not None and not rsr.is_dir():
        raise ConfigError(f"[reference] rsr_dir {rsr} is not a directory")
    if ref.star_model == REF_VERSION:
        return StarModelChoice(StarModelKey(REF_VERSION, None, rsr), "configured ([reference] star_model = \"REF-1\")")
    if lib is None:
        if ref.star_model == REF2_VERSION:
            raise ConfigError('[reference] star_model = "REF-2" needs [reference] star_library (a spectral library)')
        return StarModelChoice(StarModelKey(REF_VERSION, None, rsr),
                               "no spectral library configured ([reference] star_library): black-body model of "
                               "ICD 2.2, biased by several % per band on real stars")
    try:
        library = load_star_library(lib)
    except (LibraryError, OSError, ValueError) as exc:
        raise ConfigError(f"[reference] star_library {lib}: {exc}") from exc
    how = "configured" if ref.star_model == REF2_VERSION else "default with a library"
    return StarModelChoice(StarModelKey(REF2_VERSION, lib, rsr, ref.star_template),
                           f"{how}; library {lib} found, {len(library.files)} templates, "
                           f"sha256 {library.checksum[:16]}", library.checksum, len(library.files))


@dataclass(frozen=True)
class StarReference:
    """Reference irradiance of one star in one band, and what produced it."""

    irradiance_w_m2_um: float  # NaN when the star has no reference (no B-V)
    usable: bool  # a calibration star under the model's selection rule
    why_not: str  # why the star is not a calibration star ("" when usable)
    model: str
    template: str  # library file of the nearest template (with "blend", its heaviest in general; "" for REF-1)
    colour_distance_mag: float  # REF-2 colour distance to the template (NaN for REF-1)
    rsr_source: str
    rsr_checksum: str


@functools.cache
def _ref2_templates(library_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Template index and colour distance of every star of the list (REF-2 rule), in list order."""
    lib = load_star_library(library_dir)
    cat = load_star_catalogue()
    v_i = cat.v_i if cat.v_i is not None else np.full(cat.hip.shape, np.nan)
    return choose_templates(cat.b_v, v_i, lib.b_v, lib.v_i, lib.lum_class)


@functools.cache
def _ref2_weights(library_dir: Path) -> np.ndarray:
    """Template-blend weights of every star of the list (:func:`template_weights`), shape (stars, templates)."""
    lib = load_star_library(library_dir)
    cat = load_star_catalogue()
    v_i = cat.v_i if cat.v_i is not None else np.full(cat.hip.shape, np.nan)
    return template_weights(cat.b_v, v_i, lib.b_v, lib.v_i, lib.lum_class)


@functools.cache
def _ref2_ratios(library_dir: Path, satellite: str, band: str, rsr_dir: Path | None) -> np.ndarray:
    lib = load_star_library(library_dir)
    rsr = load_band_response(satellite, band, rsr_dir).spectrum
    v = load_johnson_v()
    return template_band_ratios(lib.wavelength_nm, lib.flux, rsr.wavelength_nm, rsr.values, v.wavelength_nm, v.values)


@functools.cache
def build_library_index(directory: Path, readme: Path | None = None) -> tuple[Path, int]:
    """Write ``index.csv`` of a directory of the public Pickles (1998) UVKLIB files (ICD 2.2b item 2).

    Every ``uk*.dat`` of ``directory`` that the CDS ``ReadMe`` of J/PASP/110/863 lists (``readme``,
    default ``<directory>/ReadMe``) gets its spectral type and luminosity class from the ReadMe and
    its synthetic B-V and V-I from its spectrum: photon-counting averages through the package's
    Johnson B, V and Cousins I passbands, zero point CALSPEC Vega (ICD 2.2b item 1,
    :func:`monitor.science.star_ref2.synthetic_colours`). Files in file-name order.

    Returns
    -------
    (path of index.csv, number of templates)

    Raises
    ------
    LibraryError
        No ReadMe, a ReadMe that lists no UVKLIB file, or no listed file in ``directory``.
    """
    directory = Path(directory)
    readme = directory / "ReadMe" if readme is None else Path(readme)
    if not readme.is_file():
        raise LibraryError(f"no ReadMe {readme}: the CDS ReadMe of J/PASP/110/863 names each file's spectral type")
    types = read_pickles_readme(readme)
    files = sorted(f for f in types if (directory / f).is_file())
    if not files:
        raise LibraryError(f"{directory}: none of the {len(types)} UVKLIB files of {readme.name} is there")
    bands: dict[str, tuple[ArrayLike, ArrayLike]] = {
        x: (p.wavelength_nm, p.values)
        for x, p in (("B", load_johnson_b()), ("V", load_johnson_v()), ("I", load_cousins_i()))
    }
    vega = load_vega_spectrum()
    rows = []
    for f in files:  # one spectrum each (each file has its own grid)
        lam, flux = read_template(directory / f)
        b_v, v_i = synthetic_colours(lam, flux, bands, vega.wavelength_nm, vega.values)
        rows.append((f, *types[f], float(b_v), float(v_i)))
    comment = [
        "Pickles (1998) UVKLIB templates present here; sptype, lum_class from the CDS ReadMe (J/PASP/110/863).",
        "b_v, v_i: synthetic colours, photon-counting averages <F> = int F S l dl / int S l dl through",
        "Johnson B, V and Cousins I, zero point CALSPEC Vega (its colours 0): ICD 2.2b item 1.",
        "Written by `monitor reference index` (monitor.calibration.star_model.build_library_index).",
    ]
    return write_library_index(directory, rows, comment), len(rows)


def vega_v_photon_w_m2_um() -> float:
    """Photon-counting V average of CALSPEC Vega, the REF-2 zero point, W m^-2 um^-1."""
    vega, v = load_vega_spectrum(), load_johnson_v()
    return float(photon_average(vega.wavelength_nm, vega.values, v.wavelength_nm, v.values))


@functools.cache
def star_reference(key: StarModelKey, hip: int, satellite: str, band: str) -> StarReference:
    """E_k of star ``HIP hip`` for one satellite and band under the model ``key`` (ICD 2.2/2.2b)."""
    cat = load_star_catalogue()
    i = cat.index_of(hip)
    v, bv = float(cat.v_mag[i]), float(cat.b_v[i])
    resp = load_band_response(satellite, band, key.rsr_dir)
    if key.model == REF2_VERSION:
        assert key.library_dir is not None
        idx, dist = _ref2_templates(key.library_dir)
        ratios = _ref2_ratios(key.library_dir, satellite, band, key.rsr_dir)
        # "blend": the Gaussian colour-kernel blend (science/star_ref2.py docstring); else the nearest
        weights = _ref2_weights(key.library_dir)[i : i + 1] if key.template == "blend" else None
        e = float(ref2_band_irradiance_w_m2_um([v], [idx[i]], ratios, vega_v_photon_w_m2_um(),
                                               template_weights=weights)[0])
        scatter = float(cat.hp_scatter_mag[i]) if cat.hp_scatter_mag is not None else float("nan")
        flag = int(cat.var_flag[i]) if cat.var_flag is not None else 0
        usable = bool(is_ref2_calibration_star([v], [bv], [scatter], [flag])[0]) and np.isfinite(e)
        why = "" if usable else (
            f"HIP {hip} is not a REF-2 calibration star (needs 1 <= V <= 6, -0.25 <= B-V <= 1.30, "
            f"Hipparcos scatter <= 0.01 mag, no variability flag; has V {v:.2f}, B-V {bv:.2f}, "
            f"scatter {scatter:.3f}, flag {flag})")
        template = load_star_library(key.library_dir).files[idx[i]] if idx[i] >= 0 else ""
        return StarReference(e, usable, why, REF2_VERSION, template, float(dist[i]), resp.source, resp.checksum)
    usable = bool(is_calibration_star(np.array([v]), np.array([bv]))[0])
    if not np.isfinite(bv):
        e = float("nan")
    else:
        vband = load_johnson_v()
        e = float(star_band_irradiance_w_m2_um(np.array([v]), np.array([bv]), resp.spectrum.wavelength_nm,
                                               resp.spectrum.values, vband.wavelength_nm, vband.values)[0])
    why = "" if usable else f"HIP {hip} is not a calibration star (needs 1 <= V <= 6 and a valid B-V)"
    return StarReference(e, usable, why, REF_VERSION, "", float("nan"), resp.source, resp.checksum)



@dataclass(frozen=True)
class StarExpectation:
    """The system's own REF-2 expectation of a star's band irradiance, for the mix-corrected
    ``a_star_offsets`` (the ICD ``a`` keeps :func:`star_reference`'s rule).

    ``a_scale``: multiply a coefficient computed with the recorded E_k by it to get the coefficient
    under the kernel-mean expectation (``E_recorded / E_expected``; 1 with the "blend" rule or REF-1).
    ``spread_rel``: the library's local scatter of band/V ratios at the star's colour, the per-star
    template sigma (:func:`monitor.science.star_expectation.template_expectation`); NaN for REF-1.
    """

    a_scale: float
    spread_rel: float


@functools.cache
def _ref2_expectation(library_dir: Path, satellite: str, band: str,
                      rsr_dir: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """Kernel-mean band/V ratio and its local relative scatter for every star of the list."""
    return template_expectation(_ref2_weights(library_dir), _ref2_ratios(library_dir, satellite, band, rsr_dir))


@functools.cache
def star_expectation(key: StarModelKey, hip: int, satellite: str, band: str) -> StarExpectation:
    """:class:`StarExpectation` of star ``HIP hip`` under the model ``key`` (REF-1: no change, NaN spread)."""
    if key.model != REF2_VERSION or key.library_dir is None:
        return StarExpectation(1.0, float("nan"))
    i = load_star_catalogue().index_of(hip)
    mean, spread = _ref2_expectation(key.library_dir, satellite, band, key.rsr_dir)
    if key.template == "blend":
        return StarExpectation(1.0, float(spread[i]))
    idx, _ = _ref2_templates(key.library_dir)
    if idx[i] < 0 or not np.isfinite(mean[i]) or mean[i] <= 0.0:
        return StarExpectation(1.0, float("nan"))
    ratios = _ref2_ratios(key.library_dir, satellite, band, key.rsr_dir)
    return StarExpectation(float(ratios[idx[i]] / mean[i]), float(spread[i]))
