"""Ingest of GSICS lunar observation files (GLOD, ``*.nc``, ICD 6): the GLOD side of the inbox.

Same path as FITS acquisitions (:mod:`monitor.ingest.service`): the file is read once, hashed
and checked on the same bytes (:func:`check_glod`); then, in file order, it is a duplicate (same
bytes as an observation already ingested), refused (``not-netcdf``, ``missing-key``,
``bad-value``, ``too-large``, or ``unknown-instrument`` when no SRF is configured for its
instrument in ``[instruments."<name>"] srf``), a conflict (same instrument and time, other
bytes), or accepted. An accepted file is crash-safe like an acquisition: its
``glod_observation`` row is committed ``archiving`` with its destination
(``archive/GLOD/<instrument>/<yyyy>/<mm>/``), the file is moved atomically, then the row is
committed ``archived``; :func:`recover_glod` finishes a move a crash left half-done.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monitor.catalogue import lunar_comparisons as lc
from monitor.domain import GlodObservation, RejectReason, printable_name
from monitor.io.fits_reader import InvalidAcquisitionError
from monitor.io.glod import read_glod_bytes

__all__ = ["GLOD_ARCHIVE", "MAX_GLOD_BYTES", "check_glod", "decide_glod", "recover_glod"]

log = logging.getLogger(__name__)

GLOD_ARCHIVE = "GLOD"  # archive/GLOD/<instrument>/<yyyy>/<mm>/
MAX_GLOD_BYTES = 1 << 30  # a GLOD file is read whole into memory


def check_glod(data: bytes, name: str) -> tuple[GlodObservation | None, InvalidAcquisitionError | None]:
    """Read a GLOD file from its bytes: (observation, None) or (None, refusal)."""
    if len(data) > MAX_GLOD_BYTES:
        return None, InvalidAcquisitionError(RejectReason.TOO_LARGE, f"{name}: {len(data)} bytes (limit "
                                                                     f"{MAX_GLOD_BYTES})")
    try:
        return read_glod_bytes(data, name), None
    except InvalidAcquisitionError as exc:
        return None, exc


def _instrument_dir(instrument: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", instrument).strip("_") or "unknown"


def decide_glod(ing: Any, path: Path, sha256: str, size: int, obs: GlodObservation,
                move: Callable[..., None], drop_marker: Callable[[Path], None]) -> None:
    """Decide on one readable GLOD file and archive it (``ing``: the running ingest, which owns
    the session, settings, summary, quarantine and unique-name helpers)."""
    session = ing.session
    oid = obs.observation_id
    same = lc.glod_by_sha(session, sha256)
    if same is not None:
        ing.reject(path, sha256, RejectReason.DUPLICATE,
                   f"same bytes as lunar observation {same.observation_id} (file {same.file_name}); not ingested "
                   "again", oid)
        return
    if ing.settings.srf_file(obs.instrument) is None:
        ing.reject(path, sha256, RejectReason.UNKNOWN_INSTRUMENT,
                   f"GLOD instrument {obs.instrument!r} has no spectral response configured "
                   f"([instruments.\"{obs.instrument}\"] srf = \"<GSICS SRF netCDF>\")", oid)
        return
    other = lc.glod_by_observation_id(session, oid)
    if other is not None:
        ing.reject(path, sha256, RejectReason.CONFLICT,
                   f"lunar observation {oid} was already ingested from {other.file_name} with different content "
                   f"(SHA-256 {other.sha256[:12]}… vs {sha256[:12]}…); refusing the second version", oid)
        return
    ing.flush_staged()  # decisions in file order
    d = obs.date_obs
    directory = ing.settings.archive / GLOD_ARCHIVE / _instrument_dir(obs.instrument) / f"{d:%Y}" / f"{d:%m}"
    dest = ing._unique(directory, path.name, sha256, lambda rel: lc.glod_archive_path_taken(session, rel))
    row = lc.add_glod_observation(
        session, observation_id=oid, sha256=sha256, file_name=path.name, size_bytes=size,
        instrument=obs.instrument, date_obs=d, sat_pos_x_km=obs.sat_pos_km[0], sat_pos_y_km=obs.sat_pos_km[1],
        sat_pos_z_km=obs.sat_pos_km[2], sat_pos_ref=obs.sat_pos_ref, channels=[c.name for c in obs.channels],
        archive_path=ing._rel(dest), received_at=ing.now,
    )  # fmt: skip
    session.commit()
    ing._fault("after_insert")
    move(path, dest, file_mode=ing.file_mode)
    ing._fault("after_move")
    drop_marker(path)
    lc.mark_glod(session, row, "archived", ing.now)
    session.commit()
    ing.summary.ingested.append(oid)
    log.info("ingested lunar observation %s (%s channels %s) -> %s", oid, obs.instrument,
             ",".join(c.name for c in obs.channels), row.archive_path)


def recover_glod(ing: Any, finish: Callable[[Path, Path, str | None], bool | None]) -> None:
    """Finish the GLOD moves a crash left half-done (rows still ``archiving``)."""
    for row in lc.glods_in_state(ing.session, "archiving"):
        ok = finish(ing.settings.inbox / row.file_name, ing.site / row.archive_path, row.sha256)
        if ok is None:
            continue
        lc.mark_glod(ing.session, row, "archived" if ok else "missing", ing.now)
        ing.session.commit()
        ing.summary.recovered += 1
        log.info("recovered interrupted archiving of lunar observation %s (%s)", row.observation_id,
                 printable_name(row.file_name) if ok else "file missing")
