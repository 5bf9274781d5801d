"""Outcomes: only label-complete predictions count, and the month's figures are right."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from models_ml.monitoring.outcomes import decayed, label_complete_predictions, outcomes_by_month


def _predictions() -> pd.DataFrame:
    rows = []
    for as_of in (date(2025, 3, 3), date(2025, 3, 10), date(2025, 6, 2)):
        for i, (p, tier) in enumerate(
            [(0.9, "High"), (0.6, "High"), (0.2, "Medium"), (0.1, "Low")]
        ):
            rows.append((f"C{i}", as_of, "3", p, tier))
    return pd.DataFrame(
        rows,
        columns=["customer_id", "as_of_date", "model_version", "churn_probability", "risk_tier"],
    )


def _labels() -> pd.DataFrame:
    rows = []
    for as_of in (date(2025, 3, 3), date(2025, 3, 10)):
        rows += [(f"C{i}", as_of, churned) for i, churned in enumerate([True, False, True, False])]
    return pd.DataFrame(rows, columns=["customer_id", "as_of_date", "churned"])


def test_only_passed_horizons_with_labels_count() -> None:
    joined = label_complete_predictions(_predictions(), _labels(), date(2025, 5, 1), 28)
    assert sorted(set(joined.as_of_date)) == [date(2025, 3, 3), date(2025, 3, 10)]
    assert len(joined) == 8


def test_month_figures() -> None:
    joined = label_complete_predictions(_predictions(), _labels(), date(2025, 5, 1), 28)
    (row,) = outcomes_by_month(joined, date(2025, 5, 1)).to_dict("records")
    assert row["scoring_month"] == date(2025, 3, 1)
    assert row["scored"] == 8 and row["churned"] == 4
    assert row["precision_high"] == pytest.approx(0.5)  # C0 churned, C1 did not
    assert row["recall_high"] == pytest.approx(0.5)
    assert row["roc_auc"] == pytest.approx(0.75)
    assert row["mean_probability"] == pytest.approx(0.45)


def test_decay_flags_months_below_threshold() -> None:
    joined = label_complete_predictions(_predictions(), _labels(), date(2025, 5, 1), 28)
    outcomes = outcomes_by_month(joined, date(2025, 5, 1))
    assert len(decayed(outcomes, 0.8)) == 1
    assert decayed(outcomes, 0.7).empty
