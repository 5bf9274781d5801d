"""Dates and constants of the dashboard tests' warehouse (imported by conftest and tests)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

# one simulated year keeps the session fixture near two minutes; features start in April
START = date(2025, 1, 1)
END = date(2026, 1, 1)
TRAIN_AS_OF = date(2026, 1, 1)
# Nov and Dec 1 have passed horizons by the end of the data (save rate), Dec 22/29 give a trend
SCORED_MONDAYS = (date(2025, 11, 3), date(2025, 12, 1), date(2025, 12, 22), date(2025, 12, 29))
LATEST = SCORED_MONDAYS[-1]
APP_ACTION_AT = datetime(2025, 12, 19, 10, 30)
REPO = Path(__file__).resolve().parents[2]
