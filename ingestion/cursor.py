"""Incremental cursors that a record from the future cannot poison.

dlt's `incremental` keeps the largest cursor value ever seen, so one record dated 2099 stops
every later record from loading. Its escape hatches do not help here: a custom
`last_value_func` is not applied to Arrow tables, and `end_value` makes it stateless. So the
cursor lives in dlt resource state (committed, and rolled back, with the load package), and
only values up to the load's release time plus `settings.source_clock_skew_hours` move it.
A record beyond that bound still lands in raw (staging flags it); it just never moves the
cursor. Values that cannot be read as a time land too and never move it either.

Cursor values are compared as Unix seconds (`key` functions); the stored value keeps the
form the source uses (ISO text, epoch int), so it can be sent back to the source as is.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ingestion.metadata import current_load
from warehouse.settings import Settings

STATE_KEY = "cursor"
Key = Callable[[Any], float | None]


def load_bound(settings: Settings) -> datetime:
    """The latest cursor value this load may store: its start time plus the allowed skew.

    Naive UTC, like `_loaded_at`; call it while extracting (it needs the load id).
    """
    return current_load()[1] + timedelta(hours=settings.source_clock_skew_hours)


def epoch(moment: datetime | date) -> float:
    """Unix seconds of a datetime (naive = UTC) or a date (its midnight UTC)."""
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def iso_key(value: Any) -> float | None:
    """Seconds of an ISO-8601 string (`2025-03-04T09:12:33Z`); None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return epoch(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


def epoch_key(value: Any) -> float | None:
    """Seconds of an integer epoch (Stripe's `created`); None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return float(value)


def datetime_key(value: Any) -> float | None:
    """Seconds of a database datetime, or of the ISO text it is stored as in state."""
    if isinstance(value, datetime | date):
        return epoch(value)
    return iso_key(value)


class Cursor:
    """The high-water mark of one resource, capped at the load's bound.

    `start` is the stored value the extraction resumes from; `admits` says whether a record
    is at or after it (older ones were loaded before); `observe` moves the mark to the
    largest value <= bound seen, never lower than where it was. The mark is written into the
    resource state at once: dlt saves that state with the load package, and drops the change
    if the load fails or is aborted.
    """

    def __init__(
        self,
        state: MutableMapping[str, Any],
        field: str,
        key: Key,
        bound: datetime,
        encode: Callable[[Any], Any] = lambda value: value,
    ) -> None:
        self.field = field
        self.key = key
        self.encode = encode
        self.bound = epoch(bound)
        if STATE_KEY not in state:
            state[STATE_KEY] = {"field": field, "value": self._upgrade(state)}
        self._stored: dict[str, Any] = state[STATE_KEY]
        self.start = self._stored["value"]
        self._start_key = key(self.start) if self.start is not None else None
        self._best = self._start_key
        self._held = False

    def _upgrade(self, state: MutableMapping[str, Any]) -> Any:
        """The first value after switching from dlt's `incremental` on an existing pipeline.

        dlt kept its cursor under `incremental.<field>.last_value`. If that value is within
        the bound it is where the old cursor really was, so the extraction resumes there;
        if it is past the bound it may be a poisoned cursor that skipped real records, so
        the extraction starts from scratch, which is safe because raw is insert-only on the
        record key (re-extracted records are skipped, the missed ones land). Reading the
        largest sane value from raw instead would save one full re-read but tie ingestion to
        the warehouse's query gateway.
        """
        legacy = state.pop("incremental", None) or {}
        last = (legacy.get(self.field) or {}).get("last_value")
        last_key = self.key(last) if last is not None else None
        if last_key is None or last_key > self.bound:
            return None
        return self.encode(last)

    def admits(self, value: Any) -> bool:
        """False only for a readable value strictly before the stored cursor."""
        if self._start_key is None:
            return True
        value_key = self.key(value)
        return value_key is None or value_key >= self._start_key

    def admit_all(self, values: list[Any]) -> list[bool]:
        """`admits` for each value, then `observe` of the admitted ones, in one pass: the
        mark ends where observing them one by one would leave it."""
        keys = [self.key(value) for value in values]
        start = self._start_key
        keep = [start is None or k is None or k >= start for k in keys]
        if self._held:
            return keep
        best_key, best_value, found = self._best, None, False
        for value, value_key, ok in zip(values, keys, keep, strict=True):
            if not ok or value_key is None or value_key > self.bound:
                continue
            if best_key is None or value_key > best_key:
                best_key, best_value, found = value_key, value, True
        if found:
            self._best = best_key
            self._stored["value"] = self.encode(best_value)
        return keep

    def hold(self) -> None:
        """Stop moving for the rest of this extraction.

        For a page that could not be read: its records' cursor values are unknown, so the
        mark stays before them and a repaired page still loads in a later run.
        """
        self._held = True

    def observe(self, value: Any) -> None:
        """Move the mark to `value` if it is readable, within the bound and a new maximum."""
        if self._held:
            return
        value_key = self.key(value)
        if value_key is None or value_key > self.bound:
            return
        if self._best is None or value_key > self._best:
            self._best = value_key
            self._stored["value"] = self.encode(value)
