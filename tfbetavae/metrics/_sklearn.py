"""How the metrics run scikit-learn estimators: on one BLAS thread, and without warnings about defaults we keep.

One thread: measured on the project's 2-core machine while other jobs ran, ``LogisticRegressionCV`` on 1,000 codes
took 16–18 s with OpenBLAS's two threads and 1.2–2.0 s with one (the threads spin while waiting for a core). The
estimators fitted here are small; one thread costs little on a quiet machine and saves a lot on a busy one.

Quiet: disentanglement_lib fits its estimators with scikit-learn's iteration limits and defaults; we do the same, so
``ConvergenceWarning`` and the ``FutureWarning`` about defaults changing in later versions say nothing to act on.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

from threadpoolctl import threadpool_limits


@contextlib.contextmanager
def quiet_single_thread() -> Iterator[None]:
    """Within: BLAS and OpenMP limited to one thread; convergence and future-default warnings silenced."""
    from sklearn.exceptions import ConvergenceWarning

    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield
