"""The one error type ingestion raises, so callers (flows, CLI) can report it cleanly."""

from __future__ import annotations


class IngestionError(RuntimeError):
    """A source could not be extracted or loaded.

    The message always starts with the source name and says what to check, because the
    person reading it is usually running a scheduled flow, not reading our code.
    """

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
