"""Who becomes champion, and the record of every alias move.

MLflow keeps no history of aliases, so each move (and each rejected challenger) is a row in
`ml.model_promotions`: who, when, from which version to which, the metrics and the reason.
The gate is pure (metrics in, reasons out); moving aliases and writing rows are the edges.

A move is all or nothing. It spans two stores, so it runs as a small protocol: check what can
fail (the version, the warehouse accepting a write), mark the move as pending in the registry
(readers keep the previous version, see `registry.alias_version`), apply the tags and the
alias, append the history row in one warehouse transaction (the commit point), then clear the
mark. Any failure before the commit point undoes the applied steps from a snapshot kept in
the mark; a mark left by a process that died is settled by the next move: rolled forward when
its history row exists, undone when not.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from models_ml.behaviour import direction_violations
from models_ml.config import MLConfig
from models_ml.errors import ModelError, PromotionError, VersionError
from models_ml.registry import (
    CHALLENGER,
    CHAMPION,
    PENDING_TAG,
    alias_target,
    alias_version,
    load_alias,
    load_version,
    parse_version,
    pending_move,
    registered_version,
)

LOWER_IS_BETTER = {"brier", "log_loss"}
PARITY_TOLERANCE = 1e-4
# a pending move older than this, or whose process is gone, stopped half-way
PENDING_TIMEOUT = timedelta(minutes=5)
# the version tags a champion move sets or clears, snapshotted so a failed move restores them
MOVE_TAGS = ("archived", "archived_at", "champion_since")


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
    """Append one row to the promotions table (atomic, via the gateway); a warehouse that
    cannot take it is a PromotionError saying why."""
    row = _history_row(
        cfg,
        promoted_at=_now(),
        action=action,
        alias=alias,
        from_version=from_version,
        to_version=to_version,
        actor=actor,
        reason=reason,
        metrics=metrics,
        run_id=run_id,
    )
    try:
        warehouse.append_rows(row, cfg.promotions_table)
    except Exception as exc:
        cause, fix = _cause(exc)
        raise PromotionError(
            f"the {action} of {cfg.model_name} version {to_version} could not be recorded: {cause}",
            f"{fix}, then run the job again",
        ) from exc


def move_alias(
    client,
    warehouse,
    cfg: MLConfig,
    *,
    alias: str,
    version: str | int,
    action: str,
    actor: str | None,
    reason: str,
    metrics: dict[str, float] | None = None,
    run_id: str | None = None,
) -> str | None:
    """Point `alias` at `version`, archive the champion it replaces, record the move: all of
    it or none of it (see the module docstring); a failure is a PromotionError.

    Returns the version the alias pointed to before (None if none).
    """
    name = cfg.model_name
    target = str(parse_version(version))
    settle_pending(client, warehouse, cfg)
    current = alias_target(client, name, alias)
    before = str(current.version) if current is not None else None
    stamp = _now()
    row = _history_row(
        cfg,
        promoted_at=stamp,
        action=action,
        alias=alias,
        from_version=before,
        to_version=target,
        actor=actor,
        reason=reason,
        metrics=metrics,
        run_id=run_id,
    )
    touched = [target]
    if alias == CHAMPION and before is not None and before != target:
        touched.append(before)
    plan = {
        "alias": alias,
        "from": before,
        "to": target,
        "action": action,
        "stamp": stamp.isoformat(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "tags": {},
    }
    try:
        # the warehouse must take a write before anything changes: an empty append opens it
        # for writing (DuckDB lets one process at a time do so) and creates the table
        warehouse.append_rows(row.iloc[:0], cfg.promotions_table)
        plan["tags"] = {v: _tag_values(client, name, v) for v in touched}
        client.set_registered_model_tag(name, PENDING_TAG, json.dumps(plan))
    except Exception as exc:
        raise _not_done(plan, exc, []) from exc
    applied = False
    try:
        _apply(client, name, plan)
        applied = True
        warehouse.append_rows(row, cfg.promotions_table)  # the commit point
    except BaseException as exc:
        # a write can fail after it committed (a lost answer): then the move happened
        if not (applied and _recorded_despite(warehouse, cfg, plan)):
            left = _restore(client, name, plan)
            if not isinstance(exc, Exception):
                raise
            raise _not_done(plan, exc, left) from exc
    try:
        client.delete_registered_model_tag(name, PENDING_TAG)
    except Exception as exc:
        raise PromotionError(
            f"version {target} is {alias} and the move is recorded, but the registry did not "
            f"answer when it was made visible ({_plain(exc)}); scoring and serving still use "
            f"version {before or '-'}",
            "run the same command again once MLflow answers: it finishes the move",
        ) from exc
    return before


def settle_pending(client, warehouse, cfg: MLConfig) -> None:
    """Finish the alias move a stopped process left half-way: keep it when its history row
    was written (the move committed), undo it from its snapshot when not.

    A move still running in another process is a PromotionError (wait and retry).
    """
    name = cfg.model_name
    plan = pending_move(client, name)
    if plan is None:
        return
    what = f"{plan.get('action')} of {name} {plan.get('alias')} to version {plan.get('to')}"
    if not _abandoned(plan):
        raise PromotionError(
            f"another {what} started at {plan.get('stamp')} UTC and has not finished",
            "wait for it and run the command again (a move that stopped half-way is undone "
            f"after {int(PENDING_TIMEOUT.total_seconds() // 60)} minutes)",
        )
    try:
        committed = _recorded(warehouse, cfg, plan)
        if committed:
            client.delete_registered_model_tag(name, PENDING_TAG)
            return
    except Exception as exc:
        cause, fix = _cause(exc)
        raise PromotionError(
            f"an earlier {what} stopped half-way and cannot be settled: {cause}",
            f"{fix}, then run the command again (readers keep version {plan.get('from') or '-'})",
        ) from exc
    left = _restore(client, name, plan)
    if left:
        raise PromotionError(
            f"an earlier {what} stopped half-way and could not be undone ({'; '.join(left)})",
            "run the command again once MLflow answers "
            f"(readers keep version {plan.get('from') or '-'})",
        )


def promotion_history(warehouse, cfg: MLConfig) -> pd.DataFrame:
    """Every recorded alias move, oldest first (empty when none yet); versions read as plain
    numbers ("02" recorded by older code reads as "2")."""
    if not warehouse.table_exists(cfg.promotions_table):
        return pd.DataFrame()
    history = warehouse.read_table(cfg.promotions_table)
    for column in ("from_version", "to_version"):
        if column in history.columns:
            history[column] = history[column].map(_plain_version)
    return history.sort_values("promoted_at", kind="stable")


def promote(
    version: str | int,
    *,
    client,
    warehouse,
    cfg: MLConfig,
    reason: str,
    actor: str | None = None,
) -> str | None:
    """Make `version` champion by hand, after the integration checks on its own sample.

    `version` is parsed by `registry.parse_version` ("2", "02", "v2" and 2 are version 2;
    "latest" is refused) and must be registered and not already champion (VersionError).
    The move is all or nothing (PromotionError when it did not happen). Returns the version
    it replaced (None when there was no champion).
    """
    name = cfg.model_name
    number = str(parse_version(version))
    registered_version(client, name, number)
    settle_pending(client, warehouse, cfg)
    current = alias_version(client, name, CHAMPION)
    if current is not None and str(current.version) == number:
        raise VersionError(
            f"version {number} of {name} is already champion",
            "nothing to do; give another version to promote, or `churn rollback` to go back",
        )
    loaded = load_version(client, name, number)
    sample = _integration_sample(client, loaded.run_id)
    X = sample[list(loaded.schema.columns)]
    p = loaded.model.predict_proba(X)[:, 1]
    if not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1:
        raise ModelError(f"version {number} produces invalid probabilities", "do not promote")
    if not np.allclose(p, sample["expected_probability"].to_numpy(), atol=1e-6):
        raise ModelError(
            f"version {number} scores its integration sample differently than at training",
            "check the scikit-learn version of this environment against the model's",
        )
    return move_alias(
        client,
        warehouse,
        cfg,
        alias=CHAMPION,
        version=number,
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
    to_version: str | int | None = None,
    reason: str,
    actor: str | None = None,
) -> tuple[str, str]:
    """Point champion back to `to_version`, or to the champion before the current one (from
    the promotions history), all or nothing like `move_alias`.

    Returns (from_version, to_version).
    """
    name = cfg.model_name
    target = None if to_version is None else str(parse_version(to_version))
    if target is not None:
        registered_version(client, name, target)
    settle_pending(client, warehouse, cfg)
    current = alias_version(client, name, CHAMPION)
    if current is None:
        raise ModelError(
            f"{name} has no champion to roll back from",
            "promote a version first (`churn promote --version N`)",
        )
    if target is None:
        target = _previous_champion(warehouse, cfg, str(current.version))
        registered_version(client, name, target)
    if target == str(current.version):
        raise VersionError(f"version {target} is already champion", "pass --to-version")
    load_version(client, name, target)  # must still load
    move_alias(
        client,
        warehouse,
        cfg,
        alias=CHAMPION,
        version=target,
        action="rollback",
        actor=actor,
        reason=reason,
    )
    return str(current.version), target


def _previous_champion(warehouse, cfg: MLConfig, current: str) -> str:
    try:
        history = promotion_history(warehouse, cfg)
    except Exception as exc:
        cause, fix = _cause(exc)
        raise PromotionError(
            f"the promotions history cannot be read to find the previous champion: {cause}",
            f"{fix}, or pass --to-version",
        ) from exc
    if not history.empty:
        moves = history[(history["alias"] == CHAMPION) & (history["to_version"] == current)]
        if not moves.empty and not pd.isna(moves.iloc[-1]["from_version"]):
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


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _history_row(
    cfg: MLConfig,
    *,
    promoted_at: datetime,
    action: str,
    alias: str | None,
    from_version: str | None,
    to_version: str | None,
    actor: str | None,
    reason: str,
    metrics: dict[str, float] | None,
    run_id: str | None,
) -> pd.DataFrame:
    row = pd.DataFrame(
        [
            {
                "promoted_at": promoted_at,
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
    return row


def _tag_values(client, name: str, version: str) -> dict[str, str | None]:
    tags = client.get_model_version(name, version).tags or {}
    return {key: tags.get(key) for key in MOVE_TAGS}


def _apply(client, name: str, plan: dict) -> None:
    """The MLflow half of a move, new champion's tags first so the alias never points at a
    version still marked archived."""
    target, before, alias = plan["to"], plan["from"], plan["alias"]
    stamp = datetime.fromisoformat(plan["stamp"]).replace(tzinfo=UTC).isoformat(timespec="seconds")
    if alias == CHAMPION:
        for key in ("archived", "archived_at"):
            if plan["tags"][target].get(key) is not None:
                client.delete_model_version_tag(name, target, key)
        client.set_model_version_tag(name, target, "champion_since", stamp)
    client.set_registered_model_alias(name, alias, target)
    if alias == CHAMPION and before is not None and before != target:
        client.set_model_version_tag(name, before, "archived", "true")
        client.set_model_version_tag(name, before, "archived_at", stamp)


def _restore(client, name: str, plan: dict) -> list[str]:
    """Put the alias and tags back as the plan's snapshot has them, then clear the mark;
    returns what could not be restored (the mark stays then, so readers keep the previous
    version and the next move tries again)."""
    problems = []
    alias, before = plan["alias"], plan["from"]
    try:
        if before is not None:
            client.set_registered_model_alias(name, alias, before)
        elif alias_target(client, name, alias) is not None:
            client.delete_registered_model_alias(name, alias)
    except Exception as exc:
        problems.append(f"alias {alias}: {_plain(exc)}")
    for version, wanted in plan.get("tags", {}).items():
        try:
            tags = client.get_model_version(name, version).tags or {}
            for key, value in wanted.items():
                if value is None and key in tags:
                    client.delete_model_version_tag(name, version, key)
                elif value is not None and tags.get(key) != value:
                    client.set_model_version_tag(name, version, key, value)
        except Exception as exc:
            problems.append(f"tags of version {version}: {_plain(exc)}")
    if not problems:
        try:
            client.delete_registered_model_tag(name, PENDING_TAG)
        except Exception as exc:
            problems.append(f"pending mark: {_plain(exc)}")
    return problems


def _abandoned(plan: dict) -> bool:
    """True when the process that started the move is gone (same machine) or it is too old."""
    try:
        started = datetime.fromisoformat(str(plan.get("stamp")))
    except ValueError:
        return True
    if _now() - started > PENDING_TIMEOUT:
        return True
    if plan.get("host") != socket.gethostname() or not isinstance(plan.get("pid"), int):
        return False
    if plan["pid"] == os.getpid():
        return True  # this process runs one move at a time: its own mark is left over
    try:
        os.kill(plan["pid"], 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def _recorded(warehouse, cfg: MLConfig, plan: dict) -> bool:
    """True when the move's history row exists: it committed."""
    history = promotion_history(warehouse, cfg)
    if history.empty:
        return False
    same = (
        (pd.to_datetime(history["promoted_at"]) == pd.Timestamp(plan["stamp"]))
        & (history["action"] == plan["action"])
        & (history["to_version"] == plan["to"])
    )
    return bool(same.any())


def _recorded_despite(warehouse, cfg: MLConfig, plan: dict) -> bool:
    """After a failed history write: True only when the row is there after all."""
    try:
        return _recorded(warehouse, cfg, plan)
    except Exception:
        return False


def _not_done(plan: dict, exc: BaseException, left: list[str]) -> PromotionError:
    """The error of a move that did not happen, in one line without paths or secrets."""
    cause, fix = _cause(exc)
    what = f"{plan['action']} of {plan['alias']} to version {plan['to']}"
    kept = plan["from"] or "-"
    if left:
        return PromotionError(
            f"the {what} did not happen ({cause}) and the registry could not be fully "
            f"restored ({'; '.join(left)}); scoring and serving keep version {kept}",
            f"{fix}, then run the command again: it finishes restoring the registry first",
        )
    return PromotionError(
        f"the {what} did not happen: {cause}; nothing was changed ({plan['alias']} is still "
        f"version {kept})",
        f"{fix}, then run the command again",
    )


def _cause(exc: BaseException) -> tuple[str, str]:
    """(what went wrong, what to do) for an exception raised by a store."""
    from warehouse import WarehouseError

    text = _plain(exc)
    if isinstance(exc, WarehouseError):
        if "lock" in text.lower() or "another process" in text.lower():
            return (
                "another process holds the warehouse open (DuckDB lets one process write it)",
                "close the program that has it open (the app, a notebook, a running job or "
                "dbt build)",
            )
        return f"the warehouse refused the write ({text})", "check the warehouse"
    if isinstance(exc, ModelError):
        return exc.problem, exc.fix
    if type(exc).__module__.startswith("mlflow"):
        return f"the MLflow registry failed ({text})", "check that the MLflow store answers"
    return f"{type(exc).__name__}: {text}", "check the logs of the job"


_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[/\\][^\s/\\'\":]+){2,}[/\\]?")
_USERINFO = re.compile(r"(://[^/\s:@]*):[^/\s@]*@")


def _plain(exc: BaseException) -> str:
    """An exception's message on one short line, credentials masked and file paths cut to
    their last part (a message names no machine path)."""
    text = " ".join(str(getattr(exc, "message", None) or exc).split())
    text = _USERINFO.sub(r"\1:***@", text)
    text = _PATH.sub(lambda m: ".../" + re.split(r"[/\\]", m.group(0).rstrip("/\\"))[-1], text)
    return text if len(text) <= 240 else text[:237] + "..."


def _plain_version(value: object) -> object:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value).strip()
    return str(int(text)) if text.isdigit() else text


def _whoami() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user in some containers
        return "unknown"
