"""Dirt of the usage collector: what real event pipelines deliver besides clean events.

Each kind is applied independently to a share `rate` of events: duplicates (same event_id again,
in the same or a later file), late arrival (1-5 days), null customer_id, malformed occurred_at,
unknown event_type; non-JSON lines are rarer (rate / 10). Events are only ever emitted while the
customer is active; dirt changes how they are delivered, never when they happened.
"""

from __future__ import annotations

import numpy as np

from simulator.clock import DAY
from simulator.config import EVENT_TYPES, UNKNOWN_EVENT_TYPES

Events = dict[str, np.ndarray]


def deliver(ev: Events, rate: float, rng: np.random.Generator) -> Events:
    """Add `received` and the dirt columns to clean events (arrays of equal length)."""
    n = len(ev["event_id"])
    received = ev["occurred"] + rng.integers(1, 300, n)
    late = rng.random(n) < rate
    received[late] = ev["occurred"][late] + rng.integers(DAY, 6 * DAY, late.sum())
    cust = ev["cust"].copy()
    cust[rng.random(n) < rate] = -1
    etype = ev["etype"].copy()
    unknown = rng.random(n) < rate
    etype[unknown] = len(EVENT_TYPES) + rng.integers(0, len(UNKNOWN_EVENT_TYPES), unknown.sum())
    bad_ts = np.full(n, -1, np.int8)
    malformed = rng.random(n) < rate
    bad_ts[malformed] = rng.integers(0, 5, malformed.sum())
    out = {**ev, "cust": cust, "etype": etype, "received": received, "bad_ts": bad_ts}
    out["raw"] = np.zeros(n, bool)

    dup = np.flatnonzero(rng.random(n) < rate)
    copies = {k: v[dup] for k, v in out.items()}
    copies["received"] = copies["received"] + rng.integers(0, 3 * DAY, len(dup))
    broken = np.flatnonzero(rng.random(n) < rate / 10)
    raws = {k: v[broken] for k, v in out.items()}
    raws["raw"] = np.ones(len(broken), bool)
    raws["received"] = raws["received"] + 1
    return {k: np.concatenate([out[k], copies[k], raws[k]]) for k in out}
