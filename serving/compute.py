"""Per-thread compute limits for request threads.

`threadpoolctl` costs ~10 ms per call (it inspects every loaded library), too much for every
request; OpenMP's thread count is per calling thread, so each request thread sets it once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import threadpool_limits

_local = threading.local()


@contextmanager
def request_threads(threads: int) -> Iterator[None]:
    """At most `threads` OpenMP and one BLAS thread in this thread, from now on."""
    if getattr(_local, "threads", None) != threads:
        threadpool_limits(limits=1, user_api="blas")
        threadpool_limits(limits=threads, user_api="openmp")
        _local.threads = threads
    yield
