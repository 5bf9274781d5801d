"""The randomized control group: which newly High-risk customers CS does not see.

Comparing customers CS chose to call with those it did not measures CS's choice as much as
its effect. Instead, a fixed share of the customers who *newly* enter High risk is drawn into
a control group and kept off the CS list for that episode; the save effect is then the
control group's churn rate minus the treated group's (intention to treat, `save_effect`).

An episode is a run of consecutive scored weeks in which the customer is High: it starts at
the first High week after a scored week that was not High (or at the customer's first score)
and ends at the next scored week that is not High. A week the customer is not scored (gone, or
no batch that week) neither starts nor ends one. A customer already High when the holdout was
switched on stays untracked until that episode ends.

The draw is a keyed hash of (customer, episode start), not a random generator: the same
customer and episode land in the same group on every rerun, in any row order, on any machine,
with no state to keep. The key is not a secret; changing it starts an independent draw.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from datetime import date, datetime, time

import numpy as np
import pandas as pd

from models_ml.config import MLConfig
from models_ml.monitoring.newly_high import newly_high_customers
from models_ml.scoring.columns import HOLDOUT_KEY, HOLDOUT_NAMES
from warehouse.interface import check_name

CONTROL = "control"
TREATED = "treated"
# how a (key, customer, episode start) becomes a number: stored with every row, so a future
# change of method is visible in the assignments
HASH_VERSION = "hmac-sha256-v1"
_SCALE = float(2**64)


def key_id(key: str) -> str:
    """A short fingerprint of the key, stored instead of the key itself."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def draws(customer_ids: Sequence[str], episode_starts: Sequence[date], key: str) -> np.ndarray:
    """One number in [0, 1) per (customer, episode start): HMAC-SHA256 of both under `key`,
    its first 8 bytes read as an unsigned integer and scaled. Depends on nothing else."""
    if len(customer_ids) != len(episode_starts):
        raise ValueError("customer_ids and episode_starts must have the same length")
    secret = key.encode()
    out = np.empty(len(customer_ids), dtype=np.float64)
    for i, (customer, start) in enumerate(zip(customer_ids, episode_starts, strict=True)):
        day = pd.Timestamp(start).date().isoformat()
        digest = hmac.new(secret, f"{customer}|{day}".encode(), hashlib.sha256).digest()
        out[i] = int.from_bytes(digest[:8], "big") / _SCALE
    return out


def assign_control(
    customer_ids: Sequence[str], episode_starts: Sequence[date], share: float, key: str
) -> np.ndarray:
    """True where the customer's episode is in the control group (about `share` of them).

    A larger share keeps every control customer of a smaller one (the draw is compared with
    the share), and share 0 assigns nobody.
    """
    if not 0.0 <= share < 1.0:
        raise ValueError(f"share must be in [0, 1), not {share}")
    return draws(customer_ids, episode_starts, key) < share


def assignments_frame(
    customer_ids: Sequence[str],
    episode_start: date,
    cfg: MLConfig,
    model_name: str,
    model_version: str,
) -> pd.DataFrame:
    """Rows of the assignments table (`HOLDOUT_NAMES`) for episodes starting at
    `episode_start` (pure). `assigned_at` is midnight of that date: the run's `as_of`, not the
    clock, so a rerun writes identical rows."""
    ids = [str(c) for c in customer_ids]
    starts = [episode_start] * len(ids)
    control = assign_control(ids, starts, cfg.holdout_share, cfg.holdout_key)
    columns = {
        "customer_id": pd.array(ids, dtype=object),
        "episode_start": pd.array(starts, dtype=object),
        "holdout_group": np.where(control, CONTROL, TREATED).astype(object),
        "share": np.full(len(ids), cfg.holdout_share, dtype=np.float64),
        "key_id": key_id(cfg.holdout_key),
        "hash_version": HASH_VERSION,
        "model_name": model_name,
        "model_version": model_version,
        "assigned_at": pd.Series(
            [datetime.combine(episode_start, time())] * len(ids), dtype="datetime64[us]"
        ).to_numpy(),
    }
    return pd.DataFrame(index=pd.RangeIndex(len(ids)), data={c: columns[c] for c in HOLDOUT_NAMES})


def control_customers(warehouse, episode_start: date, table: str) -> set[str]:
    """Ids of the customers whose episode starting at `episode_start` is in the control group
    (none when the holdout never ran): kept out of what CS is told, like the CS list."""
    if not warehouse.table_exists(table):
        return set()
    frame = warehouse.query(
        f"select customer_id from {check_name(table)} "
        "where episode_start = ? and holdout_group = 'control'",
        [episode_start],
    )
    return set(frame["customer_id"].astype(str))


def record_new_episodes(
    warehouse, as_of: date, cfg: MLConfig, model_name: str, model_version: str
) -> int:
    """Assign the customers who newly enter High risk at `as_of` and append their episodes to
    `cfg.holdout_table`; returns the rows inserted (0 on a rerun, or with the holdout off).

    Only the new episodes' ids are read back, so it runs the same after local and
    in-warehouse (BigQuery) scoring.
    """
    if cfg.holdout_share <= 0:
        return 0
    # a High episode starts the week a customer is newly High
    ids = newly_high_customers(warehouse, as_of, cfg.predictions_table)
    if not ids:
        return 0
    rows = assignments_frame(ids, as_of, cfg, model_name, model_version)
    return warehouse.insert_new_rows(rows, cfg.holdout_table, HOLDOUT_KEY)
