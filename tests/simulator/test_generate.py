"""Generation: determinism, truth and the oracle, the churn process, the CLI."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from sim_helpers import END, START, stripe_events
from typer.testing import CliRunner

from simulator import generate, release
from simulator.__main__ import app
from simulator.truth import oracle_probability


def _tables(root: Path) -> dict[str, pd.DataFrame]:
    return {
        str(p.relative_to(root)): pq.read_table(p).to_pandas()
        for p in sorted(root.rglob("*.parquet"))
    }


def _small(out: Path, seed: int) -> Path:
    return generate(
        customers=300,
        seed=seed,
        start=date(2024, 1, 1),
        end=date(2024, 2, 29),
        out=out,
        dirt_rate=0.02,
    )


def test_same_seed_same_history_and_release(tmp_path: Path) -> None:
    a, b = _tables(_small(tmp_path / "a", 5)), _tables(_small(tmp_path / "b", 5))
    assert a.keys() == b.keys()
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)
    release("2024-02-12", tmp_path / "a", tmp_path / "ra")
    release("2024-02-12", tmp_path / "b", tmp_path / "rb")
    files = sorted(p.relative_to(tmp_path / "ra") for p in (tmp_path / "ra").rglob("*.json*"))
    assert files
    for f in files:
        assert (tmp_path / "ra" / f).read_bytes() == (tmp_path / "rb" / f).read_bytes()


def test_different_seed_different_history(tmp_path: Path) -> None:
    a, b = _tables(_small(tmp_path / "a", 5)), _tables(_small(tmp_path / "b", 6))
    assert not a["customers.parquet"].equals(b["customers.parquet"])
    assert not a["truth/weekly_hazard.parquet"].equals(b["truth/weekly_hazard.parquet"])


def test_truth_file_and_oracle(sim_dir: Path) -> None:
    h = pq.read_table(sim_dir / "truth" / "weekly_hazard.parquet").to_pandas()
    assert list(h.columns) == ["customer_id", "week_start", "hazard"]
    assert (pd.to_datetime(h.week_start).dt.weekday == 0).all()
    assert h.hazard.between(0, 1).all()
    monthly = 1 - (1 - h.hazard.mean()) ** (30 / 7)
    assert 0.01 < monthly < 0.05
    days = [date(2024, 3, 4), date(2024, 3, 11)]
    o = oracle_probability(sim_dir, days, horizon_days=28)
    assert list(o.columns) == ["customer_id", "as_of_date", "probability"]
    assert set(o.as_of_date) == set(days)
    assert o.probability.between(0, 1).all() and o.probability.gt(0).all()
    one = h[pd.to_datetime(h.week_start) == pd.Timestamp(days[0])].set_index("customer_id")
    got = o[o.as_of_date == days[0]].set_index("customer_id").probability
    expected = 1 - (1 - one.hazard) ** 4
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False)


def test_truth_rows_are_active_customers(sim_dir: Path) -> None:
    c = pq.read_table(sim_dir / "customers.parquet").to_pandas().set_index("customer_id")
    h = pq.read_table(sim_dir / "truth" / "weekly_hazard.parquet").to_pandas()
    start = pd.to_datetime(h.week_start).astype("int64") // 10**9
    assert (c.signup_ts.reindex(h.customer_id).to_numpy() < start.to_numpy()).all()
    churn = c.churn_ts.reindex(h.customer_id).to_numpy()
    assert ((churn < 0) | (churn >= start.to_numpy())).all()
    assert (c.churn_ts > 0).mean() > 0.03  # some churn in five months


def test_stripe_has_failed_payments_and_plan_changes(releases: dict[str, Path]) -> None:
    ev = stripe_events(releases["d2"])
    types = pd.Series([e["type"] for e in ev]).value_counts()
    assert types["invoice.payment_failed"] > 10
    assert types["customer.subscription.updated"] > types["customer.subscription.deleted"]


def test_cli_generate_and_release(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "generate",
            "--customers",
            "200",
            "--seed",
            "3",
            "--start",
            START.isoformat(),
            "--end",
            "2024-01-31",
            "--out",
            str(tmp_path / "sim"),
        ],
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        app,
        [
            "release",
            "--as-of",
            "2024-01-15",
            "--sim",
            str(tmp_path / "sim"),
            "--out",
            str(tmp_path / "src"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "src" / "customer_db.sqlite").exists()
    assert (tmp_path / "src" / "usage" / "dt=2024-01-14" / "events.jsonl").exists()
    assert not (tmp_path / "src" / "usage" / "dt=2024-01-15").exists()
    assert END > START


def test_generate_refuses_a_folder_that_is_not_a_simulation(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("precious")
    try:
        generate(customers=50, seed=1, start=date(2024, 1, 1), end=date(2024, 1, 14), out=tmp_path)
    except FileExistsError:
        pass
    else:
        raise AssertionError("generate replaced a folder that holds no simulation")
    assert (tmp_path / "keep.txt").exists()


def test_release_before_the_start(sim_dir: Path, tmp_path: Path) -> None:
    release(START, sim_dir, tmp_path)
    assert not list((tmp_path / "usage").glob("dt=*"))
    page = (tmp_path / "zendesk" / "tickets" / "page-00001.json").read_text()
    assert '"tickets": []' in page and '"end_of_stream": true' in page
    assert stripe_events(tmp_path)  # customers that existed before the start
