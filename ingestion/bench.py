"""Measure ingestion speed in rows/s: `python -m ingestion.bench [--part usage|pages|all]`.

usage: writes synthetic `usage/dt=*/events.jsonl` files (one malformed line each), then the
same lines as `events.jsonl.gz`, and loads each set with the real usage pipeline into a fresh
DuckDB warehouse.

pages: loads the Zendesk and Stripe pages of a release (`--sources`, e.g. the output of
`churn release`) into a fresh warehouse per run, through Arrow tables (`arrow`, the default
path) or dlt's row normaliser (`rows`, the path BigQuery uses), `--repeat` times, interleaved.
Each figure is the whole `pipeline.run` (extract, normalize, load) of one source, as rows
per wall second and per CPU second of the process (all its threads): on a shared machine
the CPU figure moves less.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from ingestion.destination import pipeline
from ingestion.recovery import run_pipeline
from ingestion.runner import run
from ingestion.stripe import stripe_source
from ingestion.zendesk import zendesk_source
from warehouse.settings import Settings

TYPES = ("login", "feature_use", "export", "integration_sync")
PAGE_SOURCES: dict[str, Callable[..., Any]] = {"zendesk": zendesk_source, "stripe": stripe_source}


def write_files(usage_dir: Path, files: int, rows: int, compress: bool = False) -> None:
    """`files` daily files of `rows` lines each, shaped like the simulator's."""
    for d in range(files):
        day = date(2025, 1, 1) + timedelta(days=d)
        lines = []
        for i in range(rows):
            if i == 7:
                lines.append("{not json\n")
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
            lines.append(json.dumps(event) + "\n")
        data = "".join(lines).encode("utf-8")
        name = "events.jsonl.gz" if compress else "events.jsonl"
        path = usage_dir / f"dt={day}" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(data, compresslevel=6) if compress else data)


Run = tuple[int, float, float]  # rows, wall seconds, CPU seconds


def usage_rate(files: int, rows: int, compress: bool) -> Run:
    """(events loaded, wall s, CPU s) of one usage load of fresh synthetic files."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, data_dir=Path(tmp) / "data")
        write_files(settings.usage_path, files, rows, compress)
        started, cpu = time.monotonic(), time.process_time()
        summary = run(["usage"], settings)
        seconds, cpu = time.monotonic() - started, time.process_time() - cpu
    return summary.rows["usage_events"], seconds, cpu


def pages_rate(sources: Path, name: str, arrow: bool) -> Run:
    """(rows landed in the source's raw tables, wall s, CPU s) of one load into a fresh
    warehouse."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, data_dir=Path(tmp) / "data", sources_dir=sources)
        dlt_pipeline = pipeline(settings, name)
        started, cpu = time.monotonic(), time.process_time()
        run_pipeline(name, dlt_pipeline, PAGE_SOURCES[name](settings, arrow=arrow), [])
        seconds, cpu = time.monotonic() - started, time.process_time() - cpu
        info = dlt_pipeline.last_trace.last_normalize_info
        rows = sum(n for table, n in info.row_counts.items() if not table.startswith("_dlt"))
    return rows, seconds, cpu


def report(label: str, runs: list[Run]) -> tuple[float, float]:
    """Print the median rates of `runs` and every run's seconds; return (wall, CPU) medians."""
    rows = runs[0][0]
    rate = statistics.median(n / s for n, s, _ in runs)
    cpu_rate = statistics.median(n / c for n, _, c in runs)
    times = ", ".join(f"{s:.1f}/{c:.1f}" for _, s, c in runs)
    print(
        f"{label:<16} {rows:>11,d} rows  median {rate:>9,.0f} rows/s, "
        f"{cpu_rate:>9,.0f} rows/CPU-s  (wall/CPU s: {times})"
    )
    return rate, cpu_rate


def main() -> None:
    """Measure the chosen parts, print one line per measurement."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--part", choices=("usage", "pages", "all"), default="all")
    parser.add_argument("--files", type=int, default=20, help="usage files per run")
    parser.add_argument("--rows", type=int, default=100_000, help="lines per usage file")
    parser.add_argument("--sources", type=Path, help="a release's sources directory (pages)")
    parser.add_argument("--path", choices=("arrow", "rows", "both"), default="arrow")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measurement")
    args = parser.parse_args()
    if args.part in ("usage", "all"):
        runs: dict[str, list[Run]] = {"usage jsonl": [], "usage jsonl.gz": []}
        for _ in range(args.repeat):
            runs["usage jsonl"].append(usage_rate(args.files, args.rows, compress=False))
            runs["usage jsonl.gz"].append(usage_rate(args.files, args.rows, compress=True))
        for label, measured in runs.items():
            report(label, measured)
    if args.part in ("pages", "all"):
        if args.sources is None or not args.sources.is_dir():
            parser.error("--sources DIR (a release, e.g. data/sources) is needed for pages")
        paths = {"arrow": [True], "rows": [False], "both": [False, True]}[args.path]
        page_runs: dict[str, list[Run]] = {}
        for _ in range(args.repeat):
            for name in PAGE_SOURCES:
                for arrow in paths:
                    label = f"{name} {'arrow' if arrow else 'rows'}"
                    page_runs.setdefault(label, []).append(pages_rate(args.sources, name, arrow))
        rates = {label: report(label, measured) for label, measured in page_runs.items()}
        for name in PAGE_SOURCES:
            if f"{name} rows" in rates and f"{name} arrow" in rates:
                (wall, cpu), (old_wall, old_cpu) = rates[f"{name} arrow"], rates[f"{name} rows"]
                print(
                    f"{name}: arrow / rows = {wall / old_wall:.1f}x per wall second, "
                    f"{cpu / old_cpu:.1f}x per CPU second (ratios of medians)"
                )


if __name__ == "__main__":
    main()
