"""What every page shares: reading the published marts snapshot, formats, empty states.

The app reads only `settings.app_snapshot_file` (dashboards/snapshot.py), read-only, so it
keeps working while a pipeline run holds the warehouse; reads are cached per snapshot file
version, so a new publish shows up on the next rerun.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboards.snapshot import read_app_table, snapshot_published_at
from warehouse.settings import Settings

TIERS = ["High", "Medium", "Low"]
TIER_COLORS = {"High": "#c0392b", "Medium": "#e67e22", "Low": "#7f8c8d"}
TIER_BADGES = {"High": "red", "Medium": "orange", "Low": "gray"}

SETUP_COMMANDS = """\
.venv/bin/churn demo                        # simulate, ingest, dbt build
.venv/bin/churn train --as-of 2026-01-01    # a champion model
.venv/bin/churn score --as-of 2025-12-29    # this Monday's scores (a few Mondays for trends)
.venv/bin/churn transform --select tag:marts
.venv/bin/python -m dashboards.snapshot      # publish the marts to the app (churn publish)"""


def settings() -> Settings:
    """The process's settings (read fresh, so tests can point CHURN_DATA_DIR elsewhere)."""
    return Settings()


@st.cache_data(ttl=600, show_spinner=False, max_entries=64)
def _read(path: str, version: int, table: str) -> pd.DataFrame | None:
    return read_app_table(table, path=Path(path))


# every ASCII punctuation CommonMark lets a backslash escape, and that Streamlit gives a
# meaning (links, images, emphasis, :color[...] and :emoji: directives, $math$, HTML)
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$&=\"'])")


def md(value: object) -> str:
    """Text from the data (company names, owners, reasons) for an element that renders
    Markdown (subheader, caption, success, help): shown literally, one line, so a name such
    as `[click](http://evil)` or `![x](http://evil/x.png)` is never a link or an image."""
    flat = " ".join(str(value).split())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", flat)


def snapshot_version(path: Path) -> int | None:
    """The snapshot file's modification time in ns (None when there is no snapshot)."""
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


def load(table: str) -> pd.DataFrame | None:
    """Rows of `marts.<table>` from the snapshot (None when there is no snapshot or table)."""
    path = settings().app_snapshot_file
    version = snapshot_version(path)
    if version is None:
        return None
    frame = _read(str(path), version, table)
    return None if frame is None else frame.copy()


def published_caption() -> str:
    """'Data published ...' line for every page."""
    published = snapshot_published_at(settings())
    if published is None:
        return "No data published yet."
    return f"Data published {published:%Y-%m-%d %H:%M} UTC from the warehouse's marts."


def setup_help(reason: str) -> None:
    """Say what is missing and what to run, then stop the page (no traceback)."""
    st.info(reason, icon=":material/info:")
    st.markdown("From the repository root, run:")
    st.code(SETUP_COMMANDS, language="bash")
    st.stop()


def require(table: str, empty_reason: str) -> pd.DataFrame:
    """The table's rows, or the setup help when there is no snapshot or no rows."""
    frame = load(table)
    if frame is None:
        setup_help(
            f"The app has no published data yet (looked for {settings().app_snapshot_file})."
        )
    assert frame is not None  # for type checkers: setup_help stops the script
    if frame.empty:
        setup_help(empty_reason)
    return frame


def money(value: float | None) -> str:
    """$1.2M, $120k, $950."""
    if value is None or pd.isna(value):
        return "–"
    value = float(value)
    if abs(value) >= 1_000_000:
        return f"${value / 1_000_000:.1f}M"
    if abs(value) >= 10_000:
        return f"${value / 1_000:.0f}k"
    if abs(value) >= 1_000:
        return f"${value / 1_000:.1f}k"
    return f"${value:,.0f}"


def signed_money(value: float) -> str:
    """+$1.2k / -$4.1k (a sign Streamlit's metric delta reads)."""
    return ("-" if value < 0 else "+") + money(abs(value))


def pct(value: float | None, digits: int = 0) -> str:
    """0.153 -> '15%'."""
    if value is None or pd.isna(value):
        return "–"
    return f"{float(value) * 100:.{digits}f}%"


def tier_definition(
    cutoffs: pd.DataFrame | None, as_of: object | None = None, horizon_days: int | None = None
) -> str:
    """How the tiers were drawn in the given (default latest) scored week, and what the
    probability means: cancelling within the churn horizon (default: the settings' horizon)."""
    if cutoffs is None or cutoffs.empty:
        return "Tiers: High and Medium as set in the model's scoring configuration."
    frame = cutoffs.sort_values("as_of_date")
    if as_of is not None:
        match = frame[frame["as_of_date"] == pd.Timestamp(as_of)]
        frame = match if not match.empty else frame
    row = frame.iloc[-1]
    days = settings().churn_horizon_days if horizon_days is None else horizon_days
    high = row["high_min_probability"]
    medium = row["medium_min_probability"]
    parts = [
        f"High: {int(row['high_customers']):,} accounts scoring ≥ {pct(high, 1)}"
        if not pd.isna(high)
        else "High: none this week",
        f"Medium: {int(row['medium_customers']):,} scoring ≥ {pct(medium, 1)}"
        if not pd.isna(medium)
        else "Medium: none this week",
        f"Low: {int(row['low_customers']):,} below that",
    ]
    return (
        "Tier definition, week of "
        f"{pd.Timestamp(row['as_of_date']):%Y-%m-%d} (model v{row['model_version']}) — "
        + " · ".join(parts)
        + f". Probability = chance of cancelling within the next {days} days; the thresholds are "
        "the lowest score that made each tier."
    )
