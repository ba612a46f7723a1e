"""Readers of the site-installed REF-2 inputs: a Pickles-layout library and measured RSRs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from monitor.io.star_library import LibraryError, load_band_response, load_star_library
from monitor.settings import ReferenceSettings
from tests.reference_dirs import SHARED_REFERENCE

SHARED = SHARED_REFERENCE or Path("/nonexistent/shared/reference")


def _write_library(root: Path, files: dict[str, np.ndarray], index: str) -> Path:
    root.mkdir()
    (root / "index.csv").write_text(index)
    for name, data in files.items():
        np.savetxt(root / name, data, fmt="%.4f")
    return root


def test_small_library_is_read_in_nm_and_checksummed(tmp_path: Path) -> None:
    lam_a = np.arange(3000.0, 11001.0, 5.0)
    a = np.column_stack([lam_a, np.ones_like(lam_a), np.zeros_like(lam_a)])
    b = np.column_stack([lam_a[::2], 2.0 * np.ones_like(lam_a[::2])])  # coarser grid: interpolated
    index = "# test\nfile,sptype,lum_class,b_v,v_i\nta.dat,A0,V,0.0,0.0\ntb.dat,G2,III,0.6,0.7\n"
    lib = load_star_library(_write_library(tmp_path / "lib", {"ta.dat": a, "tb.dat": b}, index))
    assert lib.wavelength_nm[0] == 300.0 and lib.wavelength_nm[-1] == 1100.0
    assert lib.flux.shape == (2, lam_a.size) and np.allclose(lib.flux[1], 2.0)
    assert lib.lum_class == ("V", "III") and lib.b_v.tolist() == [0.0, 0.6]
    assert len(lib.checksum) == 64
    # a byte changed in a spectrum changes the checksum
    b2 = b.copy()
    b2[10, 1] = 2.5
    other = load_star_library(_write_library(tmp_path / "lib2", {"ta.dat": a, "tb.dat": b2}, index))
    assert other.checksum != lib.checksum


def test_library_errors(tmp_path: Path) -> None:
    with pytest.raises(LibraryError, match="no index.csv"):
        load_star_library(tmp_path)
    lam = np.arange(3000.0, 4001.0, 5.0)
    short = np.column_stack([lam, np.ones_like(lam)])
    long = np.column_stack([np.arange(2000.0, 5001.0, 5.0), np.ones(601)])
    with pytest.raises(LibraryError, match="missing"):
        load_star_library(_write_library(tmp_path / "m", {}, "file,sptype,lum_class,b_v,v_i\nx.dat,A0,V,0,0\n"))
    with pytest.raises(LibraryError, match="columns"):
        load_star_library(_write_library(tmp_path / "c", {}, "file,sptype\n"))
    with pytest.raises(LibraryError, match="does not cover"):
        load_star_library(_write_library(tmp_path / "g", {"a.dat": long, "b.dat": short},
                                         "file,sptype,lum_class,b_v,v_i\na.dat,A0,V,0,0\nb.dat,A0,V,0,0\n"))


@pytest.mark.skipif(not SHARED.is_dir(), reason="site REF-2 inputs not installed here")
def test_shared_pickles_library_and_measured_rsrs() -> None:
    lib = load_star_library(SHARED / "pickles")
    assert len(lib.files) == 108 and lib.wavelength_nm[0] == 115.0 and lib.wavelength_nm[-1] == 2500.0
    # Pickles spectra are normalised near 555.6 nm (the cool stars' molecular bands move single points)
    i = int(np.argmin(np.abs(lib.wavelength_nm - 555.5)))
    assert abs(float(np.median(lib.flux[:, i])) - 1.0) < 0.02 and np.all(lib.flux[:, i] > 0.5)
    measured = load_band_response("PHR1B", "B2", SHARED / "rsr_measured")
    assert measured.source == "measured:PHR1B_B2.csv" and len(measured.checksum) == 16
    assert measured.spectrum.values.max() == pytest.approx(1.0)
    nominal = load_band_response("PHR1B", "B2", None)
    assert nominal.source == "nominal:PHR_B2" and nominal.checksum
    # a band without a measured file keeps its nominal RSR (PNEO has none in rsr_measured)
    assert load_band_response("PNEO3", "DB", SHARED / "rsr_measured").source == "nominal:PNEO_DB"


def test_reference_settings_paths(tmp_path: Path) -> None:
    ref = ReferenceSettings(star_library="lib", rsr_dir="/abs/rsr")
    assert ref.path(tmp_path, ref.star_library) == tmp_path / "lib"
    assert ref.path(tmp_path, ref.rsr_dir) == Path("/abs/rsr")
    assert ref.path(tmp_path, "") is None
