"""`ml.churn_predictions` is declared once (models_ml/scoring/columns.py): the dbt source and
the marts' stand-in for a table not written yet must name the same columns, in order."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from models_ml.scoring.columns import BATCH_KEY, PREDICTION_COLUMNS, PREDICTION_NAMES

MARTS = Path(__file__).resolve().parents[2] / "dbt_project" / "models" / "marts"


def test_the_dbt_source_declares_the_same_columns() -> None:
    sources = yaml.safe_load((MARTS / "_ml__sources.yml").read_text())["sources"]
    (ml,) = [s for s in sources if s["name"] == "ml"]
    (table,) = [t for t in ml["tables"] if t["name"] == "churn_predictions"]
    assert tuple(c["name"] for c in table["columns"]) == PREDICTION_NAMES


def test_the_marts_empty_stand_in_has_the_same_columns() -> None:
    sql = (MARTS / "customer_risk_history.sql").read_text()
    call = re.search(r"source_or_empty\('ml', 'churn_predictions', \{(.*?)\}\)", sql, re.S)
    assert call, "customer_risk_history no longer reads ml.churn_predictions via source_or_empty"
    assert tuple(re.findall(r"'(\w+)':", call.group(1))) == PREDICTION_NAMES


def test_the_batch_key_and_types_are_declared_columns() -> None:
    assert set(BATCH_KEY) <= set(PREDICTION_NAMES)
    assert len(set(PREDICTION_NAMES)) == len(PREDICTION_COLUMNS)
    assert dict(PREDICTION_COLUMNS)["scored_at"] == "DATETIME"
