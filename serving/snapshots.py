"""Customers scored by id: the whole snapshot at an as_of, scored once by the batch scorer's
`score_frame` and cached per (as_of, model version), so an online answer is the batch answer
(probability, tier, rank and drivers; a capacity tier needs the whole snapshot anyway).

The warehouse is read through short-lived read-only connections, only when the file changed
(its size and mtime, and its WAL's): a request never holds the file. When a writer locks it,
a snapshot already scored keeps answering; one that is not is a 503 with Retry-After.

The cache is bounded by memory, not by a count of dates (`CHURN_SERVE_CACHE_BYTES`): a
snapshot's size is its features frame plus its scored rows, which differ by orders of
magnitude between a demo and a million customers. Least recently used entries go first; the
snapshot that answers the current request stays even when it alone exceeds the budget.

The holdout group of each customer in an open High episode (`serving.holdout`) is read the
same way, once per (as_of, file version), so CS tools asking by id learn who is in the control
group at the cost of one small query per warehouse change.
"""

from __future__ import annotations

import itertools
import logging
import sys
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
from serving.holdout import open_episode_groups
from serving.model_holder import Served
from warehouse import WarehouseError, get_warehouse
from warehouse.redaction import redact
from warehouse.settings import Settings

log = logging.getLogger("serving")

Row = tuple[float, str, int, list[str]]  # probability, tier, rank, drivers
READ_ATTEMPTS = 3  # a writer's lock is often gone within a few hundred ms
READ_BACKOFF_SECONDS = 0.1
# as_of dates whose holdout groups are kept: each is a dict of the High customers only
GROUP_DATES = 8


@dataclass(frozen=True)
class ScoredSnapshot:
    """Every active customer at `as_of`, scored by one model version."""

    as_of: date
    model_version: str
    signature: tuple
    features: pd.DataFrame
    rows: dict[str, Row]
    features_bytes: int
    rows_bytes: int


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


def frame_bytes(frame: pd.DataFrame) -> int:
    """Memory of a frame, text included."""
    return int(frame.memory_usage(index=True, deep=True).sum())


def rows_bytes(rows: dict[str, Row], sample: int = 500) -> int:
    """Memory of scored rows, measured on a sample and scaled (measuring a million rows
    would cost more than scoring them)."""
    if not rows:
        return sys.getsizeof(rows)
    per_row = [
        sys.getsizeof(cid)
        + sys.getsizeof(row)
        + sum(sys.getsizeof(part) for part in row)
        + sum(sys.getsizeof(d) for d in row[3])
        for cid, row in itertools.islice(rows.items(), sample)
    ]
    return int(sys.getsizeof(rows) + sum(per_row) / len(per_row) * len(rows))


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
    """Scored snapshots in a byte budget (LRU), refreshed when the warehouse file changes."""

    def __init__(self, settings: Settings, cfg: MLConfig, serving: ServingConfig) -> None:
        self.settings = settings
        self.cfg = cfg
        self.serving = serving
        self._snapshots: OrderedDict[tuple[date, str], ScoredSnapshot] = OrderedDict()
        self._latest: tuple[tuple, date] | None = None
        # as_of -> (file signature, features, their bytes), oldest first
        self._features: OrderedDict[date, tuple[tuple, pd.DataFrame, int]] = OrderedDict()
        # as_of -> (file signature, customer_id -> control/treated), oldest first
        self._groups: OrderedDict[date, tuple[tuple, dict[str, str]]] = OrderedDict()
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

    def holdout_groups(self, as_of: date) -> dict[str, str]:
        """customer_id -> 'control' | 'treated' of the open High episodes at `as_of`, read
        once per warehouse file version; while a writer locks the file, the last read of that
        date answers (a 503 when there is none: a missing group would read as 'not held out')."""
        sig = self.signature()
        known = self._groups.get(as_of)
        if known is not None and known[0] == sig:
            return known[1]
        for attempt in range(READ_ATTEMPTS):
            try:
                groups = open_episode_groups(
                    get_warehouse(self.settings, read_only=True),
                    as_of,
                    self.cfg.predictions_table,
                    self.cfg.holdout_table,
                )
                break
            except (WarehouseError, duckdb.Error) as exc:
                if attempt + 1 < READ_ATTEMPTS:
                    time.sleep(READ_BACKOFF_SECONDS)
                elif known is not None:
                    return known[1]
                else:
                    raise self._busy(exc) from exc
        with self._lock:
            self._groups[as_of] = (sig, groups)
            self._groups.move_to_end(as_of)
            while len(self._groups) > GROUP_DATES:
                self._groups.popitem(last=False)
        return groups

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
            features, nbytes = self._features_at(as_of, sig, at)
            if cached is not None and (
                cached.features is features or cached.features.equals(features)
            ):
                snapshot = ScoredSnapshot(
                    as_of, key[1], sig, features, cached.rows, nbytes, cached.rows_bytes
                )
            else:
                snapshot = self._score(served, features, nbytes, as_of, sig)
            self._put(key, snapshot)
            return snapshot

    def _features_at(self, as_of: date, sig: tuple, at: str) -> tuple[pd.DataFrame, int]:
        """Features at `as_of` and their bytes: re-read when the file changed; while a writer
        locks it, the last consistent read (any model version scores the same features)."""
        known = self._features.get(as_of)
        if known is not None and known[0] == sig:
            self._features.move_to_end(as_of)
            return known[1], known[2]
        for attempt in range(READ_ATTEMPTS):
            try:
                frame = self._read(as_of, at)
                break
            except WarehouseUnavailable:
                if attempt + 1 < READ_ATTEMPTS:
                    time.sleep(READ_BACKOFF_SECONDS)
                elif known is not None:
                    return known[1], known[2]
                else:
                    raise
        if known is not None and known[1].equals(frame):
            frame = known[1]  # same rows: keep the object, so scored snapshots stay valid
        reused = known is not None and frame is known[1]
        entry = (sig, frame, known[2] if reused else frame_bytes(frame))  # type: ignore[index]
        with self._lock:
            self._features[as_of] = entry
            self._features.move_to_end(as_of)
            self._evict((as_of, None))
        return frame, entry[2]

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

    def _score(
        self, served: Served, features: pd.DataFrame, nbytes: int, as_of: date, sig: tuple
    ) -> ScoredSnapshot:
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
        rows = _rows(frame)
        return ScoredSnapshot(
            as_of, served.loaded.version, sig, features, rows, nbytes, rows_bytes(rows)
        )

    def _put(self, key: tuple[date, str], snapshot: ScoredSnapshot) -> None:
        with self._lock:
            self._snapshots[key] = snapshot
            self._snapshots.move_to_end(key)
            if snapshot.as_of in self._features:
                self._features.move_to_end(snapshot.as_of)
            self._evict(key)

    @property
    def nbytes(self) -> int:
        """Memory held: each features frame once (snapshots share them) plus scored rows."""
        frames = {id(s.features): s.features_bytes for s in self._snapshots.values()}
        frames.update({id(frame): n for _, frame, n in self._features.values()})
        return sum(frames.values()) + sum(s.rows_bytes for s in self._snapshots.values())

    def cached(self) -> list[tuple[date, str]]:
        """(as_of, model version) of the scored snapshots held, least recently used first."""
        return list(self._snapshots)

    def _evict(self, keep: tuple[date, str | None]) -> None:
        """Drop least recently used entries until the cache fits `cache_bytes`; never the
        snapshot `keep` nor the features it is scored from. Call with `_lock` held."""
        while self.nbytes > self.serving.cache_bytes:
            scored = {k[0] for k in self._snapshots}
            spare = next((d for d in self._features if d != keep[0] and d not in scored), None)
            if spare is not None:  # features no snapshot uses: cheapest to lose
                del self._features[spare]
                continue
            old = next((k for k in self._snapshots if k != keep), None)
            if old is None:
                return
            del self._snapshots[old]
            if old[0] != keep[0] and all(k[0] != old[0] for k in self._snapshots):
                self._features.pop(old[0], None)

    def _busy(self, exc: BaseException) -> WarehouseUnavailable:
        """503 naming the problem, not the machine: DuckDB's lock error holds the file's
        path, the writer's interpreter and its PID, which only the server log gets."""
        seconds = self.serving.retry_after_seconds
        log.warning("warehouse read refused (%s: %s)", type(exc).__name__, redact(exc))
        return WarehouseUnavailable(
            f"the warehouse is busy: a job is writing it; retry in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )

    def warm(self, served: Served) -> None:
        """Score the latest snapshot for `served` (before it answers its first request)."""
        self.get(served, self.latest_as_of())
