"""Honest per-customer attribution of the calibrated log-odds to each input column.

- Logistic regression: exact additive contributions, coefficient x standardised value (the
  reference is the average training customer, because the features are standardised).
- Gradient boosting: Saabas path attribution. Every node gets the count-weighted mean of
  its leaves; walking a customer's path, each split credits its feature with the change in
  that mean. Per tree the credits sum to (leaf - root mean), so bias + sum of contributions
  equals the model's margin exactly; scoring therefore takes the probability from the
  attribution and checks it against predict_proba on a sample.

Vectorised: one Cython traversal per tree (a copy of the predictor whose leaf values are leaf
ranks gives each customer's leaf), then one sparse (customers x leaf combinations) @
(combinations x inputs) product, trees grouped three by three to cut the non-zeros.
One-hot columns are summed back into their source column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from models_ml.features import FeatureSchema, grouping_matrix, output_to_input


@dataclass(frozen=True)
class Attribution:
    """margin = bias + contributions.sum(axis=1), one column per schema input."""

    bias: float
    contributions: np.ndarray

    @property
    def margin(self) -> np.ndarray:
        """The calibrated log-odds of churn."""
        return self.bias + self.contributions.sum(axis=1)

    @property
    def probability(self) -> np.ndarray:
        """The calibrated churn probability."""
        return 1.0 / (1.0 + np.exp(-self.margin))


def attribute(model: Pipeline, X: pd.DataFrame, schema: FeatureSchema) -> Attribution:
    """Per-customer contributions of every input column to the calibrated log-odds."""
    clf = model[-1]
    owners = output_to_input(model.named_steps["prep"], schema)
    group = grouping_matrix(owners, len(schema.columns))
    Xt = np.asarray(model[:-1].transform(X), dtype=np.float64)
    if isinstance(clf, LogisticRegression):
        return Attribution(float(clf.intercept_[0]), (Xt * clf.coef_[0]) @ group)
    if isinstance(clf, HistGradientBoostingClassifier):
        return _saabas(clf, np.ascontiguousarray(Xt), group)
    raise TypeError(f"no attribution for {type(clf).__name__}")  # pragma: no cover


@dataclass(frozen=True)
class _Tables:
    """Saabas credits of every leaf combination of each group of `TREES_PER_GROUP` trees."""

    bias: float
    table: np.ndarray  # (all combinations of all groups, inputs)
    predictors: list[TreePredictor]  # leaf rank instead of leaf value
    group_of: np.ndarray  # per tree, its group
    stride: np.ndarray  # per tree, its multiplier in the group's combination code
    offset: np.ndarray  # per group, its first row in `table`


# Trees are grouped so the sparse product has fewer non-zeros: a group of three trees with at
# most 15 leaves each has at most 3,375 leaf combinations, and one non-zero per customer.
TREES_PER_GROUP = 3
MAX_GROUP_ROWS = 4096


def _leaf_credits(predictor: TreePredictor, group: np.ndarray):
    """(leaf credits per input, root mean, leaf-rank predictor) of one tree."""
    nodes = predictor.nodes
    n = len(nodes)
    mean = nodes["value"].astype(np.float64).copy()
    count = nodes["count"].astype(np.float64)
    left, right = nodes["left"], nodes["right"]
    leaf = nodes["is_leaf"].astype(bool)
    # children are stored after their parent: a reverse sweep sees children first
    for i in range(n - 1, -1, -1):
        if not leaf[i]:
            cl, cr = count[left[i]], count[right[i]]
            total = cl + cr
            mean[i] = (cl * mean[left[i]] + cr * mean[right[i]]) / total if total else 0.0
    credit = np.zeros((n, group.shape[0]))
    for i in range(n):  # parents before children
        if not leaf[i]:
            feature = nodes["feature_idx"][i]
            for child in (left[i], right[i]):
                credit[child] = credit[i]
                credit[child, feature] += mean[child] - mean[i]
    leaves = np.flatnonzero(leaf)
    ranks = nodes.copy()
    ranks["value"] = 0.0
    ranks["value"][leaves] = np.arange(len(leaves), dtype=np.float64)
    rank_predictor = TreePredictor(
        ranks, predictor.binned_left_cat_bitsets, predictor.raw_left_cat_bitsets
    )
    return credit[leaves] @ group, mean[0], rank_predictor


def _tree_tables(clf: HistGradientBoostingClassifier, group: np.ndarray) -> _Tables:
    bias = float(clf._baseline_prediction.ravel()[0])
    credits, predictors = [], []
    for (predictor,) in clf._predictors:
        credit, root, rank_predictor = _leaf_credits(predictor, group)
        bias += root
        credits.append(credit)
        predictors.append(rank_predictor)
    tables, group_of, stride, offset = [], [], [], []
    rows, t = 0, 0
    while t < len(credits):
        members = [credits[t]]
        while (
            len(members) < TREES_PER_GROUP
            and t + len(members) < len(credits)
            and np.prod([len(m) for m in members]) * len(credits[t + len(members)])
            <= MAX_GROUP_ROWS
        ):
            members.append(credits[t + len(members)])
        # row of a combination = sum(rank_i * prod(sizes before i)): the first tree varies
        # fastest, as the broadcasting below lays the rows out
        joint = members[0]
        for member in members[1:]:
            joint = (member[:, None, :] + joint[None, :, :]).reshape(-1, joint.shape[1])
        sizes = [len(m) for m in members]
        strides = np.cumprod([1] + sizes[:-1])
        group_of += [len(offset)] * len(members)
        stride += strides.tolist()
        offset.append(rows)
        tables.append(joint)
        rows += len(joint)
        t += len(members)
    return _Tables(
        bias,
        np.vstack(tables),
        predictors,
        np.asarray(group_of),
        np.asarray(stride, dtype=np.int64),
        np.asarray(offset, dtype=np.int64),
    )


def _saabas(clf: HistGradientBoostingClassifier, Xt: np.ndarray, group: np.ndarray) -> Attribution:
    tables = _tree_tables(clf, group)
    known_cats, f_idx_map = clf._bin_mapper.make_known_categories_bitsets()
    n_rows, n_groups = Xt.shape[0], len(tables.offset)
    codes = np.empty((n_rows, n_groups), dtype=np.int32)
    codes[:] = tables.offset.astype(np.int32)
    threads = _threads()
    for t, predictor in enumerate(tables.predictors):
        rank = predictor.predict(Xt, known_cats, f_idx_map, n_threads=threads)
        codes[:, tables.group_of[t]] += rank.astype(np.int32) * np.int32(tables.stride[t])
    indicator = sp.csr_matrix(
        (
            np.ones(codes.size, dtype=np.float64),
            codes.reshape(-1),
            np.arange(0, codes.size + 1, n_groups, dtype=_index_dtype(codes.size)),
        ),
        shape=(n_rows, tables.table.shape[0]),
    )
    return Attribution(tables.bias, np.asarray(indicator @ tables.table))


def _index_dtype(size: int):
    return np.int64 if size >= 2**31 - 1 else np.int32


def _threads() -> int:
    from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

    return _openmp_effective_n_threads()
