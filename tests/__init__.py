"""The test suite. Importing this package (pytest does it before ``tests/conftest.py``, and so before
numpy is loaded) gives the test processes one BLAS/OpenMP thread unless the environment says
otherwise.

Why: the suite runs as ``pytest -n 2`` on 2 cores, and its time goes mostly into small BLAS matrix
products (the PSF rendering of the starpool fits, ~30 ms each). OpenBLAS starts one thread per core
in each worker, so 2 workers x 2 threads share 2 cores, and its idle threads spin between calls:
CPU seconds (``-n 0``), 2 threads (the default on 2 cores) -> 1: test_star_pipeline.py 222 -> 60,
test_work_star.py 137 -> 51, test_starpool_rows_pinned.py 62 -> 22, test_mtf_fit.py::
test_uncertainties_are_honest_over_many_starpools 69 -> 17, test_mtf_nyquist_recovered_for_pan_and_ms
21 -> 6.5. The tests that compare two runs bit for bit compare runs of one process, or of
subprocesses that inherit this environment (the Dask and worker tests also set it themselves); the
pinned starpool rows (rtol 1e-5) are unchanged.
The variables are inherited by the xdist workers and by every subprocess the tests start.

One OpenBLAS kernel on every x86-64 machine with AVX2 (``OPENBLAS_CORETYPE=Haswell``, unless the
environment says otherwise): OpenBLAS picks its kernels by CPU at load time, and an AVX-512 machine
(SkylakeX kernels) and an AVX2 one (Haswell kernels) round the PSF fit's matrix products differently.
The fit stops at xtol/ftol 1e-7, so that moved the pinned starpool rows by up to 4e-5 relative
(a_sigma 0.0089069 vs 0.0089072, chi2/dof 1.68781 vs 1.68784) between two CI machines of the same
kind with the same numpy 2.4.6 / scipy 1.17.1 wheels: more than the pin's 1e-5 tolerance, less than
what an estimator change moves (1e-4 or more). Production keeps the best kernel of its CPU.
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


def _cpu_has_avx2() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            flags = next((line for line in cpuinfo if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx2" in flags and "fma" in flags


if _cpu_has_avx2():
    os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")
