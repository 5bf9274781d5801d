"""The champion's inputs and drivers as SQL, for scoring inside the warehouse (BigQuery).

Pure functions of the fitted pipeline and its feature schema, returning GoogleSQL text that
`models_ml.scoring.bigquery` puts around ML.PREDICT:

- `input_expressions`: each model input as the local path prepares it (`prepare_inputs`):
  numbers and flags as nullable FLOAT64, text with nulls as the `__missing__` category.
- `drivers_sql`: each customer's top three drivers, as `models_ml.drivers` words them, for
  the logistic-regression champion: its contributions are exact and linear (coefficient x
  standardised, imputed or one-hot input), so they are one SQL expression per input. A
  gradient-boosting champion gets None: its Saabas attribution walks every tree, which is
  not compiled to SQL; its drivers are computed in Python for the High and Medium rows once
  the batch is written (`models_ml.scoring.bigquery_drivers`).

The SQL keeps to functions that DuckDB also has once sqlglot transpiles it, so the tests
evaluate it on a small frame and compare it with the Python drivers, row by row.
"""

from __future__ import annotations

import re

from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from models_ml.drivers import MIN_CONTRIBUTION, TOP_DRIVERS, Phrase, phrase_for
from models_ml.features import MISSING, FeatureSchema
from models_ml.scoring.googlesql import ident, literal, number


def input_expressions(schema: FeatureSchema) -> dict[str, str]:
    """Per schema column, its model input over the features row (as `prepare_inputs`)."""
    out = {}
    for column, kind in zip(schema.columns, schema.kinds, strict=True):
        c = ident(column)
        if kind == "categorical":
            out[column] = f"COALESCE(CAST({c} AS STRING), {literal(MISSING)})"
        elif kind == "boolean":
            out[column] = f"CAST(CAST({c} AS INT64) AS FLOAT64)"
        else:
            out[column] = f"CAST({c} AS FLOAT64)"
    return out


def onnx_input(column: str, kind: str) -> str:
    """An input column of the `inputs` relation as the ONNX graph takes it: a null number
    becomes NaN, which the exported imputer or trees route as scikit-learn does."""
    c = ident(column)
    if kind == "categorical":
        return c
    return f"IFNULL({c}, CAST('NaN' AS FLOAT64))"


def linear_contributions(model: Pipeline, schema: FeatureSchema) -> list[str] | None:
    """Per schema column, its exact contribution to the calibrated log-odds as SQL over the
    `inputs` relation; None when the classifier is not the logistic regression."""
    clf = model[-1]
    if not isinstance(clf, LogisticRegression):
        return None
    prep = model.named_steps["prep"]
    scaler = model.named_steps["scale"]
    weight = clf.coef_[0] / scaler.scale_  # per preprocessed column
    mean = scaler.mean_
    terms: dict[str, str] = {}
    position = 0
    for name, step, columns in prep.transformers_:
        if name == "num":
            medians = step.statistics_
            for column, median in zip(columns, medians, strict=True):
                w, m = weight[position], mean[position]
                value = f"COALESCE({ident(column)}, {number(median)})"
                terms[column] = f"(({value} - {number(m)}) * {number(w)})"
                position += 1
        elif name == "cat":
            for column, cats in zip(columns, step.categories_, strict=True):
                width = len(cats)
                w, m = weight[position : position + width], mean[position : position + width]
                base = float(-(w * m).sum())
                whens = " ".join(
                    f"WHEN {literal(str(cat))} THEN {number(wk)}"
                    for cat, wk in zip(cats, w, strict=True)
                )
                terms[column] = f"({number(base)} + CASE {ident(column)} {whens} ELSE 0e0 END)"
                position += width
        elif name != "remainder":  # pragma: no cover - only our preprocessor exists
            raise TypeError(f"no SQL for preprocessing step {name!r}")
    return [terms.get(column, "0e0") for column in schema.columns]


def _rint(y: str) -> str:
    """Round half to even, as numpy does (SQL ROUND goes half away from zero)."""
    return f"(CASE WHEN ABS({y} - TRUNC({y})) = 0.5 THEN 2 * ROUND({y} / 2) ELSE ROUND({y}) END)"


def _shown(phrase: Phrase, v: str) -> str:
    """The number a phrase shows (as `drivers._shown`, for a non-null value)."""
    if phrase.fmt == "flag":
        return f"(CASE WHEN {v} > 0.5 THEN 1e0 ELSE 0e0 END)"
    scaled = f"({v} * 100)" if phrase.fmt in ("pct", "ratio_pct") else v
    if phrase.fmt == "num":
        return f"({_rint(f'({scaled} * 100)')} / 100 + 0e0)"
    return f"({_rint(scaled)} + 0e0)"


def _thousands(n: str) -> str:
    """A non-negative INT64 with comma thousands separators (Python's `{:,}`)."""
    cases = []
    for groups in range(6, 0, -1):
        head = f"CAST(DIV({n}, {10 ** (3 * groups)}) AS STRING)"
        tail = [
            f"LPAD(CAST(MOD(DIV({n}, {10 ** (3 * g)}), 1000) AS STRING), 3, '0')"
            for g in range(groups - 1, -1, -1)
        ]
        parts = ", ',', ".join([head, *tail])
        cases.append(f"WHEN {n} >= {10 ** (3 * groups)} THEN CONCAT({parts})")
    return f"(CASE {' '.join(cases)} ELSE CAST({n} AS STRING) END)"


def _text(phrase: Phrase, number_sql: str) -> str:
    """The shown number as text (`drivers._one`)."""
    as_int = f"CAST({number_sql} AS INT64)"
    if phrase.fmt == "num":
        return f"FORMAT('%g', {number_sql})"
    if phrase.fmt == "money":
        return f"CONCAT(IF({as_int} < 0, '-', ''), {_thousands(f'ABS({as_int})')})"
    return f"CAST({as_int} AS STRING)"


def _fill(template: str, value: str | None, plural: str | None) -> str:
    """CONCAT of the template's text with `{v}` and `{s}` replaced by SQL expressions."""
    parts: list[str] = []
    for piece in re.split(r"(\{v\}|\{s\})", template):
        if piece == "{v}" and value is not None:
            parts.append(value)
        elif piece == "{s}" and plural is not None:
            parts.append(plural)
        elif piece:
            parts.append(literal(piece))
    if not parts:
        return "''"
    return parts[0] if len(parts) == 1 else f"CONCAT({', '.join(parts)})"


def phrase_sql(column: str, kind: str) -> str:
    """The driver phrase of one input for the value in `inputs` (as `drivers.render`)."""
    phrase = phrase_for(column, kind)
    v = ident(column)
    missing = literal(phrase.missing or "unknown")
    if phrase.fmt == "text":
        return f"(CASE WHEN {v} = {literal(MISSING)} THEN {missing} ELSE {_fill(phrase.text, v, None)} END)"  # noqa: E501
    if phrase.fmt == "flag":
        no = phrase.false_text or "not " + phrase.text
        return (
            f"(CASE WHEN {v} IS NULL THEN {missing} WHEN {v} > 0.5 "
            f"THEN {literal(phrase.text)} ELSE {literal(no)} END)"
        )
    key = _shown(phrase, v)

    def render(template: str, value: str) -> str:
        shown = _text(phrase, value)
        plural = f"IF({shown} IN ('1', '-1'), '', 's')"
        return _fill(template, shown, plural)

    positive = render(phrase.text, f"ABS({key})" if phrase.fmt == "pct" else key)
    if phrase.negative is None:
        return f"(CASE WHEN {v} IS NULL THEN {missing} ELSE {positive} END)"
    negative = render(phrase.negative, f"ABS({key})")
    return (
        f"(CASE WHEN {v} IS NULL THEN {missing} WHEN {key} < 0 THEN {negative} ELSE {positive} END)"
    )


def drivers_sql(
    model: Pipeline, schema: FeatureSchema, id_column: str, relation: str = "inputs"
) -> str | None:
    """SELECT id, driver_1..3 over `relation` (id + `input_expressions` columns): the top
    three inputs pushing each customer's risk up, worded; None for a tree champion (whose
    drivers `bigquery_drivers` computes in Python)."""
    contributions = linear_contributions(model, schema)
    if contributions is None:
        return None
    cid = ident(id_column)
    n = len(schema.columns)
    contribution_of = " ".join(f"WHEN {i} THEN {c}" for i, c in enumerate(contributions))
    indices = ", ".join(str(i) for i in range(n))
    picks = ",\n    ".join(
        f"MAX(IF(driver_rank = {r + 1}, driver_index, NULL)) AS driver_{r + 1}_index"
        for r in range(TOP_DRIVERS)
    )
    phrases = [phrase_sql(c, k) for c, k in zip(schema.columns, schema.kinds, strict=True)]
    worded = ",\n  ".join(
        f"CASE p.driver_{r + 1}_index "
        + " ".join(f"WHEN {i} THEN {text}" for i, text in enumerate(phrases))
        + f" END AS driver_{r + 1}"
        for r in range(TOP_DRIVERS)
    )
    return f"""SELECT {cid}, driver_1, driver_2, driver_3 FROM (
SELECT i.{cid},
  {worded}
FROM {relation} AS i
LEFT JOIN (
  SELECT {cid},
    {picks}
  FROM (
    SELECT {cid}, driver_index,
      ROW_NUMBER() OVER (PARTITION BY {cid} ORDER BY contribution DESC, driver_index) AS driver_rank
    FROM (
      SELECT {cid}, driver_index, CASE driver_index {contribution_of} END AS contribution
      FROM {relation} CROSS JOIN UNNEST([{indices}]) AS driver_index
    )
    WHERE contribution > {number(MIN_CONTRIBUTION)}
  )
  WHERE driver_rank <= {TOP_DRIVERS}
  GROUP BY {cid}
) AS p ON p.{cid} = i.{cid}
)"""
