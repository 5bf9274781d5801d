"""Where a simulation keeps its private full history (`--out` of `generate`).

The layout is private to the simulator: `release` and `truth` are its only readers. The one
file written from outside is `cs_plan.parquet`, the published at-risk lists (`simulator.plan`).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


class SimPaths:
    """Paths inside a simulation directory."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    meta = property(lambda self: self.root / "meta.json")
    customers = property(lambda self: self.root / "customers.parquet")
    customer_versions = property(lambda self: self.root / "customer_versions.parquet")
    cs_actions = property(lambda self: self.root / "cs_actions.parquet")
    usage_dir = property(lambda self: self.root / "usage")
    tickets = property(lambda self: self.root / "zendesk_tickets.parquet")
    organizations = property(lambda self: self.root / "zendesk_organizations.parquet")
    stripe = property(lambda self: self.root / "stripe_events.parquet")
    truth_dir = property(lambda self: self.root / "truth")
    hazard = property(lambda self: self.root / "truth" / "weekly_hazard.parquet")
    episodes = property(lambda self: self.root / "truth" / "list_episodes.parquet")
    plan = property(lambda self: self.root / "cs_plan.parquet")

    def usage_day(self, day: str) -> Path:
        """Private events that arrive on `day` (YYYY-MM-DD)."""
        return self.usage_dir / f"{day}.parquet"


def write_parquet(table: pa.Table, path: Path, row_group_size: int = 65_536) -> None:
    """Write a table, creating the folder (small row groups let readers skip by `seq`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd", row_group_size=row_group_size)
