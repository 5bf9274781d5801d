"""Reading API pages that a release wrote to disk (`<dir>/page-00001.json`, ...)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ingestion.errors import IngestionError


def page_files(source: str, directory: Path, hint: str) -> list[Path]:
    """The page files in order; a clear error when the directory is missing."""
    if not directory.is_dir():
        raise IngestionError(source, f"no directory {directory} — {hint}")
    return sorted(directory.glob("page-*.json"))


def read_pages(source: str, directory: Path, hint: str) -> Iterator[dict[str, Any]]:
    """Each page as parsed JSON, in file-name order."""
    for path in page_files(source, directory, hint):
        try:
            yield json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise IngestionError(source, f"page {path} is not valid JSON: {exc}") from exc
