"""The image's HEALTHCHECK: GET the health URL the entrypoint wrote for its role.

One image runs every role, and Docker's HEALTHCHECK cannot see the entrypoint's arguments, so
the entrypoint leaves the URL in a file: the API and the app must answer 200 there; a role
without one (a worker, a job) counts as healthy while it runs.
"""

from __future__ import annotations

import os
import sys
import urllib.request
from pathlib import Path

TIMEOUT_SECONDS = 4.0


def main() -> int:
    """0 when healthy, 1 when not (Docker's convention)."""
    url_file = Path(os.environ.get("TMPDIR", "/tmp")) / "churn-health-url"
    if not url_file.exists():
        return 0
    url = url_file.read_text().strip()
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            return 0 if response.status == 200 else 1
    except OSError as error:
        print(f"unhealthy: {url}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
