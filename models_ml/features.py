"""Which columns are inputs, what type each is, and how each type is preprocessed.

Inputs are every column but the named id, date and label, typed by their dtype, so a column
added in dbt becomes a model input with no Python change. The schema learned at training is
stored with the model and is what scoring checks a features table against.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import OneHotEncoder

from models_ml.errors import ModelError

Kind = Literal["numeric", "boolean", "categorical"]
MISSING = "__missing__"  # what a null categorical becomes, so it is a category of its own


@dataclass(frozen=True)
class FeatureSchema:
    """Ordered model inputs and their kinds."""

    columns: tuple[str, ...]
    kinds: tuple[Kind, ...]

    def of(self, kind: Kind) -> list[str]:
        """Columns of one kind, in schema order."""
        return [c for c, k in zip(self.columns, self.kinds, strict=True) if k == kind]

    def to_dict(self) -> dict[str, list[str]]:
        """JSON-able form stored in the model's MLflow metadata (lists keep the order; MLflow
        writes mappings with sorted keys)."""
        return {"columns": list(self.columns), "kinds": list(self.kinds)}

    @classmethod
    def from_dict(cls, data: dict[str, list[str]]) -> FeatureSchema:
        """Inverse of `to_dict`."""
        return cls(tuple(data["columns"]), tuple(data["kinds"]))  # type: ignore[arg-type]


def kind_of(series: pd.Series) -> Kind | None:
    """The kind of a column from its dtype; None when it cannot be a model input."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dtype):
        sample = series.dropna().head(1000)  # an object column of Python bools is a flag
        if len(sample) and all(isinstance(v, bool | np.bool_) for v in sample):
            return "boolean"
        return "categorical"
    return None


def infer_schema(df: pd.DataFrame, exclude: Iterable[str]) -> FeatureSchema:
    """Every column but `exclude`, typed by dtype; a column of another type is an error."""
    excluded = set(exclude)
    columns: list[str] = []
    kinds: list[Kind] = []
    for column in df.columns:
        if column in excluded:
            continue
        kind = kind_of(df[column])
        if kind is None:
            raise ModelError(
                f"feature column {column!r} has type {df[column].dtype}, which is not numeric, "
                "boolean or text",
                "cast it in the dbt model (dates become day counts) or exclude it there",
            )
        columns.append(column)
        kinds.append(kind)
    if not columns:
        raise ModelError(
            "the table has no feature columns besides the id, date and label",
            "add feature columns to the dbt model",
        )
    return FeatureSchema(tuple(columns), tuple(kinds))


def check_columns(df: pd.DataFrame, schema: FeatureSchema, allow_extra: bool, named: Sequence[str]):
    """Raise a ModelError when `df` does not carry exactly the schema's inputs, typed alike."""
    present = [c for c in df.columns if c not in set(named)]
    missing = [c for c in schema.columns if c not in df.columns]
    extra = [c for c in present if c not in set(schema.columns)]
    wrong = []
    for column, kind in zip(schema.columns, schema.kinds, strict=True):
        if column in df.columns and df[column].notna().any():
            found = kind_of(df[column])
            if found != kind and not (kind == "numeric" and found == "boolean"):
                wrong.append(f"{column} ({kind} at training, {found or df[column].dtype} now)")
    problems = []
    if missing:
        problems.append(f"missing columns {missing}")
    if extra and not allow_extra:
        problems.append(f"columns unknown to the model {extra}")
    if wrong:
        problems.append(f"columns of another type: {', '.join(wrong)}")
    if problems:
        raise ModelError(
            "the feature table does not match the champion's signature: " + "; ".join(problems),
            "retrain (`churn train --as-of ...`) and promote a model that knows these columns, "
            "or fix the dbt features model; set CHURN_ML_ALLOW_EXTRA_FEATURES=true to score "
            "while ignoring new columns",
        )


def prepare_inputs(df: pd.DataFrame, schema: FeatureSchema) -> pd.DataFrame:
    """The model's input frame: schema order, float32 numbers and flags, text categories.

    float32 because that is what ONNX runtimes feed tree ensembles (parity with sklearn);
    nulls stay NaN for numbers (the tree model routes them), and become a category of their
    own for text, so unseen and missing values never fail at scoring.
    """
    out: dict[str, object] = {}
    for column, kind in zip(schema.columns, schema.kinds, strict=True):
        values = df[column]
        if kind == "categorical":
            text = values.to_numpy(dtype=object, na_value=MISSING)
            sample = text[:1000]
            if not all(isinstance(v, str) for v in sample) or values.dtype != object:
                text = np.asarray([str(v) for v in text], dtype=object)
            out[column] = text
        else:
            if values.dtype == object:
                values = values.map(lambda v: np.nan if v is None else float(v))
            out[column] = pd.to_numeric(values, errors="coerce").to_numpy(
                dtype=np.float32, na_value=np.nan
            )
    return pd.DataFrame(out, index=df.index)


@dataclass(frozen=True)
class PreparedColumns:
    """Prepared inputs (what `prepare_inputs` makes) as one array per input column.

    For a row or two (an API payload) a DataFrame's fixed costs, building it and taking each
    column out again, were most of the scoring; the attribution and the drivers only read
    columns, and the rare reader that needs a frame builds one (`as_frame`).
    """

    arrays: dict[str, np.ndarray]
    rows: int

    def __len__(self) -> int:
        return self.rows


Prepared = pd.DataFrame | PreparedColumns


def column_values(X: Prepared, name: str) -> np.ndarray:
    """One prepared input column as an array."""
    if isinstance(X, PreparedColumns):
        return X.arrays[name]
    return X[name].to_numpy()


def as_frame(X: Prepared) -> pd.DataFrame:
    """The prepared inputs as the frame `prepare_inputs` returns."""
    if isinstance(X, PreparedColumns):
        return pd.DataFrame(X.arrays, index=pd.RangeIndex(X.rows), copy=False)
    return X


def build_preprocessor(schema: FeatureSchema, for_linear: bool) -> ColumnTransformer:
    """Numbers and flags pass (imputed by median for the linear model), text is one-hot.

    One-hot rather than native HGB categoricals: the latter scores wrongly in ONNX.
    """
    numeric = schema.of("numeric") + schema.of("boolean")
    numeric = [c for c in schema.columns if c in set(numeric)]
    categorical = schema.of("categorical")
    parts: list[tuple[str, object, list[str]]] = []
    if numeric:
        step = (
            SimpleImputer(strategy="median", keep_empty_features=True)
            if for_linear
            else "passthrough"
        )
        parts.append(("num", step, numeric))
    if categorical:
        encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float32)
        parts.append(("cat", encoder, categorical))
    return ColumnTransformer(parts, remainder="drop")


def output_to_input(preprocessor: ColumnTransformer, schema: FeatureSchema) -> np.ndarray:
    """For each preprocessed column, the index of the schema column it comes from."""
    index = {c: i for i, c in enumerate(schema.columns)}
    owners: list[int] = []
    for name, step, columns in preprocessor.transformers_:
        if name == "num":
            owners += [index[c] for c in columns]
        elif name == "cat":
            for column, cats in zip(columns, step.categories_, strict=True):
                owners += [index[column]] * len(cats)
    return np.asarray(owners, dtype=np.intp)


def grouping_matrix(owners: np.ndarray, n_inputs: int) -> np.ndarray:
    """0/1 matrix summing preprocessed-column contributions into schema-column ones."""
    matrix = np.zeros((len(owners), n_inputs))
    matrix[np.arange(len(owners)), owners] = 1.0
    return matrix


def monotonic_constraints(
    owners: np.ndarray, schema: FeatureSchema, decreasing: Sequence[str], increasing: Sequence[str]
) -> np.ndarray:
    """-1 / +1 / 0 per preprocessed column, from patterns on numeric input names.

    This is how 'more activity never raises risk' becomes a property of the model rather than
    a hope; one-hot columns are never constrained.
    """
    down = set(monotone_columns(schema, decreasing))
    up = set(monotone_columns(schema, increasing)) - down
    cst = np.zeros(len(owners), dtype=np.int8)
    for i, owner in enumerate(owners):
        name = schema.columns[owner]
        cst[i] = -1 if name in down else (1 if name in up else 0)
    return cst


def monotone_columns(schema: FeatureSchema, patterns: Sequence[str]) -> list[str]:
    """Numeric schema columns whose names match any pattern."""
    compiled = [re.compile(p) for p in patterns]
    return [c for c in schema.of("numeric") if any(p.search(c) for p in compiled)]
