"""What ``monitor init`` and ``monitor status`` say about the star reference model (ICD 2.2b):
which model is active and why (library found, its checksum), or that REF-1 runs without a library."""

from __future__ import annotations

from typing import Any

from monitor.calibration.star_model import resolve_star_model
from monitor.settings import ConfigError, Settings

__all__ = ["star_model_line", "star_model_doc"]


def star_model_line(settings: Settings) -> str:
    """One line: ``star reference model REF-2: default with a library; library ... found ...``."""
    try:
        return resolve_star_model(settings).describe()
    except ConfigError as exc:
        return f"star reference model: configuration error: {exc}"


def star_model_doc(settings: Settings) -> dict[str, Any]:
    """The same for ``status --format json``: model, reason, library checksum, RSR directory."""
    try:
        choice = resolve_star_model(settings)
    except ConfigError as exc:
        return {"model": None, "error": str(exc)}
    return {"model": choice.model, "reason": choice.reason, **choice.record()}
