"""Time helpers: the simulator counts in UTC days and unix seconds (int64) throughout.

Integers keep the vectorised code simple and exact; dates and ISO strings appear only at the
edges (writers and truth).
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

DAY = 86_400
EPOCH = date(1970, 1, 1)
NEVER = np.iinfo(np.int64).max // 4  # "no such time" in int64 seconds


def to_day(d: date) -> int:
    """Days since 1970-01-01."""
    return (d - EPOCH).days


def from_day(n: int) -> date:
    """Inverse of `to_day`."""
    return EPOCH + timedelta(days=int(n))


def monday_on_or_before(d: date) -> date:
    """The Monday that starts the week containing `d`."""
    return d - timedelta(days=d.weekday())


def add_months(days: np.ndarray, months: int | np.ndarray, anchor: np.ndarray) -> np.ndarray:
    """Day numbers `months` calendar months after `days`, on day-of-month `anchor` (1..28)."""
    m = days.astype("datetime64[D]").astype("datetime64[M]") + np.asarray(months)
    return (m.astype("datetime64[D]") + (np.asarray(anchor) - 1)).astype(np.int64)


def month_of(days: np.ndarray | int) -> np.ndarray:
    """Calendar month (1..12) of day numbers."""
    return np.asarray(days).astype("datetime64[D]").astype("datetime64[M]").astype(int) % 12 + 1


def parse_day(value: str | date) -> date:
    """Accept a date or an ISO date string."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))
