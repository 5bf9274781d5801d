"""Drift: identical data is `ok`, shifted activity is `severe`, empty input is refused."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from models_ml.monitoring.drift import compute_drift

AS_OF = date(2025, 6, 2)


def _features(n: int, seed: int, logins: float = 20.0, mrr: float = 500.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:07d}" for i in range(n)],
            "as_of_date": AS_OF,
            "logins_30d": rng.poisson(logins, n),
            "mrr": rng.normal(mrr, 50, n),
            "plan": rng.choice(["starter", "growth"], n),
            "has_discount": rng.random(n) < 0.2,
        }
    )


@pytest.mark.parametrize("n", [500, 3000])  # small samples use tests, large ones distances
def test_same_distribution_is_ok(n: int) -> None:
    result = compute_drift(_features(n, 1), _features(n, 2), AS_OF)
    assert result.status == "ok"
    assert set(result.per_feature.feature) == {"logins_30d", "mrr", "plan", "has_discount"}


@pytest.mark.parametrize("n", [500, 3000])
def test_shifted_activity_is_severe(n: int, tmp_path) -> None:
    result = compute_drift(_features(n, 1), _features(n, 2, logins=5, mrr=300), AS_OF)
    assert result.status == "severe"
    assert {"logins_30d", "mrr"} <= set(result.drifted_features)
    assert result.drift_share == pytest.approx(0.5)
    html = result.save_html(tmp_path / "drift.html")
    assert html.stat().st_size > 10_000


def test_empty_current_is_refused() -> None:
    with pytest.raises(ValueError, match="current features is empty"):
        compute_drift(_features(100, 1), _features(100, 1).iloc[0:0], AS_OF)
