"""monitor: unattended calibration monitoring of Pleiades (PHR1A/1B) and Pleiades Neo (PNEO3/4)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("monitor")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
