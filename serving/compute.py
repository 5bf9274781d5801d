"""Per-thread compute limits for request threads.

OpenMP's thread count is per calling thread, so each request thread sets it once. Finding
the loaded libraries (what `threadpoolctl.threadpool_limits` does on every call) costs ~10
ms: it is done once per process, after the model's libraries are loaded, and a new request
thread only sets its limits through the libraries found then.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import ThreadpoolController

_local = threading.local()
_found = threading.Lock()
_controller: ThreadpoolController | None = None


def _libraries() -> ThreadpoolController:
    """The process's BLAS and OpenMP libraries, found on the first request."""
    global _controller
    with _found:
        if _controller is None:
            _controller = ThreadpoolController()
        return _controller


@contextmanager
def request_threads(threads: int) -> Iterator[None]:
    """At most `threads` OpenMP and one BLAS thread in this thread, from now on."""
    if getattr(_local, "threads", None) != threads:
        libraries = _libraries()
        libraries.limit(limits=1, user_api="blas")
        libraries.limit(limits=threads, user_api="openmp")
        _local.threads = threads
    yield
