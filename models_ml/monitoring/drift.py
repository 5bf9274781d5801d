"""Data drift between the champion's training reference and the current features (Evidently).

Evidently gives per-column scores in its metrics and the drifted/not verdicts in its tests;
we keep both, plus one status for the whole check so that a flow can decide: `ok`, `warning`
(alert) or `severe` (alert and retrain).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd

ID_COLUMNS = ("customer_id", "as_of_date", "churned")
_COLUMN = re.compile(r"column=([^,]+),method=([^,]+),threshold=([0-9.]+)")


@dataclass
class DriftResult:
    """Outcome of one drift check; `per_feature` has one row per feature column."""

    as_of: date
    reference_rows: int
    current_rows: int
    per_feature: pd.DataFrame  # feature, method, score, threshold, drifted
    drift_share: float
    status: str  # ok, warning, severe
    report: object = field(repr=False, default=None)

    def save_html(self, path: Path) -> Path:
        """Write Evidently's self-contained HTML report (kept as a flow artifact)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.report.save_html(str(path))  # type: ignore[union-attr]
        return path

    @property
    def drifted_features(self) -> list[str]:
        return self.per_feature.loc[self.per_feature.drifted, "feature"].tolist()


def _status(share: float, warning_share: float, severe_share: float) -> str:
    if share >= severe_share:
        return "severe"
    if share >= warning_share:
        return "warning"
    return "ok"


def compute_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    as_of: date,
    warning_share: float = 0.2,
    severe_share: float = 0.4,
) -> DriftResult:
    """Compare feature distributions; the share of drifted features sets the status.

    Raises ValueError when either side is empty or they share no feature column, because a
    drift check over nothing would silently report "no drift".
    """
    from evidently import Report
    from evidently.presets import DataDriftPreset

    features = [c for c in reference.columns if c not in ID_COLUMNS and c in current.columns]
    if reference.empty or current.empty:
        side = "reference (champion training data)" if reference.empty else "current features"
        raise ValueError(f"drift check at {as_of}: the {side} is empty; build features first")
    if not features:
        raise ValueError("drift check: reference and current share no feature column")
    ref = _comparable(reference[features])
    cur = _comparable(current[features])
    snapshot = Report([DataDriftPreset()], include_tests=True).run(
        current_data=cur, reference_data=ref
    )
    result = snapshot.dict()
    # The verdicts live in the tests part (a p-value method drifts BELOW its threshold, a
    # distance above it), so we take them from there rather than re-deriving them.
    failed = {
        test["name"].removeprefix("Value Drift for column ")
        for test in result["tests"]
        if test["name"].startswith("Value Drift for column ") and test["status"] == "FAIL"
    }
    rows = []
    for metric in result["metrics"]:
        match = _COLUMN.search(metric["metric_name"])
        if match and metric["metric_name"].startswith("ValueDrift"):
            column, method, threshold = match.group(1), match.group(2), float(match.group(3))
            rows.append((column, method, float(metric["value"]), threshold, column in failed))
    per_feature = pd.DataFrame(rows, columns=["feature", "method", "score", "threshold", "drifted"])
    share = float(per_feature.drifted.mean()) if len(per_feature) else 0.0
    return DriftResult(
        as_of=as_of,
        reference_rows=len(reference),
        current_rows=len(current),
        per_feature=per_feature,
        drift_share=share,
        status=_status(share, warning_share, severe_share),
        report=snapshot,
    )


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Booleans as strings (categorical), nullable ints as floats: what Evidently expects."""
    out = frame.copy()
    for column in out.columns:
        dtype = out[column].dtype
        if pd.api.types.is_bool_dtype(dtype):
            out[column] = out[column].astype("string").astype(object)
        elif pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_float_dtype(dtype):
            out[column] = out[column].astype("float64")
        else:
            out[column] = out[column].astype(object)
    return out
