"""Each request thread scores with the configured OpenMP threads, however new the thread."""

from __future__ import annotations

import threading

import sklearn.ensemble  # noqa: F401  (loads OpenMP, as the served model does)
from threadpoolctl import threadpool_info

from serving.compute import request_threads


def _openmp_threads() -> set[int]:
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "openmp"}


def test_every_new_request_thread_gets_the_limit():
    seen: list[set[int]] = []

    def request(threads: int) -> None:
        with request_threads(threads):
            seen.append(_openmp_threads())

    for threads in (1, 2, 1):
        worker = threading.Thread(target=request, args=(threads,))
        worker.start()
        worker.join()
    assert seen == [{1}, {2}, {1}]
