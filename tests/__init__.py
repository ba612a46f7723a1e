"""The test suite. Importing this package (pytest does it before ``tests/conftest.py``, and so before
numpy is loaded) gives the test processes one BLAS/OpenMP thread unless the environment says
otherwise.

Why: the suite runs as ``pytest -n 2`` on 2 cores, and its time goes mostly into small BLAS matrix
products (the PSF rendering of the starpool fits, ~30 ms each). OpenBLAS starts one thread per core
in each worker, so 2 workers x 2 threads share 2 cores, and its idle threads spin between calls:
measured on the 3 parametrised cases of ``tests/science/test_mtf_fit.py::
test_mtf_nyquist_recovered_for_pan_and_ms``, 20.5-21.3 s of CPU with the default threads against
6.5-7.0 s with one (and a third of the wall time). The numbers are the same to the last bits that
the tests look at: those comparing two runs bit for bit compare runs of the same process or of
subprocesses that inherit this environment (the Dask and worker tests also set it themselves).
The variables are inherited by the xdist workers and by every subprocess the tests start.
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
