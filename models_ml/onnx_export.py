"""ONNX export of a fitted pipeline, with a parity check against scikit-learn.

One ONNX input per column (float for numbers and flags, string for categories) and no
ZipMap, so the graph is usable by onnxruntime and by BigQuery ML alike.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from models_ml.features import FeatureSchema


def to_onnx(model: Pipeline, schema: FeatureSchema):
    """The ONNX graph of `model` (inputs named like the schema columns)."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    inputs = [
        (c, StringTensorType([None, 1]) if k == "categorical" else FloatTensorType([None, 1]))
        for c, k in zip(schema.columns, schema.kinds, strict=True)
    ]
    with warnings.catch_warnings():  # skl2onnx passes booleans as ints to onnx.helper
        warnings.simplefilter("ignore", DeprecationWarning)
        return convert_sklearn(
            model,
            initial_types=inputs,
            options={id(model[-1]): {"zipmap": False}},
            target_opset={"": 17, "ai.onnx.ml": 3},
        )


def onnx_probabilities(onnx_model, X: pd.DataFrame) -> np.ndarray:
    """Churn probability from the ONNX graph for a prepared input frame."""
    import onnxruntime as ort

    session = ort.InferenceSession(
        onnx_model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    feeds = {}
    for node in session.get_inputs():
        values = X[node.name].to_numpy()
        dtype = object if node.type == "tensor(string)" else np.float32
        feeds[node.name] = values.astype(dtype).reshape(-1, 1)
    outputs = session.run(None, feeds)
    return np.asarray(outputs[1])[:, 1]


def parity_error(model: Pipeline, onnx_model, X: pd.DataFrame) -> float:
    """Max |ONNX - scikit-learn| churn probability on `X`."""
    expected = model.predict_proba(X)[:, 1]
    return float(np.max(np.abs(onnx_probabilities(onnx_model, X) - expected)))
