"""Writing one source file whole: readers (ingestion) never see half of it."""

from __future__ import annotations

import gzip
from pathlib import Path

GZIP_LEVEL = 6


def write_whole(target: Path, text: str) -> None:
    """Write `text` to `target` through a temporary file and a rename; gzipped (level 6)
    when the name ends in `.gz`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8")
    tmp = target.with_name(target.name + ".tmp")
    if target.suffix == ".gz":
        data = gzip.compress(data, compresslevel=GZIP_LEVEL)
    tmp.write_bytes(data)
    tmp.replace(target)
