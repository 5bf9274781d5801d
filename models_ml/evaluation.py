"""Holdout metrics a CS lead can act on, and the plots logged beside them.

Lift and capture at the top 5/10/20% answer "if we call the riskiest k%, how many of the
churners do we reach", which AUC does not. Ranking ties are broken by row order, and the
training set is sorted by (date, id) first, so metrics do not depend on the table's order.
"""

from __future__ import annotations

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    roc_auc_score,
)

TOP_SHARES = (0.05, 0.10, 0.20)


def top_k_order(p: np.ndarray) -> np.ndarray:
    """Indices by decreasing probability, ties in row order (stable)."""
    return np.argsort(-np.asarray(p, dtype=float), kind="stable")


def lift_capture(y: np.ndarray, p: np.ndarray, share: float) -> tuple[float, float]:
    """(lift, capture) of the top `share` of customers by probability."""
    y = np.asarray(y, dtype=float)
    k = max(1, int(np.ceil(share * len(y))))
    top = y[top_k_order(p)[:k]]
    base = y.mean()
    capture = top.sum() / y.sum() if y.sum() else 0.0
    lift = top.mean() / base if base else 0.0
    return float(lift), float(capture)


def holdout_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ROC-AUC, PR-AUC, Brier, log loss, base rate, lift and capture at 5/10/20%."""
    y = np.asarray(y, dtype=int)
    p = np.clip(np.asarray(p, dtype=float), 1e-7, 1 - 1e-7)
    metrics = {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "base_rate": float(y.mean()),
        "mean_probability": float(p.mean()),
        "rows": float(len(y)),
    }
    for share in TOP_SHARES:
        lift, capture = lift_capture(y, p, share)
        pct = int(round(share * 100))
        metrics[f"lift_top_{pct}"] = lift
        metrics[f"capture_top_{pct}"] = capture
    return metrics


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> dict[str, list[float]]:
    """Observed churn rate against mean predicted probability, in quantile bins."""
    observed, predicted = calibration_curve(y, p, n_bins=bins, strategy="quantile")
    return {"predicted": predicted.tolist(), "observed": observed.tolist()}


def gains_curve(y: np.ndarray, p: np.ndarray, points: int = 50) -> dict[str, list[float]]:
    """Share of churners captured against share of customers called, riskiest first."""
    y = np.asarray(y, dtype=float)[top_k_order(p)]
    captured = np.cumsum(y) / max(y.sum(), 1)
    idx = np.unique(np.linspace(0, len(y) - 1, points).astype(int))
    return {"called": ((idx + 1) / len(y)).tolist(), "captured": captured[idx].tolist()}


def plot_calibration(table: dict[str, list[float]]):
    """Reliability diagram."""
    fig, ax = _axes()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    ax.plot(table["predicted"], table["observed"], marker="o", label="model")
    top = max(max(table["predicted"]), max(table["observed"]), 0.05) * 1.1
    ax.set(
        xlim=(0, top),
        ylim=(0, top),
        xlabel="predicted churn probability",
        ylabel="observed churn rate",
        title="Calibration on the holdout",
    )
    ax.legend()
    return fig


def plot_gains(curve: dict[str, list[float]]):
    """Cumulative gains with the 5/10/20% marks (capacity planning for CS)."""
    fig, ax = _axes()
    ax.plot(curve["called"], curve["captured"], label="model")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="random")
    for share in TOP_SHARES:
        ax.axvline(share, color="lightgrey", linewidth=0.8)
    ax.set(
        xlabel="share of customers called (riskiest first)",
        ylabel="share of churners reached",
        title="Lift / capture on the holdout",
    )
    ax.legend()
    return fig


def plot_importance(names: list[str], importance: np.ndarray, top: int = 20):
    """Mean |contribution| to the log-odds per input on the holdout."""
    order = np.argsort(importance)[::-1][:top][::-1]
    fig, ax = _axes(height=0.3 * len(order) + 1.5)
    ax.barh([names[i] for i in order], importance[order])
    ax.set(xlabel="mean |contribution to log-odds|", title="Feature importance (holdout)")
    return fig


def _axes(height: float = 4.5):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, height))
    fig.set_layout_engine("tight")
    return fig, ax
