"""Extract-load of the four source systems (and the CS app's store) into `raw`.

`run()` is the entry point for flows; `python -m ingestion` for people. See
docs/contracts.md §2 for exactly what lands.
"""

from ingestion.errors import IngestionError
from ingestion.runner import SOURCES, LoadSummary, run

__all__ = ["SOURCES", "IngestionError", "LoadSummary", "run"]
