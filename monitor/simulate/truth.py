"""Ground truth of a simulated campaign set, and its JSON file.

The truth says what the system must find in the files written by
:func:`monitor.simulate.campaign.simulate_campaigns`:

- per satellite and band, the true calibration coefficient model
  ``A_k(t) = A0 · (1 + rate_per_year · (t − t_ref) / 365.25 d)`` (linear relative drift, the
  quantity ``rate_per_year`` of ICD 5);
- per delivered file: its name, ``ACQ_ID``, satellite, type, epoch, expected status
  (``ok``/``rejected``/``duplicate``) and reason (ICD 5 categories), per band the band-averaged
  irradiance ``E_k`` used (STAR, MOON), the true signal ``S_k``, the true MTF at Nyquist of the
  PSF (along, across) and the bands expected to be refused (``saturated``); a file with an
  all-NaN band is expected rejected whole (``status`` rejected, ``reason`` ``all-nan``);
- for GEOM files, a summary of the true geometry (whatever the GEOM simulator reports).

JSON layout (``write_truth``)::

    {"icd": "ICD-1", "reference_model": "REF-1", "seed": 1, "start": "<UTC>", "months": 6,
     "calibration": {"PHR1A": {"P": {"a0": 4.1, "rate_per_year": -0.01,
                                      "reference_epoch": "<UTC>"}, ...}, ...},
     "files": [{"file": "...fits", "acq_id": "...", "satellite": "PHR1A", "type": "STAR",
                "epoch": "<UTC>", "status": "ok", "reason": null, "kind": "valid",
                "target": "HIP 32349", "v_mag": 2.1, "b_v": 0.3, "oversamp": 2,
                "bands": {"P": {"e_k": 5.7e-9, "a_true": 4.09, "gain_factor": 1.3,
                                "s_true_dn": 1.2e5, "mtf_nyquist_along": 0.1,
                                "mtf_nyquist_across": 0.12, "star_x": 31.7, "star_y": 60.2,
                                "reason": null}},
                "related_file": null, "geom": null}]}
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.domain import ICD_VERSION, REF_VERSION
from monitor.science.constants import SECONDS_PER_YEAR

__all__ = [
    "BandTruth",
    "BandFileTruth",
    "FileTruth",
    "SimulationTruth",
    "a_true",
    "write_truth",
    "read_truth",
]


@dataclass(frozen=True)
class BandTruth:
    """True calibration model of one satellite band: ``A0 · (1 + rate · years since t_ref)``."""

    a0: float  # DN / (W m^-2 sr^-1 um^-1) at the reference epoch
    rate_per_year: float  # relative drift dA/A per year
    reference_epoch: datetime  # aware UTC


def a_true(model: BandTruth, t: datetime) -> float:
    """True ``A_k`` at time ``t`` (aware UTC).

    Parameters
    ----------
    model : BandTruth
        Calibration model.
    t : datetime
        Epoch (aware).

    Returns
    -------
    float
        ``A0 · (1 + rate_per_year · Δt / 365.25 d)``, DN / (W m^-2 sr^-1 um^-1).
    """
    years = (t - model.reference_epoch).total_seconds() / SECONDS_PER_YEAR
    return model.a0 * (1.0 + model.rate_per_year * years)


@dataclass
class BandFileTruth:
    """Truth of one band of one file (STAR/MOON)."""

    e_k: float | None = None  # W m^-2 um^-1, band irradiance at the satellite (REF-1, or the true library spectrum's)
    a_true: float | None = None  # A_k(epoch)
    gain_factor: float | None = None
    s_true_dn: float | None = None  # OVERSAMP · GAINFACT · A_k · E_k / Omega_pix
    mtf_nyquist_along: float | None = None
    mtf_nyquist_across: float | None = None
    star_x: float | None = None  # true star position, column (array index)
    star_y: float | None = None  # true star position, row (row units)
    reason: str | None = None  # expected per-band refusal: "saturated" or None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class FileTruth:
    """Truth of one delivered file."""

    file: str  # name in the output directory
    acq_id: str | None  # None when the file cannot be read
    satellite: str | None
    type: str | None  # STAR, MOON, GEOM
    epoch: datetime | None  # DATE-OBS
    status: str  # ok, rejected or duplicate
    reason: str | None  # RejectReason value for rejected/duplicate files
    kind: str = "valid"  # valid or the kind of bad file (not-fits, truncated-data, ...)
    target: str | None = None
    v_mag: float | None = None
    b_v: float | None = None
    oversamp: float | None = None
    bands: dict[str, BandFileTruth] = field(default_factory=dict)
    related_file: str | None = None  # original of a duplicate / conflict
    geom: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class SimulationTruth:
    """Everything :func:`~monitor.simulate.campaign.simulate_campaigns` wrote."""

    seed: int
    start: datetime
    months: int
    calibration: dict[str, dict[str, BandTruth]]
    files: list[FileTruth] = field(default_factory=list)
    icd: str = ICD_VERSION
    reference_model: str = REF_VERSION  # what the stars' E_k come from: REF-1 or "library <sha256[:16]>"
    outdir: str = ""

    def files_by_status(self, status: str) -> list[FileTruth]:
        """Files whose expected status is ``status``."""
        return [f for f in self.files if f.status == status]


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return obj.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalar
        return obj.item()
    return obj


def write_truth(path: Path, truth: SimulationTruth) -> None:
    """Write the truth as JSON (UTF-8, ISO 8601 UTC times with ``Z``).

    Parameters
    ----------
    path : Path
        Output file.
    truth : SimulationTruth
        Truth to write.
    """
    doc = _jsonable(asdict(truth))
    Path(path).write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n", encoding="utf-8")


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).astimezone(UTC)


def read_truth(path: Path) -> SimulationTruth:
    """Read a truth file written by :func:`write_truth`.

    Parameters
    ----------
    path : Path
        JSON truth file.

    Returns
    -------
    SimulationTruth
    """
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    calibration = {
        sat: {
            band: BandTruth(m["a0"], m["rate_per_year"], datetime.fromisoformat(m["reference_epoch"]))
            for band, m in bands.items()
        }
        for sat, bands in doc["calibration"].items()
    }
    files = []
    for f in doc["files"]:
        bands = {b: BandFileTruth(**v) for b, v in f.pop("bands").items()}
        epoch = _time(f.pop("epoch"))
        files.append(FileTruth(**f, epoch=epoch, bands=bands))
    start = _time(doc["start"])
    assert start is not None
    return SimulationTruth(
        seed=doc["seed"],
        start=start,
        months=doc["months"],
        calibration=calibration,
        files=files,
        icd=doc["icd"],
        reference_model=doc["reference_model"],
        outdir=doc.get("outdir", ""),
    )
