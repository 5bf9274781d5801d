"""Who becomes champion, and the record of every alias move.

MLflow keeps no history of aliases, so each move (and each rejected challenger) is a row in
`ml.model_promotions`: who, when, from which version to which, the metrics and the reason.
The gate is pure (metrics in, reasons out); moving aliases and writing rows are the edges.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from models_ml.behaviour import direction_violations
from models_ml.config import MLConfig
from models_ml.errors import ModelError
from models_ml.registry import CHALLENGER, CHAMPION, alias_version, load_alias, load_version

LOWER_IS_BETTER = {"brier", "log_loss"}
PARITY_TOLERANCE = 1e-4


@dataclass
class Decision:
    """The outcome of considering a challenger."""

    promote: bool
    reasons: list[str] = field(default_factory=list)
    champion_metrics: dict[str, float] | None = None


def metric_gate(
    challenger: dict[str, float], champion: dict[str, float] | None, cfg: MLConfig
) -> list[str]:
    """Why the challenger may not be promoted on its holdout metrics ([] = it may)."""
    t = cfg.thresholds
    failures = []
    if challenger["roc_auc"] < t.min_roc_auc:
        failures.append(f"roc_auc {challenger['roc_auc']:.4f} < {t.min_roc_auc}")
    if challenger["pr_auc"] < t.min_pr_auc:
        failures.append(f"pr_auc {challenger['pr_auc']:.4f} < {t.min_pr_auc}")
    if challenger["brier"] > t.max_brier:
        failures.append(f"brier {challenger['brier']:.4f} > {t.max_brier}")
    if challenger["lift_top_10"] < t.min_lift_top_10:
        failures.append(f"lift_top_10 {challenger['lift_top_10']:.3f} < {t.min_lift_top_10}")
    if champion is not None:
        key, tol = cfg.primary_metric, cfg.champion_tolerance
        new, old = challenger[key], champion[key]
        worse = new > old + tol if key in LOWER_IS_BETTER else new < old - tol
        if worse:
            failures.append(
                f"{key} {new:.4f} is worse than the champion's {old:.4f} on the same holdout "
                f"beyond the tolerance {tol}"
            )
    return failures


def integration_checks(
    client,
    cfg: MLConfig,
    version: str,
    sample: pd.DataFrame,
    expected: np.ndarray,
    onnx_parity: float | None,
) -> list[str]:
    """Load the version by its alias, score a sample, check schema, range, agreement with the
    model that was evaluated, behaviour and ONNX parity ([] = all pass)."""
    failures = []
    mv = alias_version(client, cfg.model_name, CHALLENGER)
    if mv is None or str(mv.version) != str(version):
        return [f"alias {CHALLENGER} does not resolve to version {version}"]
    loaded = load_alias(client, cfg.model_name, CHALLENGER)
    if list(sample.columns) != list(loaded.schema.columns):
        failures.append("the loaded model's input schema differs from the training schema")
        return failures
    proba = loaded.model.predict_proba(sample)
    if proba.shape != (len(sample), 2):
        failures.append(f"output shape {proba.shape}, expected ({len(sample)}, 2)")
        return failures
    p = proba[:, 1]
    if not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1:
        failures.append("probabilities outside [0, 1] or not finite")
    if np.max(np.abs(p - expected)) > 1e-6:
        failures.append("the loaded model scores differently from the evaluated one")
    wrong = {
        c: n
        for c, n in direction_violations(
            loaded.model, sample, loaded.schema, cfg.candidates
        ).items()
        if n
    }
    if wrong:
        failures.append(f"more activity raises risk for some customers: {wrong}")
    if onnx_parity is not None and onnx_parity > PARITY_TOLERANCE:
        failures.append(f"ONNX export differs from scikit-learn by {onnx_parity:.2e}")
    return failures


def record(
    warehouse,
    cfg: MLConfig,
    *,
    action: str,
    alias: str | None,
    from_version: str | None,
    to_version: str | None,
    actor: str | None,
    reason: str,
    metrics: dict[str, float] | None = None,
    run_id: str | None = None,
) -> None:
    """Append one row to the promotions table (atomic, via the gateway)."""
    row = pd.DataFrame(
        [
            {
                "promoted_at": datetime.now(UTC).replace(tzinfo=None),
                "model_name": cfg.model_name,
                "action": action,
                "alias": alias,
                "from_version": from_version,
                "to_version": to_version,
                "actor": actor or _whoami(),
                "reason": reason,
                "metrics": json.dumps(metrics or {}, sort_keys=True),
                "run_id": run_id,
            }
        ]
    )
    text = [c for c in row.columns if c != "promoted_at"]
    row[text] = row[text].astype("string")  # typed even when a value is null
    warehouse.append_rows(row, cfg.promotions_table)


def move_alias(
    client,
    warehouse,
    cfg: MLConfig,
    *,
    alias: str,
    version: str,
    action: str,
    actor: str | None,
    reason: str,
    metrics: dict[str, float] | None = None,
    run_id: str | None = None,
) -> str | None:
    """Point `alias` at `version`, archive the champion it replaces, record the move.

    Returns the version the alias pointed to before (None if none).
    """
    previous = alias_version(client, cfg.model_name, alias)
    before = str(previous.version) if previous else None
    client.set_registered_model_alias(cfg.model_name, alias, str(version))
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    if alias == CHAMPION:
        _untag(client, cfg.model_name, str(version), "archived")
        client.set_model_version_tag(cfg.model_name, str(version), "champion_since", stamp)
        if before and before != str(version):
            client.set_model_version_tag(cfg.model_name, before, "archived", "true")
            client.set_model_version_tag(cfg.model_name, before, "archived_at", stamp)
    record(
        warehouse,
        cfg,
        action=action,
        alias=alias,
        from_version=before,
        to_version=str(version),
        actor=actor,
        reason=reason,
        metrics=metrics,
        run_id=run_id,
    )
    return before


def promotion_history(warehouse, cfg: MLConfig) -> pd.DataFrame:
    """Every recorded alias move, oldest first (empty when none yet)."""
    if not warehouse.table_exists(cfg.promotions_table):
        return pd.DataFrame()
    return warehouse.read_table(cfg.promotions_table).sort_values("promoted_at", kind="stable")


def promote(
    version: str, *, client, warehouse, cfg: MLConfig, reason: str, actor: str | None = None
) -> str | None:
    """Make `version` champion by hand, after the integration checks on its own sample."""
    loaded = load_version(client, cfg.model_name, version)
    sample = _integration_sample(client, loaded.run_id)
    X = sample[list(loaded.schema.columns)]
    p = loaded.model.predict_proba(X)[:, 1]
    if not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1:
        raise ModelError(f"version {version} produces invalid probabilities", "do not promote")
    if not np.allclose(p, sample["expected_probability"].to_numpy(), atol=1e-6):
        raise ModelError(
            f"version {version} scores its integration sample differently than at training",
            "check the scikit-learn version of this environment against the model's",
        )
    return move_alias(
        client,
        warehouse,
        cfg,
        alias=CHAMPION,
        version=version,
        action="manual_promote",
        actor=actor,
        reason=reason,
        run_id=loaded.run_id,
    )


def rollback(
    *,
    client,
    warehouse,
    cfg: MLConfig,
    to_version: str | None = None,
    reason: str,
    actor: str | None = None,
) -> tuple[str, str]:
    """Point champion back to `to_version`, or to the champion before the current one.

    Returns (from_version, to_version).
    """
    current = alias_version(client, cfg.model_name, CHAMPION)
    if current is None:
        raise ModelError(
            f"{cfg.model_name} has no champion to roll back from",
            "promote a version first (`churn promote --version N`)",
        )
    if to_version is None:
        to_version = _previous_champion(warehouse, cfg, str(current.version))
    if str(to_version) == str(current.version):
        raise ModelError(f"version {to_version} is already champion", "pass --to-version")
    load_version(client, cfg.model_name, str(to_version))  # must still load
    move_alias(
        client,
        warehouse,
        cfg,
        alias=CHAMPION,
        version=str(to_version),
        action="rollback",
        actor=actor,
        reason=reason,
    )
    return str(current.version), str(to_version)


def _previous_champion(warehouse, cfg: MLConfig, current: str) -> str:
    history = promotion_history(warehouse, cfg)
    if not history.empty:
        moves = history[(history["alias"] == CHAMPION) & (history["to_version"] == current)]
        if not moves.empty and moves.iloc[-1]["from_version"]:
            return str(moves.iloc[-1]["from_version"])
    raise ModelError(
        f"no earlier champion is recorded before version {current}",
        "pass --to-version with the version to restore",
    )


def _integration_sample(client, run_id: str) -> pd.DataFrame:
    from models_ml.registry import run_artifact_frame

    try:
        return run_artifact_frame(client, run_id, "checks/integration_sample.parquet")
    except Exception as exc:
        raise ModelError(
            f"the run {run_id} has no integration sample ({exc})",
            "retrain with `churn train`; only models trained by models_ml can be promoted",
        ) from exc


def _untag(client, name: str, version: str, key: str) -> None:
    if key in (client.get_model_version(name, version).tags or {}):
        client.delete_model_version_tag(name, version, key)


def _whoami() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user in some containers
        return "unknown"
