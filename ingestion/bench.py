"""Measure usage-event load speed: `python -m ingestion.bench [--files 20 --rows 100000]`.

Writes synthetic `usage/dt=*/events.jsonl` files (one malformed line each) into a temp dir,
loads them with the real usage pipeline into a fresh DuckDB warehouse, prints rows/s.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from ingestion.runner import run
from warehouse.settings import Settings

TYPES = ("login", "feature_use", "export", "integration_sync")


def write_files(usage_dir: Path, files: int, rows: int) -> None:
    """`files` daily files of `rows` lines each, shaped like the simulator's."""
    for d in range(files):
        day = date(2025, 1, 1) + timedelta(days=d)
        path = usage_dir / f"dt={day}" / "events.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as handle:
            for i in range(rows):
                if i == 7:
                    handle.write("{not json\n")
                    continue
                event = {
                    "event_id": f"E{d:04d}{i:07d}",
                    "customer_id": f"C{i % 100_000:07d}",
                    "user_id": f"U{i % 5_000}",
                    "event_type": TYPES[i % 4],
                    "feature": None if i % 3 else "reports",
                    "occurred_at": f"{day}T09:12:33Z",
                    "received_at": f"{day}T09:12:35Z",
                }
                handle.write(json.dumps(event) + "\n")


def main() -> None:
    """Generate, load, report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, data_dir=Path(tmp) / "data")
        write_files(settings.usage_path, args.files, args.rows)
        started = time.monotonic()
        summary = run(["usage"], settings)
        seconds = time.monotonic() - started
    rows = summary.rows["usage_events"]
    print(f"{rows:,d} usage events in {seconds:.1f} s = {rows / seconds:,.0f} rows/s")


if __name__ == "__main__":
    main()
