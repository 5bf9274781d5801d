"""Customers scored by id: the whole snapshot at an as_of, scored once by the batch scorer's
`score_frame` and cached per (as_of, model version), so an online answer is the batch answer
(probability, tier, rank and drivers; a capacity tier needs the whole snapshot anyway).

The warehouse is read through short-lived read-only connections, only when the file changed
(its size and mtime, and its WAL's): a request never holds the file. When a writer locks it,
a snapshot already scored keeps answering; one that is not is a 503 with Retry-After.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from models_ml.config import MLConfig
from models_ml.errors import ModelError
from models_ml.scoring import read_features, score_frame
from serving.compute import request_threads
from serving.config import ServingConfig
from serving.errors import ModelUnavailable, NotFound, WarehouseUnavailable, field_error
from serving.model_holder import Served
from warehouse import WarehouseError, get_warehouse
from warehouse.settings import Settings

log = logging.getLogger("serving")

Row = tuple[float, str, int, list[str]]  # probability, tier, rank, drivers
READ_ATTEMPTS = 3  # a writer's lock is often gone within a few hundred ms
READ_BACKOFF_SECONDS = 0.1


@dataclass(frozen=True)
class ScoredSnapshot:
    """Every active customer at `as_of`, scored by one model version."""

    as_of: date
    model_version: str
    signature: tuple
    features: pd.DataFrame
    rows: dict[str, Row]


def file_signature(path: Path) -> tuple:
    """Changes whenever a writer touched the DuckDB file (or its write-ahead log)."""
    parts: list[object] = []
    for p in (path, path.with_name(path.name + ".wal")):
        try:
            st = p.stat()
            parts += [st.st_mtime_ns, st.st_size]
        except FileNotFoundError:
            parts += [None, None]
    return tuple(parts)


def _rows(frame: pd.DataFrame) -> dict[str, Row]:
    drivers = frame[["driver_1", "driver_2", "driver_3"]].astype(object).to_numpy()
    return {
        cid: (float(p), str(t), int(r), [d for d in ds if isinstance(d, str)])
        for cid, p, t, r, ds in zip(
            frame["customer_id"],
            frame["churn_probability"],
            frame["risk_tier"],
            frame["risk_rank"],
            drivers,
            strict=True,
        )
    }


class SnapshotCache:
    """Scored snapshots, LRU-bounded, refreshed when the warehouse file changes."""

    def __init__(self, settings: Settings, cfg: MLConfig, serving: ServingConfig) -> None:
        self.settings = settings
        self.cfg = cfg
        self.serving = serving
        self._snapshots: OrderedDict[tuple[date, str], ScoredSnapshot] = OrderedDict()
        self._latest: tuple[tuple, date] | None = None
        self._features: dict[date, tuple[tuple, pd.DataFrame]] = {}
        self._lock = threading.Lock()  # the dict
        self._build = threading.Lock()  # one warehouse read + scoring at a time

    def signature(self) -> tuple:
        return file_signature(Path(self.settings.warehouse_file))

    def lookup(self, served: Served, customer_id: str, as_of: date | None, at: str) -> tuple:
        """(as_of, Row) of one customer; 404 naming `customer_id` when not scored then."""
        as_of = as_of or self.latest_as_of()
        snapshot = self.get(served, as_of, at)
        row = snapshot.rows.get(customer_id)
        if row is None:
            raise NotFound(
                f"customer_id {customer_id!r} has no active snapshot at as_of_date {as_of}",
                [
                    field_error(
                        f"{at}customer_id",
                        f"not in {self.cfg.features_table} at {as_of} (unknown or not active)",
                    )
                ],
            )
        return as_of, row

    def latest_as_of(self) -> date:
        """The newest as_of_date of the features table (cached per file version)."""
        sig = self.signature()
        latest = self._latest
        if latest is not None and latest[0] == sig:
            return latest[1]
        table, column = self.cfg.features_table, self.cfg.date_column
        try:
            wh = get_warehouse(self.settings, read_only=True)
            if not wh.table_exists(table):
                raise ModelUnavailable(
                    f"features table {table} does not exist: run `churn transform` first"
                )
            value = wh.query(f"select max({column}) as d from {table}")["d"].iloc[0]
        except (WarehouseError, duckdb.Error) as exc:
            if latest is not None:
                return latest[1]  # a writer holds the file: the last answer still stands
            raise self._busy(exc) from exc
        if pd.isna(value):
            raise ModelUnavailable(f"features table {table} is empty: run `churn transform`")
        self._latest = (sig, pd.Timestamp(value).date())
        return self._latest[1]

    def get(self, served: Served, as_of: date, at: str = "") -> ScoredSnapshot:
        """The scored snapshot, re-read only when the file changed since it was scored."""
        key = (as_of, served.loaded.version)
        sig = self.signature()
        cached = self._snapshots.get(key)
        if cached is not None and cached.signature == sig:
            return cached
        with self._build:
            cached = self._snapshots.get(key)
            if cached is not None and cached.signature == sig:
                return cached
            features = self._features_at(as_of, sig, at)
            if cached is not None and (
                cached.features is features or cached.features.equals(features)
            ):
                snapshot = ScoredSnapshot(as_of, key[1], sig, features, cached.rows)
            else:
                snapshot = self._score(served, features, as_of, sig)
            self._put(key, snapshot)
            return snapshot

    def _features_at(self, as_of: date, sig: tuple, at: str) -> pd.DataFrame:
        """Features at `as_of`: re-read when the file changed; while a writer locks it, the
        last consistent read (any model version scores the same features)."""
        known = self._features.get(as_of)
        if known is not None and known[0] == sig:
            return known[1]
        for attempt in range(READ_ATTEMPTS):
            try:
                frame = self._read(as_of, at)
                break
            except WarehouseUnavailable:
                if attempt + 1 < READ_ATTEMPTS:
                    time.sleep(READ_BACKOFF_SECONDS)
                elif known is not None:
                    return known[1]
                else:
                    raise
        if known is not None and known[1].equals(frame):
            frame = known[1]  # same rows: keep the object, so scored snapshots stay valid
        self._features[as_of] = (sig, frame)
        while len(self._features) > self.serving.snapshots_cached:
            self._features.pop(next(iter(self._features)))
        return frame

    def _read(self, as_of: date, at: str) -> pd.DataFrame:
        try:
            return read_features(get_warehouse(self.settings, read_only=True), self.cfg, as_of)
        except (WarehouseError, duckdb.Error) as exc:
            raise self._busy(exc) from exc
        except ModelError as exc:
            if "no rows at as_of" in exc.problem:
                raise NotFound(
                    f"no snapshot at as_of_date {as_of}",
                    [field_error(f"{at}as_of_date", f"{self.cfg.features_table} has no rows")],
                ) from exc
            raise ModelUnavailable(str(exc)) from exc

    def _score(self, served: Served, features: pd.DataFrame, as_of: date, sig: tuple):
        started = datetime.now(UTC)
        try:
            with request_threads(self.serving.threads):
                frame = score_frame(
                    features, served.loaded, self.cfg, as_of, "online", started.replace(tzinfo=None)
                )
        except ModelError as exc:  # the features table does not fit this model
            raise ModelUnavailable(str(exc)) from exc
        seconds = (datetime.now(UTC) - started).total_seconds()
        log.info(
            "scored %d customers at %s with v%s in %.2f s",
            len(frame),
            as_of,
            served.loaded.version,
            seconds,
        )
        return ScoredSnapshot(as_of, served.loaded.version, sig, features, _rows(frame))

    def _put(self, key: tuple[date, str], snapshot: ScoredSnapshot) -> None:
        with self._lock:
            self._snapshots[key] = snapshot
            self._snapshots.move_to_end(key)
            while len(self._snapshots) > self.serving.snapshots_cached:
                self._snapshots.popitem(last=False)

    def _busy(self, exc: BaseException) -> WarehouseUnavailable:
        seconds = self.serving.retry_after_seconds
        return WarehouseUnavailable(
            f"the warehouse cannot be read right now ({exc}); another process may be writing "
            f"it: retry in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )

    def warm(self, served: Served) -> None:
        """Score the latest snapshot for `served` (before it answers its first request)."""
        self.get(served, self.latest_as_of())
