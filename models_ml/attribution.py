"""Honest per-customer attribution of the calibrated log-odds to each input column.

- Logistic regression: exact additive contributions, coefficient x standardised value (the
  reference is the average training customer, because the features are standardised).
- Gradient boosting: Saabas path attribution. Every node gets the count-weighted mean of
  its leaves; walking a customer's path, each split credits its feature with the change in
  that mean. Per tree the credits sum to (leaf - root mean), so bias + sum of contributions
  equals the model's margin exactly; scoring therefore takes the probability from the
  attribution and checks it against predict_proba on a sample.

Vectorised over all trees at once (the QuickScorer idea): a customer's leaf in a tree is the
leftmost leaf that none of the tree's failed tests rules out. Each input column has a small
table, one row per distinct "code" a value can take for the trees (numbers: which of the
split thresholds used on that column it exceeds, or missing; text: which category), holding
for every tree the bit mask of leaves its tests leave open. ANDing one row of each column's
table gives, for all trees in one pass, every customer's leaf (the lowest bit of each tree's
segment). Leaves of three trees at a time form one code of a precomputed table of Saabas
credits, so the contributions are one sparse (customers x leaf combinations) @ (combinations
x inputs) product. No float one-hot matrix, no binned matrix and no per-tree traversal is
built; the tables depend only on the model and are cached with it (the single-row path pays
them once). Rows go through in chunks of `CHUNK_ROWS`, which caps memory.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

from models_ml.errors import ModelError
from models_ml.features import (
    FeatureSchema,
    Prepared,
    as_frame,
    column_values,
    grouping_matrix,
    output_to_input,
)

# rows per chunk: large enough that per-call overheads vanish, small enough that the chunk's
# working set (codes, leaves, sparse indicator, contributions) is a few tens of MB
CHUNK_ROWS = 65_536
# rows whose leaf masks are ANDed together: the block's masks (rows x trees x 2 bytes) stay
# in the CPU cache while every column's table row is applied
BLOCK_ROWS = 4_096
FEW_ROWS = 16  # rows attributed without the sparse product (see `_Forest.attribute`)


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


def attribute(model: Pipeline, X: Prepared, schema: FeatureSchema) -> Attribution:
    """Per-customer contributions of every input column to the calibrated log-odds."""
    parts = list(attribute_chunks(model, X, schema))
    if not parts:
        return Attribution(_bias(model, schema), np.zeros((0, len(schema.columns))))
    contributions = parts[0][1].contributions if len(parts) == 1 else None
    if contributions is None:
        contributions = np.concatenate([a.contributions for _, a in parts])
    return Attribution(parts[0][1].bias, contributions)


def attribute_chunks(
    model: Pipeline, X: Prepared, schema: FeatureSchema, chunk_rows: int = CHUNK_ROWS
) -> Iterator[tuple[int, Attribution]]:
    """(first row, Attribution of rows [first, first + chunk_rows)) over X, in order; the
    model's tables are built once per model and kept with it."""
    clf = model[-1]
    if isinstance(clf, LogisticRegression):
        prep = model.named_steps["prep"]
        group = grouping_matrix(output_to_input(prep, schema), len(schema.columns))
        bias, weights = float(clf.intercept_[0]), clf.coef_[0]
        frame = as_frame(X)
        for start in range(0, len(X), chunk_rows):
            Xt = np.asarray(
                model[:-1].transform(frame.iloc[start : start + chunk_rows]), np.float64
            )
            yield start, Attribution(bias, (Xt * weights) @ group)
    elif isinstance(clf, HistGradientBoostingClassifier):
        forest = forest_of(model, schema)
        columns = forest.columns_of(X)
        for start in range(0, len(X), chunk_rows):
            stop = min(start + chunk_rows, len(X))
            yield start, forest.attribute(columns, start, stop)
    else:  # pragma: no cover - only our two candidates exist
        raise TypeError(f"no attribution for {type(clf).__name__}")


def classifier_inputs(model: Pipeline, X: Prepared, schema: FeatureSchema) -> np.ndarray:
    """The float matrix the model's classifier sees (what `model[:-1].transform` gives),
    built straight from the prepared frame when the preprocessing is passthrough + one-hot:
    the ColumnTransformer's fixed cost per call is far larger than one row's work."""
    clf = model[-1]
    forest = forest_of(model, schema) if isinstance(clf, HistGradientBoostingClassifier) else None
    plan = forest.binner.plan if forest is not None else None
    if plan is None:
        return np.asarray(model[:-1].transform(as_frame(X)), dtype=np.float64)
    width = len(clf._bin_mapper.bin_thresholds_)
    out = np.zeros((len(X), width), dtype=np.float64)
    for kind, column, first, extra in plan:
        values = column_values(X, column)
        if kind == "num":
            out[:, first] = values
        else:
            codes = category_codes(extra[0], forest.positions[column], values, missing=-1)
            hit = np.flatnonzero(codes >= 0)
            out[hit, first + codes[hit]] = 1.0
    return out


def _bias(model: Pipeline, schema: FeatureSchema) -> float:
    clf = model[-1]
    if isinstance(clf, LogisticRegression):
        return float(clf.intercept_[0])
    return forest_of(model, schema).bias


class _Binner:
    """The uint8 matrix the HGB's own bin mapper would make from the preprocessed inputs.

    Numbers are binned with the mapper's thresholds (bin i holds thresholds[i-1] < x <=
    thresholds[i], NaN goes to the missing bin: `np.searchsorted(..., side="left")` is the
    mapper's binary search). A one-hot column only ever holds 0 or 1, so its bin is one of
    two values, picked from the category code: the float one-hot matrix is never built.
    Any preprocessing other than passthrough + OneHotEncoder(handle_unknown="ignore") falls
    back to transform + the mapper itself (and the forest then codes columns by their bins).
    """

    def __init__(self, prep: ColumnTransformer, clf: HistGradientBoostingClassifier, model):
        self.model = model
        self.mapper = clf._bin_mapper
        self.plan = _bin_plan(prep, self.mapper)

    def __call__(self, X: Prepared) -> np.ndarray:
        mapper = self.mapper
        if self.plan is None:
            Xt = np.asarray(self.model[:-1].transform(as_frame(X)), dtype=np.float64)
            return np.ascontiguousarray(mapper.transform(Xt))
        thresholds = mapper.bin_thresholds_
        missing = mapper.missing_values_bin_idx_
        if len(X) == 0:
            return np.empty((0, len(thresholds)), dtype=np.uint8)
        out = np.empty((len(X), len(thresholds)), dtype=np.uint8)
        for kind, column, first, extra in self.plan:
            values = column_values(X, column)
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


# ---------- Saabas credits of leaf combinations (three trees per combination)

# Trees are grouped so the sparse product has fewer non-zeros: a group of three trees with at
# most 15 leaves each has at most 3,375 leaf combinations, and one non-zero per customer.
# (Pairs make the product a little faster but sum in another order, which moves the last bit
# of some probabilities and so the rank order of exact ties: kept at three.)
TREES_PER_GROUP = 3
MAX_GROUP_ROWS = 4096
# largest table of a lookup (codes of several columns combined): 2,048 rows of a few cache
# lines each stay in the CPU cache, and each combination saves one gather per customer
MAX_LOOKUP_ROWS = 2048


@dataclass(frozen=True)
class _Tree:
    """One tree's Saabas credits per leaf (leaves left to right), root mean, and for each
    split node the bit mask of the leaves of its left subtree."""

    credits: np.ndarray
    root: float
    left_masks: dict[int, int]


def _tree(nodes: np.ndarray, group: np.ndarray) -> _Tree:
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
    in_order, left_masks = _in_order(nodes)
    # the product in node order, then the rows reordered (the same numbers, bit for bit)
    rank = np.cumsum(leaf) - 1
    return _Tree((credit[leaf] @ group)[rank[in_order]], float(mean[0]), left_masks)


def _in_order(nodes: np.ndarray) -> tuple[np.ndarray, dict[int, int]]:
    """(leaf nodes left to right, per split node the bit mask of its left subtree's leaves)."""
    leaves: list[int] = []
    left_masks: dict[int, int] = {}

    def walk(i: int) -> tuple[int, int]:
        if nodes["is_leaf"][i]:
            leaves.append(i)
            return len(leaves) - 1, len(leaves)
        lo, mid = walk(int(nodes["left"][i]))
        _, hi = walk(int(nodes["right"][i]))
        left_masks[i] = (1 << mid) - (1 << lo)
        return lo, hi

    walk(0)
    return np.asarray(leaves, dtype=np.intp), left_masks


@dataclass(frozen=True)
class _Credits:
    """Credit table of every leaf combination of each group of trees. Tree t sits in slot
    `slot[t]` (group x TREES_PER_GROUP + place); a customer's row of group g is
    offset[g] + sum over its slots of (leaf position x stride)."""

    bias: float
    table: np.ndarray  # (all combinations of all groups, inputs)
    slot: np.ndarray  # per tree
    stride: np.ndarray  # (groups, TREES_PER_GROUP) int32, 0 for an empty slot
    offset: np.ndarray  # (groups,) int32


def _credit_tables(bias: float, trees: list[_Tree]) -> _Credits:
    credits = [tree.credits for tree in trees]
    for tree in trees:  # one at a time, in order: the same float sum as the trees' margin
        bias += tree.root
    tables, slot, strides, offset = [], [], [], []
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
        # row of a combination = sum(position_i * prod(sizes before i)): the first tree
        # varies fastest, as the broadcasting below lays the rows out
        joint = members[0]
        for member in members[1:]:
            joint = (member[:, None, :] + joint[None, :, :]).reshape(-1, joint.shape[1])
        sizes = [len(m) for m in members]
        stride = np.zeros(TREES_PER_GROUP, dtype=np.int64)
        stride[: len(members)] = np.cumprod([1] + sizes[:-1])
        slot += [len(offset) * TREES_PER_GROUP + k for k in range(len(members))]
        strides.append(stride)
        offset.append(rows)
        tables.append(joint)
        rows += len(joint)
        t += len(members)
    return _Credits(
        bias,
        np.vstack(tables),
        np.asarray(slot, dtype=np.intp),
        np.asarray(strides, dtype=np.int32),
        np.asarray(offset, dtype=np.int32),
    )


# ---------- leaf masks: which leaves each column's value leaves open, in every tree


@dataclass(frozen=True)
class _Key:
    """How one input column is coded for the trees, and each code's leaf masks.

    kind "num": code = how many of `lookup` (the split thresholds used on the column,
    ascending) the value exceeds, NaN -> len(lookup) + 1; "cat": code = position of the
    category in `lookup` (an Index), unseen -> len(lookup); "bin" (fallback): code = the bin
    of preprocessed column `column` in the mapper's own binned matrix.
    """

    kind: str
    column: str | int
    lookup: object
    masks: np.ndarray  # (codes, words) uint64: per slot, its segment of open leaves
    positions: dict | None = None  # "cat": category -> code

    def codes(self, columns: dict, start: int, stop: int) -> np.ndarray:
        """The code of rows [start, stop) (an index into `masks`)."""
        if self.kind == "bin":
            return columns["binned"][start:stop, self.column].astype(np.intp)
        values = columns[self.column][start:stop]
        if self.kind == "num":
            x = values.astype(np.float64, copy=False)
            code = np.searchsorted(self.lookup, x, side="left")
            code[np.isnan(x)] = len(self.lookup) + 1
            return code
        return category_codes(self.lookup, self.positions, values, missing=len(self.lookup))


@dataclass(frozen=True)
class _Lookup:
    """Several columns' keys as one table: code = ((c1 x n2) + c2) x n3 + c3 ..., and the
    masks of a combined code are the AND of its parts' masks (one gather instead of many)."""

    keys: tuple[_Key, ...]
    masks: np.ndarray  # (product of the keys' codes, words) uint64

    @classmethod
    def combine(cls, keys: list[_Key]) -> list[_Lookup]:
        """Keys packed into lookups of at most MAX_LOOKUP_ROWS rows, smallest first."""
        lookups: list[_Lookup] = []
        members: list[_Key] = []
        masks = None
        for key in sorted(keys, key=lambda k: len(k.masks)):
            if masks is not None and len(masks) * len(key.masks) > MAX_LOOKUP_ROWS:
                lookups.append(cls(tuple(members), masks))
                members, masks = [], None
            members.append(key)
            if masks is None:
                masks = key.masks
            else:
                joint = masks[:, None, :] & key.masks[None, :, :]
                masks = joint.reshape(-1, masks.shape[1])
        if members:
            lookups.append(cls(tuple(members), masks))
        return lookups

    def codes(self, columns: dict, start: int, stop: int) -> np.ndarray:
        """Rows of `masks` for rows [start, stop)."""
        code = self.keys[0].codes(columns, start, stop)
        for key in self.keys[1:]:
            code = code * len(key.masks) + key.codes(columns, start, stop)
        return code


class _Forest:
    """A fitted HGB pipeline's attribution tables (built once per model)."""

    def __init__(self, model: Pipeline, schema: FeatureSchema) -> None:
        clf = model[-1]
        prep = model.named_steps["prep"]
        group = grouping_matrix(output_to_input(prep, schema), len(schema.columns))
        nodes = [predictor.nodes for (predictor,) in clf._predictors]
        bitsets = [predictor.binned_left_cat_bitsets for (predictor,) in clf._predictors]
        trees = [_tree(tree, group) for tree in nodes]
        self.credits = _credit_tables(float(clf._baseline_prediction.ravel()[0]), trees)
        self.bias = self.credits.bias
        self.binner = _Binner(prep, clf, model)
        self.missing_bin = int(clf._bin_mapper.missing_values_bin_idx_)
        # "cat" columns of the plan: category -> position, for lookups of a few rows
        self.positions = {
            column: {value: i for i, value in enumerate(extra[0])}
            for kind, column, _, extra in (self.binner.plan or [])
            if kind == "cat"
        }
        most_leaves = max(len(tree.credits) for tree in trees)
        if most_leaves > 64:  # pragma: no cover - max_leaf_nodes is 15 here
            raise ModelError(
                f"the champion has trees of {most_leaves} leaves; drivers support at most 64",
                "train with CHURN_ML_CANDIDATES__HGB_MAX_LEAF_NODES of 64 or less",
            )
        self.bits = next(b for b in (8, 16, 32, 64) if most_leaves <= b)
        self.segment = np.dtype(f"uint{self.bits}")
        self.slots = len(self.credits.offset) * TREES_PER_GROUP
        per_word = 64 // self.bits
        self.words = -(-self.slots // per_word)
        left_masks = [tree.left_masks for tree in trees]
        keys = self._keys(nodes, bitsets, left_masks)
        self.lookups = _Lookup.combine(keys)
        self.columns = sorted({k.column for k in keys if k.kind != "bin"}, key=str)
        self.lowest = _lowest_bit_table(self.bits) if self.bits <= 16 else None

    def _keys(self, trees, bitsets, left_masks) -> list[_Key]:
        plan = self.binner.plan
        splits: dict[int, list[tuple[int, int]]] = {}  # feature -> (tree, node)
        for t, nodes in enumerate(trees):
            for i in np.flatnonzero(~nodes["is_leaf"].astype(bool)):
                splits.setdefault(int(nodes["feature_idx"][i]), []).append((t, int(i)))
        spec = (trees, bitsets, left_masks)
        keys = []
        if plan is None:  # codes are the bins themselves
            n_bins = self.missing_bin + 1
            bins = np.arange(n_bins)
            for feature, at in splits.items():
                masks = self._masks(n_bins, {feature: (bins, bins == self.missing_bin)}, at, spec)
                keys.append(_Key("bin", feature, None, masks))
            return keys
        thresholds = self.binner.mapper.bin_thresholds_
        for kind, column, first, extra in plan:
            if kind == "num":
                at = splits.get(first, [])
                if not at:
                    continue
                cuts = np.unique([trees[t]["bin_threshold"][i] for t, i in at]).astype(np.int64)
                # codes 0..m-1: at most cuts[c]; m: above every cut; m + 1: missing
                rep = np.concatenate([cuts, [cuts[-1] + 1, self.missing_bin]])
                missing = np.arange(len(rep)) == len(rep) - 1
                masks = self._masks(len(rep), {first: (rep, missing)}, at, spec)
                # a cut at the last bin (every number left, only missing values right) has
                # no threshold of its own: every number is at most +inf
                bounds = np.append(thresholds[first], np.inf)
                keys.append(_Key("num", column, bounds[cuts], masks))
            else:
                categories, zero_bins, one_bins = extra
                width = len(zero_bins)
                at = [s for j in range(first, first + width) for s in splits.get(j, [])]
                if not at:
                    continue
                # code k < width: category k (its column 1, the others 0); width: unseen
                bins = {}
                for j in range(width):
                    rep = np.full(width + 1, zero_bins[j], dtype=np.int64)
                    rep[j] = one_bins[j]
                    bins[first + j] = (rep, np.zeros(width + 1, dtype=bool))
                masks = self._masks(width + 1, bins, at, spec)
                keys.append(_Key("cat", column, categories, masks, self.positions[column]))
        return keys

    def _masks(self, n_codes: int, bins: dict, at: list, spec: tuple) -> np.ndarray:
        """(codes, words) masks: for each code, the leaves every tree's tests on this column
        leave open (a failed test, i.e. going right, closes its left subtree)."""
        trees, bitsets, left_masks = spec
        full = np.iinfo(self.segment).max
        masks = np.full((n_codes, self.words * 64 // self.bits), full, dtype=self.segment)
        for t, i in at:
            node = trees[t][i]
            rep, missing = bins[int(node["feature_idx"])]
            if node["is_categorical"]:
                words = bitsets[t][node["bitset_idx"]]
                left = ((words[rep // 32] >> (rep % 32).astype(np.uint32)) & 1).astype(bool)
            else:
                left = rep <= node["bin_threshold"]
            left = np.where(missing, bool(node["missing_go_to_left"]), left)
            keep = self.segment.type(~left_masks[t][i] & int(full))
            masks[~left, self.credits.slot[t]] &= keep
        return np.ascontiguousarray(masks).view(np.uint64)

    def columns_of(self, X: Prepared) -> dict:
        """The arrays the keys read (the binned matrix for the fallback)."""
        if self.binner.plan is None:
            return {"binned": self.binner(X)}
        return {column: column_values(X, column) for column in self.columns}

    def attribute(self, columns: dict, start: int, stop: int) -> Attribution:
        """Attribution of rows [start, stop) of `columns`."""
        rows = self.rows(columns, start, stop)
        n_rows, n_groups = rows.shape
        if n_rows <= FEW_ROWS:
            # a few rows (an API payload): the same sums in the same order as the product
            # below (bit for bit), without building a sparse matrix, its larger fixed cost
            return Attribution(self.bias, self.credits.table[rows].sum(axis=1))
        indicator = sp.csr_matrix(
            (
                np.ones(rows.size, dtype=np.float64),
                rows.reshape(-1),
                np.arange(0, rows.size + 1, n_groups, dtype=_index_dtype(rows.size)),
            ),
            shape=(n_rows, self.credits.table.shape[0]),
        )
        return Attribution(self.bias, np.asarray(indicator @ self.credits.table))

    def rows(self, columns: dict, start: int, stop: int) -> np.ndarray:
        """(customers, groups) int32: each customer's row of the credit table, per group."""
        n = stop - start
        codes = [lookup.codes(columns, start, stop) for lookup in self.lookups]
        acc = np.empty((n, self.words), dtype=np.uint64)
        gathered = np.empty((min(n, BLOCK_ROWS), self.words), dtype=np.uint64)
        for lo in range(0, n, BLOCK_ROWS):
            hi = min(lo + BLOCK_ROWS, n)
            block, buffer = acc[lo:hi], gathered[: hi - lo]
            block.fill(np.iinfo(np.uint64).max)
            for lookup, code in zip(self.lookups, codes, strict=True):
                np.take(lookup.masks, code[lo:hi], axis=0, out=buffer)
                np.bitwise_and(block, buffer, out=block)
        segments = acc.view(self.segment)[:, : self.slots]
        position = _lowest_bit(segments, self.lowest).reshape(n, -1, TREES_PER_GROUP)
        stride = self.credits.stride
        rows = self.credits.offset + position[:, :, 0] * stride[:, 0]
        for k in range(1, TREES_PER_GROUP):
            rows += position[:, :, k] * stride[:, k]
        return rows


def category_codes(
    categories: pd.Index, positions: dict, values: np.ndarray, missing: int
) -> np.ndarray:
    """Position of each value in `categories` (`positions` maps each to it), `missing`
    where absent. A few values (an API payload) are looked up in the dict: building the
    Index a hash lookup needs costs more than the lookup."""
    if len(values) > SMALL_ROWS:
        codes = categories.get_indexer(values)
        codes[codes < 0] = missing
        return codes
    return np.fromiter((positions.get(v, missing) for v in values), np.intp, len(values))


SMALL_ROWS = 64


def _lowest_bit_table(bits: int) -> np.ndarray:
    """Index of the lowest set bit of every `bits`-bit value (0 for 0, which never occurs)."""
    values = np.arange(1 << bits, dtype=np.int64)
    low = values & -values
    table = np.zeros(1 << bits, dtype=np.uint8)
    table[1:] = np.log2(low[1:]).astype(np.uint8)
    return table


def _lowest_bit(segments: np.ndarray, table: np.ndarray | None) -> np.ndarray:
    if table is not None:
        return np.take(table, segments)
    low = segments & (~segments + segments.dtype.type(1))
    return (np.frexp(low.astype(np.float64))[1] - 1).astype(np.uint8)


def _index_dtype(size: int):
    return np.int64 if size >= 2**31 - 1 else np.int32


# ---------- one forest per fitted model

_FORESTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def forest_of(model: Pipeline, schema: FeatureSchema) -> _Forest:
    """The model's attribution tables, built on first use and rebuilt if the model's trees,
    its calibration or the schema changed since (a cheap fingerprint is checked each call)."""
    fingerprint = _fingerprint(model, schema)
    cached = _FORESTS.get(model)
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    forest = _Forest(model, schema)
    _FORESTS[model] = (fingerprint, forest)
    return forest


def _fingerprint(model: Pipeline, schema: FeatureSchema) -> tuple:
    clf = model[-1]
    values = [predictor.nodes["value"] for (predictor,) in clf._predictors]
    return (
        schema,
        id(clf),
        id(model.named_steps["prep"]),
        clf._baseline_prediction.tobytes(),
        hash(np.concatenate(values).tobytes()) if values else 0,
    )
