"""Each customer's top three risk drivers, in words a CS manager understands.

Drivers come from the per-customer attribution (not global importance) and only name inputs
that push this customer's risk UP. Phrases come from a template table keyed by feature name;
a feature dbt adds later falls back to a generic phrase built from its name, so it is still
readable. Rendering is vectorised: only distinct (feature, shown value) pairs are formatted.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from models_ml.features import MISSING, FeatureSchema, Prepared, column_values

TOP_DRIVERS = 3
MIN_CONTRIBUTION = 1e-6  # log-odds; below this a feature does not "push" risk
FEW_VALUES = 8  # phrases of this many values or fewer are formatted one by one


@dataclass(frozen=True)
class Phrase:
    """How to say one feature's value: `{v}` is the shown value, `{s}` a plural 's'.

    fmt: int (rounded count), pct (x100, absolute), ratio_pct (x100), money, text, flag.
    `negative` is used when the value is below zero (with `{v}` its absolute size).
    """

    text: str
    fmt: str = "int"
    negative: str | None = None
    missing: str | None = None
    false_text: str | None = None


PHRASES: dict[str, Phrase] = {
    "logins_7d": Phrase("only {v} login{s} in the last 7 days"),
    "logins_30d": Phrase("only {v} login{s} in the last 30 days"),
    "logins_90d": Phrase("only {v} login{s} in the last 90 days"),
    "events_7d": Phrase("only {v} product event{s} in the last 7 days"),
    "events_30d": Phrase("only {v} product event{s} in the last 30 days"),
    "active_days_30d": Phrase("active on only {v} of the last 30 days"),
    "feature_uses_30d": Phrase("only {v} feature use{s} in the last 30 days"),
    "exports_30d": Phrase("only {v} export{s} in the last 30 days"),
    "integration_syncs_30d": Phrase("only {v} integration sync{s} in the last 30 days"),
    "distinct_features_30d": Phrase("uses only {v} product feature{s}"),
    "active_users_30d": Phrase("only {v} active user{s} in the last 30 days"),
    "seat_utilisation": Phrase("only {v}% of licensed seats in use", fmt="ratio_pct"),
    "logins_30d_change_pct": Phrase(
        "logins up {v}% vs the prior month",
        fmt="pct",
        negative="logins down {v}% vs the prior month",
        missing="no logins in the prior month to compare with",
    ),
    "events_7d_vs_30d_ratio": Phrase(
        "activity this week at {v}% of the monthly average", fmt="ratio_pct"
    ),
    "days_since_last_login": Phrase("last login {v} day{s} ago", missing="no login on record"),
    "tickets_90d": Phrase("{v} support ticket{s} in the last 90 days"),
    "escalated_tickets_90d": Phrase("{v} escalated ticket{s} in the last 90 days"),
    "bad_satisfaction_90d": Phrase("{v} bad satisfaction rating{s} in the last 90 days"),
    "open_tickets": Phrase("{v} open support ticket{s}"),
    "oldest_open_ticket_days": Phrase("a support ticket open for {v} day{s}"),
    "mrr": Phrase("${v} monthly revenue", fmt="money"),
    "mrr_change_90d_pct": Phrase(
        "revenue up {v}% over 90 days", fmt="pct", negative="revenue down {v}% over 90 days"
    ),
    "failed_payments_90d": Phrase("{v} failed payment{s} in the last 90 days"),
    "days_since_last_failed_payment": Phrase(
        "a payment failed {v} day{s} ago", missing="no failed payment on record"
    ),
    "has_discount": Phrase("on a discount", fmt="flag", false_text="no discount"),
    "plan": Phrase("on the {v} plan", fmt="text"),
    "contract_type": Phrase("{v} contract", fmt="text"),
    "industry": Phrase("industry: {v}", fmt="text"),
    "country": Phrase("country: {v}", fmt="text"),
    "seats": Phrase("{v} licensed seat{s}"),
    "tenure_days": Phrase("customer for {v} day{s}"),
    "days_to_renewal": Phrase("renewal in {v} day{s}"),
    "cs_contacts_90d": Phrase("{v} CS contact{s} in the last 90 days"),
    "cs_offers_90d": Phrase("{v} retention offer{s} in the last 90 days"),
    "days_since_last_cs_contact": Phrase(
        "last CS contact {v} day{s} ago", missing="never contacted by CS"
    ),
}


def humanise(name: str) -> str:
    """`escalations_90d` -> `escalations (last 90 days)`; the generic fallback's label."""
    match = re.search(r"_(\d+)d$", name)
    label = name[: match.start()] if match else name
    label = label.replace("_pct", " change").replace("_", " ").strip()
    return f"{label} (last {match.group(1)} days)" if match else label


@functools.lru_cache(maxsize=4096)
def phrase_for(name: str, kind: str) -> Phrase:
    """The template of a feature, or a generic one built from its name and kind (kept: an
    API request asks for the same few on every call)."""
    label = humanise(name)
    phrase = PHRASES.get(name) or _generic(label, name, kind)
    return phrase if phrase.missing else replace(phrase, missing=f"{label}: unknown")


def _generic(label: str, name: str, kind: str) -> Phrase:
    if kind == "categorical":
        return Phrase(f"{label}: {{v}}", fmt="text")
    if kind == "boolean":
        return Phrase(f"{label}: yes", fmt="flag", false_text=f"{label}: no")
    if name.endswith("_pct"):
        return Phrase(f"{label}: +{{v}}%", fmt="pct", negative=f"{label}: -{{v}}%")
    fmt = "int" if re.search(r"(_\d+d|_days|count|number|^n_)", name) else "num"
    return Phrase(f"{label}: {{v}}", fmt=fmt)


def render(phrase: Phrase, values: np.ndarray) -> np.ndarray:
    """Phrases for an array of raw values (object array of str); only distinct shown values
    are formatted."""
    texts, inverse = render_codes(phrase, values)
    return np.array(texts, dtype=object)[inverse]


def render_codes(phrase: Phrase, values: np.ndarray) -> tuple[list[str], np.ndarray]:
    """(distinct phrases, index of each value's phrase): every distinct shown value is
    formatted once."""
    if phrase.fmt == "text":
        keys = np.asarray(values, dtype=object)
    else:
        keys = _shown(phrase, np.asarray(values, dtype=np.float64))
    if len(keys) <= FEW_VALUES:
        # a few values (an API payload): each formatted, cheaper than building a hash table
        return [_one(phrase, key) for key in keys], np.arange(len(keys))
    # hashing (factorize) rather than sorting (np.unique): NaN is kept as a key of its own
    inverse, unique = pd.factorize(keys, use_na_sentinel=False)
    return [_one(phrase, key) for key in unique], inverse.reshape(-1)


def _shown(phrase: Phrase, v: np.ndarray) -> np.ndarray:
    """The number a phrase shows (signed, rounded; NaN stays NaN)."""
    if phrase.fmt == "flag":
        return np.where(np.isnan(v), np.nan, (v > 0.5).astype(np.float64))
    scaled = v * 100 if phrase.fmt in ("pct", "ratio_pct") else v
    # + 0.0 turns -0.0 into 0.0, so a value that rounds to zero is one key (and never "-0")
    return np.round(scaled, 2 if phrase.fmt == "num" else 0) + 0.0


def _one(phrase: Phrase, key) -> str:  # noqa: ANN001 - a str (text) or a float
    if phrase.fmt == "text":
        if key == MISSING:
            return phrase.missing or "unknown"
        return phrase.text.replace("{v}", str(key))
    if np.isnan(key):
        return phrase.missing or "unknown"
    if phrase.fmt == "flag":
        return phrase.text if key > 0.5 else (phrase.false_text or "not " + phrase.text)
    negative = key < 0 and phrase.negative is not None
    number = abs(key) if phrase.fmt == "pct" or negative else key
    if phrase.fmt == "num":
        shown = f"{number:g}"
    elif phrase.fmt == "money":
        shown = f"{int(number):,}"
    else:
        shown = str(int(number))
    template = phrase.negative if negative else phrase.text
    plural = "" if shown in ("1", "-1") else "s"
    return template.replace("{v}", shown).replace("{s}", plural)


@dataclass(frozen=True)
class TopContributions:
    """Per row, the `k` largest contributions (descending) and their input columns."""

    order: np.ndarray  # (rows, k) schema column indices
    chosen: np.ndarray  # (rows, k) contributions

    @classmethod
    def concat(cls, parts: list[TopContributions]) -> TopContributions:
        """Rows of several chunks, in order."""
        if len(parts) == 1:
            return parts[0]
        return cls(
            np.concatenate([p.order for p in parts]), np.concatenate([p.chosen for p in parts])
        )


def top_contributions(contributions: np.ndarray, k: int = TOP_DRIVERS) -> TopContributions:
    """The `k` largest contributions of each row, largest first, ties to the first column
    (row by row, so chunks of rows give the same result as the whole matrix).

    k passes of argmax over the row: for k = 3 of ~20 inputs this is several times cheaper
    than a partition and a sort of every row.
    """
    n, width = contributions.shape
    k = min(k, width)
    order = np.empty((n, k), dtype=np.intp)
    chosen = np.empty((n, k), dtype=contributions.dtype)
    rows = np.arange(n)
    remaining = contributions.copy() if k > 1 else contributions
    for rank in range(k):
        best = np.argmax(remaining, axis=1)
        order[:, rank] = best
        chosen[:, rank] = remaining[rows, best]
        if rank + 1 < k:
            remaining[rows, best] = -np.inf
    return TopContributions(order, chosen)


def top_drivers(
    contributions: np.ndarray | TopContributions,
    raw: Prepared,
    schema: FeatureSchema,
    k: int = TOP_DRIVERS,
) -> list[np.ndarray]:
    """`k` object arrays of phrases (None where fewer than k inputs push risk up).

    `contributions` is the full (rows x inputs) matrix or its `top_contributions`; `raw` is
    the prepared input frame (schema order), so phrases show the values the model saw. Each
    feature's phrases are rendered once for all ranks, from its distinct shown values.
    """
    top = (
        contributions
        if isinstance(contributions, TopContributions)
        else top_contributions(contributions, k)
    )
    k = min(k, top.order.shape[1])
    n = top.order.shape[0]
    # per (row, rank) cell: the feature pushing risk up there, or -1; cells grouped by
    # feature with one stable sort (a radix sort on these small integers)
    pushes = top.chosen[:, :k] > MIN_CONTRIBUTION
    features = np.where(pushes, top.order[:, :k], -1).astype(np.int16).reshape(-1)
    cells = np.argsort(features, kind="stable")
    bounds = np.cumsum(np.bincount(features + 1, minlength=len(schema.columns) + 1))
    # per cell, the index of its phrase in `texts` (0: no driver)
    text_of = np.zeros(n * k, dtype=np.int64)
    texts: list[str | None] = [None]
    for j in np.flatnonzero(np.diff(bounds)).tolist():
        at = cells[bounds[j] : bounds[j + 1]]
        name = schema.columns[j]
        phrase = phrase_for(name, schema.kinds[j])
        phrases, inverse = render_codes(phrase, column_values(raw, name)[at // k])
        text_of[at] = inverse + len(texts)
        texts += phrases
    table = np.array(texts, dtype=object)
    text_of = text_of.reshape(n, k)
    out = [table[text_of[:, rank]] for rank in range(k)]
    return out + [np.full(n, None, dtype=object) for _ in range(TOP_DRIVERS - k)]
