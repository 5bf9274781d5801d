"""`python -m ingestion [--source NAME ...]`: load sources into `raw` and print row counts."""

from __future__ import annotations

import argparse
import logging
import sys

from ingestion.errors import IngestionError
from ingestion.runner import SOURCES, run


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print the summary; exit 1 with the message on a known error."""
    parser = argparse.ArgumentParser(prog="python -m ingestion", description=__doc__)
    parser.add_argument(
        "--source",
        action="append",
        choices=sorted(SOURCES),
        help="source to load (repeatable); all when omitted",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        summary = run(args.source)
    except IngestionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
