"""Thread pools for training and scoring.

On two cores, OpenBLAS threads left spinning by the linear model slowed HistGradientBoosting's
OpenMP threads about a hundredfold (measured here); one BLAS thread avoids it at no cost.
OpenMP threads can be capped too (CHURN_ML_THREADS) on a machine shared with other jobs,
where spinning OpenMP barriers suffer the same way.
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager

from threadpoolctl import threadpool_limits


@contextmanager
def compute_limits(threads: int | None):
    """One BLAS thread; at most `threads` OpenMP threads when set."""
    with ExitStack() as stack:
        stack.enter_context(threadpool_limits(limits=1, user_api="blas"))
        if threads:
            stack.enter_context(threadpool_limits(limits=threads, user_api="openmp"))
        yield
