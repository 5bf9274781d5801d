"""Writing one source file whole: readers (ingestion) never see half of it.

`FileWriter` writes on worker threads: gzip (zlib) and file writes release the GIL, so a
release compresses files while its next DuckDB query renders more; gzip was half of a
release's CPU time.
"""

from __future__ import annotations

import gzip
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

GZIP_LEVEL = 3
WRITERS = 2
PENDING_BYTES = 512 * 1024 * 1024  # text waiting for a writer; beyond it, `submit` waits


def write_whole(target: Path, text: str | bytes) -> None:
    """Write `text` (bytes: already UTF-8) to `target` through a temporary file and a
    rename; gzipped (level `GZIP_LEVEL`) when the name ends in `.gz`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    data = text if isinstance(text, bytes) else text.encode("utf-8")
    tmp = target.with_name(target.name + ".tmp")
    if target.suffix == ".gz":
        data = gzip.compress(data, compresslevel=GZIP_LEVEL)
    tmp.write_bytes(data)
    tmp.replace(target)


class FileWriter:
    """`write_whole` on `WRITERS` threads, holding at most about `PENDING_BYTES` of text.

    Leaving the `with` block waits for every file and raises the first error, so a release
    that returns has written all its files.
    """

    def __init__(self, workers: int = WRITERS, pending_bytes: int = PENDING_BYTES) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="write")
        self._pending: deque[tuple[Future[None], int]] = deque()
        self._pending_bytes = 0
        self._limit = pending_bytes

    def submit(self, target: Path, text: str | bytes) -> None:
        """Queue one file; waits for the oldest ones while too much text is queued."""
        self._pending.append((self._pool.submit(write_whole, target, text), len(text)))
        self._pending_bytes += len(text)
        while self._pending and self._pending_bytes > self._limit:
            self._wait_oldest()

    def _wait_oldest(self) -> None:
        future, size = self._pending.popleft()
        self._pending_bytes -= size
        future.result()

    def __enter__(self) -> FileWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            while self._pending:
                if exc_type is None:
                    self._wait_oldest()
                else:  # already failing: finish what runs, report the first error
                    self._pending.popleft()[0].cancel()
        finally:
            self._pool.shutdown(wait=True)
