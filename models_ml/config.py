"""Every knob of training, promotion and scoring, overridable with `CHURN_ML_*` variables.

Kept apart from `warehouse.Settings` (paths, URLs, secrets) because these are modelling
decisions a reviewer wants to read in one place; nested values take JSON, for example
`CHURN_ML_THRESHOLDS='{"min_roc_auc": 0.75}'`.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Thresholds(BaseModel):
    """Absolute quality a challenger must reach on the holdout to become champion."""

    min_roc_auc: float = 0.70
    min_pr_auc: float = 0.0
    max_brier: float = 0.25
    min_lift_top_10: float = 1.5


class Tiers(BaseModel):
    """How probabilities become High / Medium / Low.

    With `capacity` set, High is exactly the top `capacity` customers (what a CS team can call
    this week); the rest are Medium above `medium` and Low below.
    """

    # 28-day churn runs at ~2-3% a month: High is ~6x that base rate, Medium ~2x
    high: float = 0.15
    medium: float = 0.05
    capacity: int | None = None


class Candidates(BaseModel):
    """Hyper-parameters of the two candidates (small, sane defaults; no search)."""

    logreg_c: float = 1.0
    logreg_max_iter: int = 500
    hgb_max_iter: int = 200
    hgb_learning_rate: float = 0.08
    # the drivers' attribution keeps each tree's open leaves in a 64-bit mask
    hgb_max_leaf_nodes: int = Field(15, ge=2, le=64)
    hgb_min_samples_leaf: int = 40
    hgb_l2_regularization: float = 1.0
    hgb_early_stopping: bool = True
    random_state: int = 7
    # Regexes on feature names: more of these never raises risk (activity)...
    monotone_decreasing: list[str] = Field(
        default_factory=lambda: [
            r"^(logins|events|active_days|active_users|feature_uses|exports|integration_syncs"
            r"|distinct_features)_\d+d$",
            r"^seat_utilisation$",
        ]
    )
    # ...and more of these never lowers it (inactivity).
    monotone_increasing: list[str] = Field(default_factory=lambda: [r"^days_since_last_login$"])


class MLConfig(BaseSettings):
    """Modelling configuration; read from `CHURN_ML_*` environment variables."""

    model_config = SettingsConfigDict(
        env_prefix="CHURN_ML_", env_nested_delimiter="__", extra="ignore"
    )

    model_name: str = "churn-model"
    experiment_name: str = "churn"
    training_table: str = "features.training_set"
    features_table: str = "features.customer_features"
    predictions_table: str = "ml.churn_predictions"
    promotions_table: str = "ml.model_promotions"
    id_column: str = "customer_id"
    date_column: str = "as_of_date"
    label_column: str = "churned"

    # out-of-time split, in weekly snapshots
    holdout_snapshots: int = 4
    calibration_snapshots: int = 3
    min_train_snapshots: int = 2

    # training sample, chosen in the warehouse (models_ml/sampling.py): fit on the newest
    # `train_snapshots` label-complete snapshots before calibration (None: all of them), with
    # every positive and a share of negatives (weighted back by 1/share). The share is
    # `negative_share` when set, else whatever keeps fit + calibration within
    # `train_row_budget` rows (1, everything, for a table below the budget; never fewer
    # negatives than positives). The holdout is read whole up to `holdout_row_budget` rows,
    # a uniform sample of that size beyond it. The draw hashes (id, date, `sample_seed`).
    train_snapshots: int | None = 52
    negative_share: float | None = None
    train_row_budget: int = 1_000_000
    holdout_row_budget: int = 2_000_000
    sample_seed: int = 7

    # the metric that picks the best candidate and compares challenger with champion
    primary_metric: str = "pr_auc"
    champion_tolerance: float = 0.01

    thresholds: Thresholds = Field(default_factory=Thresholds)
    tiers: Tiers = Field(default_factory=Tiers)
    candidates: Candidates = Field(default_factory=Candidates)

    # scoring: columns the champion does not know are an error unless allowed here
    allow_extra_features: bool = False
    # scoring guard: boolean columns that, when present and true, mark a customer as gone
    inactive_flag_columns: list[str] = Field(default_factory=lambda: ["is_cancelled"])
    # rows checked against predict_proba on every scoring run (attribution additivity guard)
    parity_check_rows: int = 2000
    # OpenMP threads for training and scoring (None = all cores)
    threads: int | None = None
    integration_sample_rows: int = 500

    # randomized control group (models_ml/holdout.py): this share of the customers who newly
    # enter High risk is kept off the CS list for the episode; 0 switches the holdout off.
    # dbt reads the same CHURN_ML_HOLDOUT_SHARE for its sample-ratio check (save_effect).
    holdout_share: float = 0.10
    # the hash key of the draw: not a secret (knowing it predicts the groups, which only
    # matters if CS could see it); change it to start an independent draw
    holdout_key: str = "churn-holdout-1"
    holdout_table: str = "ml.holdout_assignments"

    @field_validator("negative_share")
    @classmethod
    def _negative_share_is_a_fraction(cls, value: float | None) -> float | None:
        if value is not None and not 0.0 < value <= 1.0:
            raise ValueError("negative_share must be in (0, 1]: 1 reads every negative")
        return value

    @field_validator("train_snapshots", "train_row_budget", "holdout_row_budget")
    @classmethod
    def _positive_count(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError("must be at least 1")
        return value

    @field_validator("holdout_share")
    @classmethod
    def _share_is_a_fraction(cls, value: float) -> float:
        if not 0.0 <= value < 1.0:
            raise ValueError("holdout_share must be in [0, 1): 0 switches the holdout off")
        return value
