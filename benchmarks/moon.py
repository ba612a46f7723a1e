"""Benchmark: Moon pre-treatment + photometry + REF-1 model of one 7-band PNEO file, from disk.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/moon.py [--keep DIR]``, or
``python benchmarks/moon.py --glod-only [GLOD_DIR]`` for step 3 alone.

1. (not timed, in a child process so that its memory does not count) writes a Moon FITS file to a
   temporary directory: a native-resolution PAN image of 20000 rows x 9000 columns float32
   (FITS NAXIS1 x NAXIS2 = 9000 x 20000, 720 MB, written strip by strip with ``StreamingHDU``)
   and the six MS bands binned 4 x 4 (1250 x 562 delivered pixels, MS native IFOV = 4 PAN IFOV).
   The Moon is an analytic Lommel-Seeliger/Lambert disk (no PSF, smooth albedo pattern) with
   sky plane, shot and read noise; its exact total signal is ``o G A E / Omega_pix`` for a
   chosen A per band (E from the REF-1 model for the geometry in the header).
2. (timed) for each band: header -> ``BandHeader``, REF-1 band irradiance, two-pass strip
   photometry from the file (``iter_image_strips``), A_k.

3. (timed separately, when the real GLOD files are found: ``MONITOR_GLOD_DIR`` or
   ``shared/reference/glod`` beside the repository) the lunar comparison of each real EUMETSAT
   SEVIRI observation and channel (ICD 6): own integration vs ``dc_obs`` (%), ``irr_obs``,
   ``irr_model`` (REF-1 over the GSICS SRF at the ITRF93 -> GCRS position), ``ratio`` +- sigma,
   phase angle and flags, under the key ``glod``; then per instrument and channel
   (``per_channel``) the agreement list and its maximum, the ratios +- sigma, and LIME TBX's
   MRD, MARD, sigma, N (3-sigma filter), trend per year and phase slope, for the in-range
   observations and for all of them. Files of an instrument without an SRF file in the directory
   (GSICS naming ``<SAT>+<INSTR>``), or refused by the reader, are listed under ``refused``.

Prints one JSON document: ``seconds`` (step 2), ``peak_rss_mb`` (``ru_maxrss`` of this process,
which only runs step 2 plus imports), ``peak_traced_mb`` (tracemalloc peak of step 2, numpy
buffers) and the relative A_k error of each band. Targets: <= 20 s, <= 1.5 GB.
"""

from __future__ import annotations

import json
import math
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from astropy.io import fits

from monitor.domain import BandHeader, Mission
from monitor.io.reference_data import load_rolo_coefficients, load_rsr, load_solar_spectrum
from monitor.io.strips import image_strips_factory
from monitor.science.constants import MOON_RADIUS_KM
from monitor.science.instrument import MS_PIXEL_RATIO
from monitor.science.lunar_geometry import lunar_geometry
from monitor.science.lunar_model import lunar_band_irradiance
from monitor.science.moon_photometry import measure_moon_band

DATE_OBS = datetime(2025, 3, 11, 13, 59, tzinfo=UTC)  # waxing, g ~ -30 deg
SC_POS_KM = (6998.0, 0.0, 0.0)
PAN_SHAPE = (20000, 9000)  # rows, columns (native)
PAN_DIAMETER_PX = 6000.0  # native columns
OVERSAMP = 2.5
MS_BINNING = 4
MS_IFOV_RATIO = int(MS_PIXEL_RATIO)  # MS native pixel = 4 PAN pixels
A_TRUE = {"P": 42.0, "DB": 35.0, "B": 38.0, "G": 40.0, "R": 44.0, "RE": 47.0, "NIR": 51.0}
# This benchmark's own, noisier detector (not the nominal READ_NOISE_DN and E_PER_DN_REFERENCE
# of monitor.science.instrument): the numbers it reports were measured with these.
GAIN, DARK, BKG, READ, E_PER_DN = 1.1, 40.0, 8.0, 3.0, 8.0
ROWS_PER_STRIP = 512


def _irradiance(band: str) -> float:
    geo = lunar_geometry(DATE_OBS, SC_POS_KM)
    rsr = load_rsr(Mission.PNEO, band)
    sun = load_solar_spectrum()
    return lunar_band_irradiance(
        geo.phase_angle_deg, geo.sun_selenographic_lon_deg, geo.observer_selenographic_lat_deg,
        geo.observer_selenographic_lon_deg, geo.d_sun_moon_km, geo.d_obs_moon_km,
        coeffs=load_rolo_coefficients(), rsr_wavelength_nm=rsr.wavelength_nm, rsr=rsr.values,
        solar_wavelength_nm=sun.wavelength_nm, solar_irradiance_w_m2_um=sun.values,
    )  # fmt: skip


def _moon_rows(r0: int, n: int, n_cols: int, diameter: float, g_deg: float, centre: tuple[float, float]) -> np.ndarray:
    """Un-normalised Moon brightness of native rows [r0, r0+n) (rows advance 1/OVERSAMP px)."""
    radius = 0.5 * diameter
    y = ((np.arange(r0, r0 + n) / OVERSAMP) - centre[0]) / radius
    x = (np.arange(n_cols) - centre[1]) / radius
    z2 = 1.0 - x[None, :] ** 2 - y[:, None] ** 2
    z = np.sqrt(np.clip(z2, 0.0, None))
    g = math.radians(abs(g_deg))
    mu0 = (1.0 if g_deg < 0 else -1.0) * math.sin(g) * x[None, :] + math.cos(g) * z
    albedo = 1.0 - 0.25 * (np.sin(7.0 * x)[None, :] * np.cos(5.0 * y)[:, None]) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where((z2 > 0) & (mu0 > 0), (0.85 * mu0 / (mu0 + z + 1e-12) + 0.15 * mu0) * albedo, 0.0)
    return out


def _band_header(band: str, shape: tuple[int, int], binning: int, pixscale: float) -> fits.Header:
    h = fits.Header()
    h["EXTNAME"] = band
    h["BUNIT"] = "DN"
    h["DARK"] = DARK
    h["GAINFACT"] = GAIN
    h["OVERSAMP"] = OVERSAMP
    h["BINNING"] = binning
    h["PIXSCALE"] = pixscale
    h["LINEPER"] = 0.1
    h["SATURATE"] = 60000.0
    return h


def generate(path: Path) -> None:
    """Write the benchmark file (child process; memory and time not measured)."""
    geo = lunar_geometry(DATE_OBS, SC_POS_KM)
    rng = np.random.default_rng(12345)
    pan_pix_urad = 2.0 * math.asin(MOON_RADIUS_KM / geo.d_obs_moon_km) / PAN_DIAMETER_PX * 1e6
    primary = fits.PrimaryHDU()
    primary.header["ACQTYPE"] = "MOON"
    primary.header["DATE-OBS"] = DATE_OBS.strftime("%Y-%m-%dT%H:%M:%S.000")
    for k, v in zip(("SC_POSX", "SC_POSY", "SC_POSZ"), SC_POS_KM, strict=True):
        primary.header[k] = v
    hdus: list[fits.ImageHDU | fits.PrimaryHDU] = [primary]
    truth: dict[str, float] = {}
    # MS bands: native grid 5000 x 2248, binned 4 x 4 -> 1250 x 562
    ms_d = PAN_DIAMETER_PX / MS_IFOV_RATIO
    nr, nc = PAN_SHAPE[0] // MS_IFOV_RATIO, (PAN_SHAPE[1] // MS_IFOV_RATIO // MS_BINNING) * MS_BINNING
    ms_pix = pan_pix_urad * MS_IFOV_RATIO
    base = _moon_rows(0, nr, nc, ms_d, geo.phase_angle_deg, (0.5 * nr / OVERSAMP, 0.5 * nc))
    base = base.reshape(nr // MS_BINNING, MS_BINNING, nc // MS_BINNING, MS_BINNING).sum(axis=(1, 3))
    for band in ("DB", "B", "G", "R", "RE", "NIR"):
        s_k = OVERSAMP * GAIN * A_TRUE[band] * _irradiance(band) / (ms_pix * 1e-6) ** 2
        moon = base * (s_k / base.sum())
        sky = BKG * MS_BINNING**2 + 0.01 * (np.arange(nc // MS_BINNING) - 280)[None, :]
        img = moon + sky
        img += rng.standard_normal(img.shape) * np.sqrt(img / E_PER_DN + (READ * MS_BINNING) ** 2)
        img += DARK * MS_BINNING**2
        hdus.append(fits.ImageHDU(img.astype(np.float32), header=_band_header(band, img.shape, MS_BINNING, ms_pix)))
        truth[band] = s_k
    fits.HDUList(hdus).writeto(path, overwrite=True)
    del base, hdus
    # PAN: streamed, two passes (normalisation, then write)
    rows, cols = PAN_SHAPE
    centre = (0.5 * rows / OVERSAMP, 0.5 * cols)
    total = sum(
        float(_moon_rows(r0, min(500, rows - r0), cols, PAN_DIAMETER_PX, geo.phase_angle_deg, centre).sum())
        for r0 in range(0, rows, 500)
    )
    s_pan = OVERSAMP * GAIN * A_TRUE["P"] * _irradiance("P") / (pan_pix_urad * 1e-6) ** 2
    scale = s_pan / total
    truth["P"] = s_pan
    hdr = _band_header("P", PAN_SHAPE, 1, pan_pix_urad)
    full = fits.Header()
    full["XTENSION"] = "IMAGE"
    full["BITPIX"] = -32
    full["NAXIS"] = 2
    full["NAXIS1"] = cols
    full["NAXIS2"] = rows
    full["PCOUNT"] = 0
    full["GCOUNT"] = 1
    full.extend(hdr)
    shdu = fits.StreamingHDU(str(path), full)
    xs = (0.02 * (np.arange(cols) - cols / 2)).astype(np.float32)
    for r0 in range(0, rows, 500):
        n = min(500, rows - r0)
        img = (_moon_rows(r0, n, cols, PAN_DIAMETER_PX, geo.phase_angle_deg, centre) * scale).astype(np.float32)
        img += np.float32(BKG) + xs[None, :]
        noise = rng.standard_normal(img.shape, dtype=np.float32)
        noise *= np.sqrt(np.maximum(img, 0.0) / np.float32(E_PER_DN) + np.float32(READ**2))
        img += noise
        img += np.float32(DARK)
        shdu.write(img)
    shdu.close()
    path.with_suffix(".json").write_text(json.dumps(truth))


def process(path: Path) -> dict[str, object]:
    """Timed part: all 7 bands from the file."""
    truth = json.loads(path.with_suffix(".json").read_text())
    t0 = time.perf_counter()
    tracemalloc.start()
    with fits.open(path, lazy_load_hdus=True) as hdul:
        prim = hdul[0].header
        date = datetime.fromisoformat(prim["DATE-OBS"]).replace(tzinfo=UTC)
        pos = (prim["SC_POSX"], prim["SC_POSY"], prim["SC_POSZ"])
        headers = {h.header["EXTNAME"]: h.header.copy() for h in hdul[1:]}
    geo = lunar_geometry(date, pos)
    errors = {}
    details = {}
    for band, h in headers.items():
        bh = BandHeader(
            band=band, shape=(h["NAXIS2"], h["NAXIS1"]), dark_dn=h["DARK"], gain_factor=h["GAINFACT"],
            oversamp=h["OVERSAMP"], binning=h["BINNING"], pixscale_urad=h["PIXSCALE"],
            lineper_ms=h["LINEPER"], saturate_dn=h["SATURATE"],
        )  # fmt: skip
        rsr = load_rsr(Mission.PNEO, band)
        sun = load_solar_spectrum()
        e_k = lunar_band_irradiance(
            geo.phase_angle_deg, geo.sun_selenographic_lon_deg, geo.observer_selenographic_lat_deg,
            geo.observer_selenographic_lon_deg, geo.d_sun_moon_km, geo.d_obs_moon_km,
            coeffs=load_rolo_coefficients(), rsr_wavelength_nm=rsr.wavelength_nm, rsr=rsr.values,
            solar_wavelength_nm=sun.wavelength_nm, solar_irradiance_w_m2_um=sun.values,
        )  # fmt: skip
        res = measure_moon_band(
            image_strips_factory(path, band, ROWS_PER_STRIP), bh, e_k, phase_angle_deg=geo.phase_angle_deg
        )
        errors[band] = res.a_k / A_TRUE[band] - 1.0
        details[band] = {"s_rel_err": res.signal_dn / truth[band] - 1.0, "aperture_px": res.aperture_radius_px}
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    seconds = time.perf_counter() - t0
    return {
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "peak_traced_mb": round(traced / 2**20, 1),
        "phase_angle_deg": round(geo.phase_angle_deg, 3),
        "a_rel_error": {k: float(f"{v:.2e}") for k, v in errors.items()},
        "details": details,
    }


def _glod_dir() -> Path | None:
    import os

    env = os.environ.get("MONITOR_GLOD_DIR")
    if env:
        return Path(env) if Path(env).is_dir() else None
    for parent in Path(__file__).resolve().parents:
        if (parent / "shared" / "reference" / "glod").is_dir():
            return parent / "shared" / "reference" / "glod"
    return None


def _srf_of(srf_files: list[Path], instrument: str) -> dict[str, object] | None:
    """The SRF file of an instrument: the GSICS naming puts ``<SAT>+<INSTR>`` in the file name."""
    from monitor.io.glod import read_srf

    key = "+".join(instrument.split()).upper()
    for path in srf_files:
        if key in path.name.upper():
            return dict(read_srf(path))
    return None


def glod_comparison(directory: Path) -> dict[str, object]:
    """Step 3: the comparison figures of the real GLOD files (ICD 6), per observation and channel,
    then per instrument and channel: the own-integration agreement with dc_obs, the ratio and
    LIME TBX's MRD, MARD, sigma, N and trends (in-range observations; flagged ones listed apart).
    A file that cannot be read or compared is listed with its reason, never a crash."""
    from monitor.calibration.lunar_comparison import srf_band_irradiance
    from monitor.io.errors import InvalidAcquisitionError
    from monitor.io.glod import read_glod
    from monitor.science.constants import MOON_RADIUS_KM
    from monitor.science.exceptions import ScienceError
    from monitor.science.lunar_comparison import compare, file_net_counts, integrate_imagette
    from monitor.science.observer_frames import observer_gcrs_km

    srf_files = sorted(directory.glob("*SRF*.nc"))
    rows: list[dict[str, object]] = []
    refused: list[dict[str, str]] = []
    t0 = time.perf_counter()
    for path in sorted(p for p in directory.glob("*.nc") if p not in srf_files):
        try:
            obs = read_glod(path)
        except InvalidAcquisitionError as exc:
            refused.append({"file": path.name, "reason": exc.reason.value, "message": exc.message})
            continue
        srf = _srf_of(srf_files, obs.instrument)
        if srf is None:
            refused.append({"file": path.name, "reason": "unknown-instrument", "message": obs.instrument})
            continue
        pos = observer_gcrs_km(obs.sat_pos_km, obs.sat_pos_ref, obs.date_obs)
        geo = lunar_geometry(obs.date_obs, pos.gcrs_km)
        for ch in obs.channels:
            if ch.name not in srf or ch.irr_obs_w_m2_um is None:
                refused.append({"file": path.name, "reason": "unknown-band", "message": ch.name})
                continue
            e_model = srf_band_irradiance(geo, srf[ch.name])  # type: ignore[arg-type]
            row: dict[str, object] = {"file_date": f"{obs.date_obs:%Y-%m-%dT%H:%M:%SZ}", "channel": ch.name,
                                      "instrument": obs.instrument}
            diff = 0.0
            u_disk = 0.0
            if ch.imagette_dn is not None:
                expected = (math.asin(MOON_RADIUS_KM / geo.d_obs_moon_km) / math.sqrt(ch.pixel_solid_angle_sr)
                            if ch.pixel_solid_angle_sr else None)
                try:
                    disk = integrate_imagette(ch.imagette_dn, ch.offset_dn, ch.oversampling or 1.0,
                                              pixel_solid_angle_sr=ch.pixel_solid_angle_sr or 1e-10,
                                              expected_radius_px=expected)
                except ScienceError as exc:
                    refused.append({"file": path.name, "reason": type(exc).__name__, "message": str(exc)})
                    continue
                u_disk = disk.rel_sigma
                if ch.dc_obs is not None:
                    counts = file_net_counts(ch.imagette_dn, ch.dc_obs, ch.offset_dn, ch.moon_pix_num,
                                             ch.moon_pix_thld)
                    diff = disk.dc_integrated / counts.dc_file - 1.0
                    row.update(dc_integrated=round(disk.dc_integrated, 1), dc_file=round(counts.dc_file, 1),
                               dc_convention=counts.convention, dc_diff_pct=round(100 * diff, 3))
                row["oversampling_axis"] = disk.oversampling_axis
            cmp = compare(ch.irr_obs_w_m2_um, e_model, phase_angle_deg=geo.phase_angle_deg,
                          observer_lat_deg=geo.observer_selenographic_lat_deg,
                          observer_lon_deg=geo.observer_selenographic_lon_deg,
                          rel_sigma_counts=math.hypot(u_disk, diff))
            row.update({
                "irr_obs": float(f"{ch.irr_obs_w_m2_um:.6e}"), "irr_model": float(f"{e_model:.6e}"),
                "ratio": round(cmp.ratio, 5), "ratio_sigma": round(cmp.ratio_sigma, 5),
                "phase_angle_deg": round(geo.phase_angle_deg, 3),
                "obs_lat_deg": round(geo.observer_selenographic_lat_deg, 2),
                "obs_lon_deg": round(geo.observer_selenographic_lon_deg, 2), "flags": list(cmp.flags),
                "eop_source": pos.eop_source, "_t_years": obs.date_obs.timestamp() / (365.25 * 86400.0),
            })  # fmt: skip
            rows.append(row)
    return {"seconds": round(time.perf_counter() - t0, 2), "per_channel": _per_channel(rows),
            "observations": [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows],
            "refused": refused}


def _per_channel(rows: list[dict[str, object]]) -> dict[str, object]:
    """Per instrument and channel: agreement with dc_obs, ratio +- sigma and the LIME TBX figures."""
    from monitor.science.lunar_comparison import comparison_statistics

    out: dict[str, object] = {}
    for key in sorted({(str(r["instrument"]), str(r["channel"])) for r in rows}):
        mine = [r for r in rows if (r["instrument"], r["channel"]) == key]
        inr = [r for r in mine if not r["flags"]]
        diffs = [float(r["dc_diff_pct"]) for r in mine if "dc_diff_pct" in r]  # type: ignore[arg-type]
        entry: dict[str, object] = {
            "n_observations": len(mine), "n_flagged": len(mine) - len(inr),
            "dc_diff_pct": diffs, "max_abs_dc_diff_pct": round(max(map(abs, diffs)), 3) if diffs else None,
            "ratio_pm_sigma": [f"{r['ratio']:.4f} +- {r['ratio_sigma']:.4f}" for r in mine],
        }
        for label, sel in (("in_range", inr), ("all", mine)):
            if not sel:
                entry[label] = None
                continue
            st = comparison_statistics([float(r["ratio"]) for r in sel], [float(r["_t_years"]) for r in sel],  # type: ignore[arg-type]
                                       [float(r["phase_angle_deg"]) for r in sel])  # type: ignore[arg-type]
            entry[label] = {
                "N": st.n, "n_3sigma_rejected": st.n_rejected, "MRD_pct": round(100 * st.mrd, 3),
                "MARD_pct": round(100 * st.mard, 3), "sigma_pct": round(100 * st.std, 3),
                "trend_pct_per_year": None if st.trend_per_year is None else round(100 * st.trend_per_year, 3),
                "trend_sigma_pct_per_year": None if st.trend_per_year_sigma is None
                else round(100 * st.trend_per_year_sigma, 3),
                "phase_slope_pct_per_deg": None if st.phase_slope_per_deg is None
                else round(100 * st.phase_slope_per_deg, 4),
            }  # fmt: skip
        out[" ".join(key)] = entry
    return out


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--generate":
        generate(Path(sys.argv[2]))
        return
    if len(sys.argv) >= 2 and sys.argv[1] == "--glod-only":  # step 3 alone (no 720 MB PNEO file)
        glod = Path(sys.argv[2]) if len(sys.argv) == 3 else _glod_dir()
        print(json.dumps({"glod": glod_comparison(glod) if glod is not None else "GLOD reference files not found"}))
        return
    keep = Path(sys.argv[2]) if len(sys.argv) == 3 and sys.argv[1] == "--keep" else None
    tmp = Path(tempfile.mkdtemp(prefix="moon-bench-"))
    try:
        path = (keep or tmp) / "PNEO3-MOON-bench.fits"
        if not path.exists():
            subprocess.run([sys.executable, __file__, "--generate", str(path)], check=True)
        doc = process(path)
        glod = _glod_dir()
        doc["glod"] = glod_comparison(glod) if glod is not None else "GLOD reference files not found"
        print(json.dumps(doc))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
