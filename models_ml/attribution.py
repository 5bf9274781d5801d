"""Honest per-customer attribution of the calibrated log-odds to each input column.

- Logistic regression: exact additive contributions, coefficient x standardised value (the
  reference is the average training customer, because the features are standardised).
- Gradient boosting: Saabas path attribution. Every node gets the count-weighted mean of
  its leaves; walking a customer's path, each split credits its feature with the change in
  that mean. Per tree the credits sum to (leaf - root mean), so bias + sum of contributions
  equals the model's margin exactly; scoring therefore takes the probability from the
  attribution and checks it against predict_proba on a sample.

Vectorised: the inputs are binned once, straight from the prepared frame, into the uint8
matrix the HGB itself trains on (one-hot columns from category codes, without building the
float one-hot matrix); then one Cython traversal per tree over that matrix (a copy of the
predictor whose leaf values are leaf ranks gives each customer's leaf), and one sparse
(customers x leaf combinations) @ (combinations x inputs) product, trees grouped three by
three to cut the non-zeros. Rows go through in chunks of `CHUNK_ROWS`, which caps
the memory of scoring millions of customers. One-hot columns are summed back into their
source column.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

from models_ml.features import FeatureSchema, grouping_matrix, output_to_input

# rows per chunk: large enough that per-call overheads vanish, small enough that the chunk's
# working set (binned rows, leaf codes, sparse indicator, contributions) is a few tens of MB
CHUNK_ROWS = 65_536


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
    parts = list(attribute_chunks(model, X, schema))
    if not parts:
        return Attribution(_bias(model), np.zeros((0, len(schema.columns))))
    contributions = parts[0][1].contributions if len(parts) == 1 else None
    if contributions is None:
        contributions = np.concatenate([a.contributions for _, a in parts])
    return Attribution(parts[0][1].bias, contributions)


def attribute_chunks(
    model: Pipeline, X: pd.DataFrame, schema: FeatureSchema, chunk_rows: int = CHUNK_ROWS
) -> Iterator[tuple[int, Attribution]]:
    """(first row, Attribution of rows [first, first + chunk_rows)) over X, in order; the
    model's tables are built once."""
    clf = model[-1]
    prep = model.named_steps["prep"]
    group = grouping_matrix(output_to_input(prep, schema), len(schema.columns))
    if isinstance(clf, LogisticRegression):
        bias, weights = float(clf.intercept_[0]), clf.coef_[0]
        for start in range(0, len(X), chunk_rows):
            Xt = np.asarray(model[:-1].transform(X.iloc[start : start + chunk_rows]), np.float64)
            yield start, Attribution(bias, (Xt * weights) @ group)
    elif isinstance(clf, HistGradientBoostingClassifier):
        tables = _tree_tables(clf, group)
        # the traversal runs over all rows at once (a few large parallel loops, which
        # OpenMP handles far better than many small ones on a busy machine); only the
        # per-group leaf codes, one byte each for pairs of small trees, are kept for all rows
        codes = _leaf_codes(tables, _Binner(prep, clf, model)(X), clf)
        for start in range(0, len(X), chunk_rows):
            yield start, _saabas(tables, codes[start : start + chunk_rows])
    else:  # pragma: no cover - only our two candidates exist
        raise TypeError(f"no attribution for {type(clf).__name__}")


def _bias(model: Pipeline) -> float:
    clf = model[-1]
    if isinstance(clf, LogisticRegression):
        return float(clf.intercept_[0])
    return _tree_tables(clf, np.zeros((clf.n_features_in_, 1))).bias


class _Binner:
    """The uint8 matrix the HGB's own bin mapper would make from the preprocessed inputs.

    Numbers are binned with the mapper's thresholds (bin i holds thresholds[i-1] < x <=
    thresholds[i], NaN goes to the missing bin: `np.searchsorted(..., side="left")` is the
    mapper's binary search). A one-hot column only ever holds 0 or 1, so its bin is one of
    two values, picked from the category code: the float one-hot matrix is never built.
    Any preprocessing other than passthrough + OneHotEncoder(handle_unknown="ignore") falls
    back to transform + the mapper itself.
    """

    def __init__(self, prep: ColumnTransformer, clf: HistGradientBoostingClassifier, model):
        self.model = model
        self.mapper = clf._bin_mapper
        self.plan = _bin_plan(prep, self.mapper)

    def __call__(self, X: pd.DataFrame) -> np.ndarray:
        mapper = self.mapper
        if self.plan is None:
            Xt = np.asarray(self.model[:-1].transform(X), dtype=np.float64)
            return np.ascontiguousarray(mapper.transform(Xt))
        thresholds = mapper.bin_thresholds_
        missing = mapper.missing_values_bin_idx_
        if len(X) == 0:
            return np.empty((0, len(thresholds)), dtype=np.uint8)
        out = np.empty((len(X), len(thresholds)), dtype=np.uint8)
        for kind, column, first, extra in self.plan:
            values = X[column].to_numpy()
            if kind == "num":
                x = values.astype(np.float64, copy=False)
                binned = np.searchsorted(thresholds[first], x, side="left")
                binned[np.isnan(x)] = missing
                out[:, first] = binned
            else:  # one-hot: extra = (categories index, bin of 0 per column, bin of 1)
                categories, zero_bins, one_bins = extra
                codes = categories.get_indexer(values)
                width = len(zero_bins)
                block = np.broadcast_to(zero_bins, (len(X), width)).copy()
                hit = codes >= 0
                rows = np.flatnonzero(hit)
                block[rows, codes[hit]] = one_bins[codes[hit]]
                out[:, first : first + width] = block
        return out


def _bin_plan(prep: ColumnTransformer, mapper):
    """Per source column: ("num", column, output index, None) or ("cat", column, first
    output index, (categories, bin of 0.0, bin of 1.0 per category)); None if unsupported."""
    if np.any(mapper.is_categorical_):
        return None
    plan, position = [], 0
    thresholds = mapper.bin_thresholds_
    for name, step, columns in prep.transformers_:
        if name == "remainder" and step == "drop":
            continue
        if _is_passthrough(step):
            for column in columns:
                plan.append(("num", column, position, None))
                position += 1
        elif (
            isinstance(step, OneHotEncoder)
            and step.handle_unknown == "ignore"
            and step.drop is None
            and getattr(step, "infrequent_categories_", None) is None
        ):
            for column, cats in zip(columns, step.categories_, strict=True):
                width = len(cats)
                cols = range(position, position + width)
                zero = np.array([np.searchsorted(thresholds[j], 0.0) for j in cols], np.uint8)
                one = np.array([np.searchsorted(thresholds[j], 1.0) for j in cols], np.uint8)
                index = pd.Index(cats)
                if not index.is_unique:
                    return None
                plan.append(("cat", column, position, (index, zero, one)))
                position += width
        else:
            return None
    if position != len(thresholds):
        return None
    return plan


def _is_passthrough(step) -> bool:
    # a fitted ColumnTransformer holds "passthrough" as an identity FunctionTransformer
    if isinstance(step, str):
        return step == "passthrough"
    return isinstance(step, FunctionTransformer) and step.func is None


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
# (Pairs make the product a little faster but sum in another order, which moves the last bit
# of some probabilities and so the rank order of exact ties: kept at three.)
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


def _leaf_codes(tables: _Tables, binned: np.ndarray, clf) -> np.ndarray:
    """Per row and group of trees, the index of its leaf combination within the group."""
    missing_bin = clf._bin_mapper.missing_values_bin_idx_
    threads = _threads()
    sizes = np.diff(np.append(tables.offset, tables.table.shape[0]))
    dtype = np.uint8 if sizes.max() <= 256 else (np.uint16 if sizes.max() <= 65536 else np.int32)
    codes = np.zeros((binned.shape[0], len(tables.offset)), dtype=dtype)
    for t, predictor in enumerate(tables.predictors):
        rank = predictor.predict_binned(binned, missing_bin, n_threads=threads)
        column = codes[:, tables.group_of[t]]
        column += (rank.astype(dtype) * dtype(tables.stride[t])).astype(dtype)
    return codes


def _saabas(tables: _Tables, codes: np.ndarray) -> Attribution:
    n_rows, n_groups = codes.shape
    columns = codes.astype(np.int32) + tables.offset.astype(np.int32)
    indicator = sp.csr_matrix(
        (
            np.ones(columns.size, dtype=np.float64),
            columns.reshape(-1),
            np.arange(0, columns.size + 1, n_groups, dtype=_index_dtype(columns.size)),
        ),
        shape=(n_rows, tables.table.shape[0]),
    )
    return Attribution(tables.bias, np.asarray(indicator @ tables.table))


def _index_dtype(size: int):
    return np.int64 if size >= 2**31 - 1 else np.int32


def _threads() -> int:
    from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

    return _openmp_effective_n_threads()
