"""Column typing and preparation: every non-named column is an input, typed by dtype."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models_ml.config import Candidates
from models_ml.errors import ModelError
from models_ml.features import (
    MISSING,
    build_preprocessor,
    check_columns,
    infer_schema,
    monotonic_constraints,
    output_to_input,
    prepare_inputs,
)

NAMED = ["customer_id", "as_of_date", "churned"]


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3"],
            "as_of_date": pd.to_datetime(["2024-01-01"] * 3),
            "churned": [True, False, False],
            "logins_30d": pd.array([3, None, 5], dtype="Int32"),
            "has_discount": pd.array([True, None, False], dtype="boolean"),
            "plan": ["starter", None, "growth"],
            "mrr": [10.0, np.nan, 3.5],
        }
    )


def test_inputs_are_every_column_but_the_named_ones_typed_by_dtype():
    schema = infer_schema(_frame(), NAMED)
    assert schema.columns == ("logins_30d", "has_discount", "plan", "mrr")
    assert schema.kinds == ("numeric", "boolean", "categorical", "numeric")


def test_a_new_dbt_column_becomes_an_input_without_code():
    df = _frame().assign(nps_score_90d=[1.0, 2.0, None])
    assert "nps_score_90d" in infer_schema(df, NAMED).columns


def test_a_column_of_an_unusable_type_is_a_clear_error():
    df = _frame().assign(signup_date=pd.to_datetime(["2023-01-01"] * 3))
    with pytest.raises(ModelError, match="signup_date"):
        infer_schema(df, NAMED)


def test_prepare_keeps_nans_and_makes_null_text_a_category():
    schema = infer_schema(_frame(), NAMED)
    X = prepare_inputs(_frame(), schema)
    assert X["logins_30d"].dtype == np.float32 and np.isnan(X["logins_30d"][1])
    assert X["has_discount"].tolist()[0] == 1.0 and np.isnan(X["has_discount"][1])
    assert X["plan"].tolist() == ["starter", MISSING, "growth"]


def test_columns_differing_from_the_schema_are_named():
    schema = infer_schema(_frame(), NAMED)
    df = _frame().drop(columns=["mrr"]).assign(extra_7d=1)
    with pytest.raises(ModelError, match=r"missing columns \['mrr'\].*unknown to the model"):
        check_columns(df, schema, allow_extra=False, named=NAMED)
    changed = _frame().assign(mrr=["a", "b", "c"])
    with pytest.raises(ModelError, match="mrr"):
        check_columns(changed, schema, allow_extra=False, named=NAMED)


def test_activity_columns_are_constrained_by_name_pattern():
    df = _frame().assign(days_since_last_login=[1.0, 2.0, 3.0], logins_30d_change_pct=0.1)
    schema = infer_schema(df, NAMED)
    X = prepare_inputs(df, schema)
    prep = build_preprocessor(schema, for_linear=False).fit(X)
    owners = output_to_input(prep, schema)
    params = Candidates()
    cst = monotonic_constraints(
        owners, schema, params.monotone_decreasing, params.monotone_increasing
    )
    by_name = {schema.columns[o]: c for o, c in zip(owners, cst, strict=True)}
    assert by_name["logins_30d"] == -1
    assert by_name["days_since_last_login"] == 1
    assert by_name["mrr"] == 0 and by_name["plan"] == 0 and by_name["logins_30d_change_pct"] == 0
