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
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.catalogue import lunar_comparisons as lc
from monitor.catalogue.states import AcquisitionStatus
from monitor.domain import GlodObservation, RejectReason, printable_name
from monitor.ingest.inbox import drop_marker
from monitor.ingest.moves import Mover, move_entry
from monitor.io.errors import InvalidAcquisitionError
from monitor.io.glod import read_glod_bytes

if TYPE_CHECKING:  # the decisions call decide_glod
    from monitor.ingest.decisions import Ingestor

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


def decide_glod(ing: Ingestor, path: Path, sha256: str, size: int, obs: GlodObservation) -> None:
    """Decide on one readable GLOD file and archive it (``ing``: the running ingest's decisions,
    which own the session, settings, summary, quarantine and unique-name helpers; its
    :class:`~monitor.ingest.moves.Mover` the crash-safe steps and fault points)."""
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
    dest = ing.unique_path(directory, path.name, sha256, lambda rel: lc.glod_archive_path_taken(session, rel))
    row = lc.add_glod_observation(
        session, observation_id=oid, sha256=sha256, file_name=path.name, size_bytes=size,
        instrument=obs.instrument, date_obs=d, sat_pos_x_km=obs.sat_pos_km[0], sat_pos_y_km=obs.sat_pos_km[1],
        sat_pos_z_km=obs.sat_pos_km[2], sat_pos_ref=obs.sat_pos_ref, channels=[c.name for c in obs.channels],
        archive_path=ing.rel(dest), received_at=ing.now,
    )  # fmt: skip
    session.commit()
    mover = ing.mover
    mover.fault("after_insert")
    move_entry(path, dest, file_mode=mover.file_mode)
    mover.fault("after_move")
    drop_marker(path)
    lc.mark_glod(session, row, AcquisitionStatus.ARCHIVED, ing.now)
    session.commit()
    ing.summary.ingested.append(oid)
    log.info("ingested lunar observation %s (%s channels %s) -> %s", oid, obs.instrument,
             ",".join(c.name for c in obs.channels), row.archive_path)


def recover_glod(mover: Mover) -> None:
    """Finish the GLOD moves a crash left half-done (rows still ``archiving``), after
    :meth:`Mover.recover` has finished those of the acquisitions and rejections."""
    for row in lc.glods_in_state(mover.session, AcquisitionStatus.ARCHIVING):
        ok = mover.finish(mover.settings.inbox / row.file_name, mover.site / row.archive_path, row.sha256)
        if ok is None:
            continue
        lc.mark_glod(mover.session, row, AcquisitionStatus.ARCHIVED if ok else AcquisitionStatus.MISSING, mover.now)
        mover.session.commit()
        mover.summary.recovered += 1
        log.info("recovered interrupted archiving of lunar observation %s (%s)", row.observation_id,
                 printable_name(row.file_name) if ok else "file missing")
