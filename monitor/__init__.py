"""monitor: unattended calibration monitoring of Pleiades (PHR1A/1B) and Pleiades Neo (PNEO3/4)."""

import os
from importlib.metadata import PackageNotFoundError, version

# One BLAS/OpenMP thread per process unless the environment says otherwise, set before numpy is
# first imported (this package is imported first by the command line, the daemon's job children and
# the worker processes, which inherit it). The system's numerical work is many small matrix products
# (the PSF rendering of the starpool fits) in one or several processes; OpenBLAS's thread per core
# spins between those calls. Measured on 2 cores, `monitor demo`: 97.7 s wall and 95.7 s CPU with
# OpenBLAS's default (2 threads), 55.6 s and 51.3 s with 1. A site that wants threads sets
# OPENBLAS_NUM_THREADS / OMP_NUM_THREADS itself.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
del _var

try:
    __version__ = version("monitor")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
