"""Training's sample on BigQuery is chosen by BigQuery DataFrames (bigframes) code, tested
offline two ways:

- on local data in bigframes' polars test session, which runs the same DataFrame operations
  (its engine has no hash function, so there the sampling bucket is a column computed
  beforehand; the selection around it is the production code);
- the SQL bigframes generates for BigQuery (a mock session that makes no Google call), run on
  the emulator: it must return the rows the gateway's own SQL returns there, with every
  positive, about the share of negatives per snapshot and only the chosen snapshots.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import date

import numpy as np
import pandas as pd
import pytest

from tests.bigquery.emulators import BigQueryEmulator
from tests.models_ml.fixtures import make_settings, training_frame
from warehouse import get_warehouse
from warehouse.bigquery_warehouse import (
    BigQueryWarehouse,
    bigframes_sample,
    bigframes_snapshot_counts,
)
from warehouse.interface import SAMPLE_BUCKETS, StratifiedSample

pytest.importorskip("polars", reason="bigframes' local test session needs polars")

KEY = ["customer_id", "as_of_date"]


def local_bucket(frame: pd.DataFrame, seed: int) -> pd.Series:
    """A deterministic bucket per (id, date, seed), computed in pandas for the polars session."""
    text = frame["customer_id"].astype(str) + "|" + frame["as_of_date"].astype(str) + f"|{seed}"
    return text.map(
        lambda s: int.from_bytes(hashlib.sha256(s.encode()).digest()[:8], "big") % SAMPLE_BUCKETS
    )


def expected_rows(frame: pd.DataFrame, sample: StratifiedSample) -> pd.DataFrame:
    """What the selection must return, written in pandas: the dates, then the bucket below the
    threshold of the row's class (a label that is not false counts as positive)."""
    chosen = frame[frame["as_of_date"].isin(sample.dates)]
    negative = chosen["churned"].eq(False).fillna(False).astype(bool)
    limit = np.where(negative, sample.negative_threshold, sample.positive_threshold)
    return chosen[chosen["bucket"].to_numpy() < limit]


def keys(frame: pd.DataFrame) -> set[tuple[str, date]]:
    days = pd.to_datetime(frame["as_of_date"].astype(str)).dt.date
    return set(zip(frame["customer_id"].astype(str), days, strict=True))


@pytest.fixture(scope="module")
def local_frame() -> pd.DataFrame:
    frame = training_frame(800)[["customer_id", "as_of_date", "churned", "logins_30d"]]
    frame = frame.astype({"churned": "boolean"})
    frame.loc[frame.index[-3:], "churned"] = pd.NA  # null labels must never be sampled away
    return frame.assign(bucket=local_bucket(frame, seed=7))


@pytest.fixture(scope="module")
def polars_session():
    from bigframes.testing.polars_session import TestSession

    return TestSession()


def test_the_bigframes_selection_keeps_every_positive_and_a_share_of_negatives(
    polars_session, local_frame
):
    dates = tuple(sorted(local_frame["as_of_date"].unique())[-5:])
    sample = StratifiedSample("customer_id", "as_of_date", "churned", dates, negative_share=0.3)
    frame = polars_session.read_pandas(local_frame)
    rows = bigframes_sample(frame, sample, bucket=lambda f, _: f["bucket"]).to_pandas()

    assert keys(rows) == keys(expected_rows(local_frame, sample))
    chosen = local_frame[local_frame["as_of_date"].isin(dates)]
    assert keys(chosen[chosen["churned"].fillna(True)]) <= keys(rows)  # positives and nulls
    assert {d for _, d in keys(rows)} == set(dates)
    negatives = rows["churned"].eq(False).fillna(False).astype(bool)
    share = negatives.sum() / chosen["churned"].eq(False).fillna(False).sum()
    assert 0.25 < share < 0.35


def test_the_bigframes_selection_of_whole_weeks_and_of_integer_labels(polars_session, local_frame):
    dates = tuple(sorted(local_frame["as_of_date"].unique())[:2])
    whole = StratifiedSample("customer_id", "as_of_date", "churned", dates)
    frame = polars_session.read_pandas(local_frame)
    rows = bigframes_sample(frame, whole).to_pandas()  # no bucket needed for whole weeks
    assert keys(rows) == keys(local_frame[local_frame["as_of_date"].isin(dates)])

    as_int = local_frame.dropna(subset=["churned"]).astype({"churned": "int64"})
    sample = StratifiedSample("customer_id", "as_of_date", "churned", dates, negative_share=0.2)
    rows = bigframes_sample(
        polars_session.read_pandas(as_int), sample, bucket=lambda f, _: f["bucket"]
    ).to_pandas()
    assert keys(rows) == keys(expected_rows(as_int.astype({"churned": bool}), sample))


def test_the_bigframes_snapshot_counts_match_pandas(polars_session, local_frame):
    until = sorted(local_frame["as_of_date"].unique())[-4]
    counts = bigframes_snapshot_counts(
        polars_session.read_pandas(local_frame), "as_of_date", "churned", until
    ).to_pandas()
    counts = counts.sort_values("as_of_date", ignore_index=True)
    before = local_frame[local_frame["as_of_date"] <= until]
    expected = before.groupby("as_of_date")["churned"].agg(
        n_rows="size", n_positive=lambda s: int(s.fillna(False).sum())
    )
    assert [pd.Timestamp(str(d)).date() for d in counts["as_of_date"]] == list(expected.index)
    assert counts["n_rows"].tolist() == expected["n_rows"].tolist()
    assert counts["n_positive"].tolist() == expected["n_positive"].tolist()


# ---------- the SQL bigframes would run on BigQuery, run on the emulator

TABLE = "features.training_set"


@pytest.fixture(scope="module")
def emulated(bq_emulator: BigQueryEmulator, tmp_path_factory):
    """A BigQuery gateway on the emulator, in a project of its own, holding a training set."""
    settings = make_settings(
        tmp_path_factory.mktemp("bq_sample"),
        target="bigquery",
        bigquery_project=f"sample-{uuid.uuid4().hex[:6]}",
        bigquery_api_endpoint=bq_emulator.endpoint,
        bigquery_retry_seconds=5,
    )
    wh = get_warehouse(settings)
    assert isinstance(wh, BigQueryWarehouse) and not wh.uses_bigframes
    training = training_frame(900)
    wh.write_table(training, TABLE)
    return wh, training


def bigframes_sql(wh: BigQueryWarehouse, select) -> str:
    """The SQL of `select(frame)` for the training table, from a bigframes session that makes
    no Google call, pointed at the emulator's table (the mock's time-travel clause removed:
    its time is in the future, which the emulator refuses)."""
    import bigframes.enums
    from bigframes.testing.mocks import create_bigquery_session

    schema = wh.client.get_table(wh.table_id(TABLE)).schema
    session = create_bigquery_session(table_schema=schema, table_name="training_set")
    frame = session.read_gbq_table(
        wh.table_id(TABLE), index_col=bigframes.enums.DefaultIndexKind.NULL
    )
    sql = select(frame).sql
    mocked = "`test-project`.`test_dataset`.`training_set`"
    assert mocked in sql
    sql = sql.replace(mocked, f"`{wh.project}`.`features`.`training_set`")
    return re.sub(r"FOR SYSTEM_TIME AS OF CAST\('[^']*' AS DATETIME\)", "", sql)


def test_the_bigframes_sample_sql_runs_on_the_emulator_and_matches_the_gateway(emulated):
    wh, training = emulated
    dates = tuple(sorted(training["as_of_date"].unique())[-6:])
    sample = StratifiedSample("customer_id", "as_of_date", "churned", dates, negative_share=0.25)
    by_bigframes = wh.query(bigframes_sql(wh, lambda frame: bigframes_sample(frame, sample)))
    by_gateway = wh.read_sample(TABLE, sample)

    assert len(by_bigframes) > 0 and keys(by_bigframes) == keys(by_gateway)
    chosen = training[training["as_of_date"].isin(dates)]
    assert keys(chosen[chosen["churned"]]) <= keys(by_bigframes)
    assert {d for _, d in keys(by_bigframes)} == set(dates)
    negatives = by_bigframes[~by_bigframes["churned"].astype(bool)]
    per_date = (
        negatives.groupby(pd.to_datetime(negatives["as_of_date"]).dt.date).size()
        / chosen[~chosen["churned"]].groupby("as_of_date").size()
    )
    assert len(per_date) == 6 and per_date.between(0.15, 0.35).all(), per_date
    assert keys(wh.read_sample(TABLE, sample)) == keys(by_gateway)  # deterministic


def test_the_bigframes_counts_sql_runs_on_the_emulator_and_matches_the_gateway(emulated):
    wh, training = emulated
    until = sorted(training["as_of_date"].unique())[-5]
    counts = wh.query(
        bigframes_sql(
            wh, lambda frame: bigframes_snapshot_counts(frame, "as_of_date", "churned", until)
        )
    ).sort_values("as_of_date", ignore_index=True)
    gateway = wh.snapshot_counts(TABLE, "as_of_date", "churned", until)
    expected = (
        training[training["as_of_date"] <= until]
        .groupby("as_of_date")["churned"]
        .agg(n_rows="size", n_positive="sum")
    )
    for found in (counts, gateway):
        assert [pd.Timestamp(d).date() for d in found["as_of_date"]] == list(expected.index)
        assert found["n_rows"].tolist() == expected["n_rows"].tolist()
        assert found["n_positive"].tolist() == expected["n_positive"].tolist()
