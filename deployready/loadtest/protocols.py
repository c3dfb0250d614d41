"""The prediction protocols a load test speaks: for each, where a batch of rows is sent,
how the rows become a request body and how the answer becomes **one positive-class
probability per row** — the number the package's consistency check compares
(``predict_proba(...)[:, 1]``, see :func:`deployready.package.predict.predict_frame`).

- ``deployready`` — ``POST /predict`` ``{"rows": [{feature: value}, ...]}`` →
  ``{"predictions": [p, ...]}``; ready: ``GET /health``.
- ``oip`` — the Open Inference Protocol V2 (KServe, MLServer, Triton, Seldon):
  ``POST /v2/models/{name}[/versions/{v}]/infer`` with one input tensor per column,
  shape ``[n]``, and MLServer's pandas codec: ``"parameters": {"content_type": "pd"}``
  on the request; a text column is ``BYTES`` with ``"content_type": "str"``, a boolean
  one ``BOOL``, every other one ``FP64``. The answer's first numeric output is read:
  shape ``[n]`` or ``[n, 1]`` is the probability, ``[n, 2]`` its column 1 (the
  ``predict_proba`` of a binary classifier); ready: ``GET /v2/health/ready`` and
  ``GET /v2/models/{name}/ready``.
- ``mlflow`` — MLflow's scoring protocol: ``POST /invocations``
  ``{"dataframe_split": {"columns": [...], "data": [[...], ...]}}`` →
  ``{"predictions": ...}``; ready: ``GET /ping``.
- ``bentoml`` — a BentoML service method taking the rows as its ``rows`` argument:
  ``POST /<endpoint>`` (``/predict`` unless named) ``{"rows": [{feature: value}, ...]}``,
  i.e. ``def predict(self, rows: list[dict[str, Any]]) -> list[float]``; ready:
  ``GET /readyz``.

For ``mlflow`` and ``bentoml`` the predictions (the answer itself, or its
``"predictions"``) may be one number per row, one ``[p0, p1]`` pair per row (column 1 is
read), or one ``{"0": p0, "1": p1}`` record per row (the last key is read); more than
two columns is an error: which one is the positive class is unknown.

A missing value (``None`` or NaN) is sent as JSON ``null`` by every protocol: MLServer's
parser refuses ``NaN``, and so does strict JSON. An answer that does not fit raises
:class:`ResponseError` saying what was wrong; the load generator counts it as a bad
response.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import numpy as np

from deployready.errors import InputError

PROTOCOLS: tuple[str, ...] = ("deployready", "oip", "mlflow", "bentoml")
AUTO = "auto"
#: Column kinds, from the values of a column (see :func:`column_kinds`).
NUMBER, TEXT, BOOL = "number", "text", "bool"
_OIP_TYPES = {NUMBER: "FP64", TEXT: "BYTES", BOOL: "BOOL"}
_NUMERIC = {"FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16",
            "UINT32", "UINT64"}
_encoder = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def _dumps(body: Any) -> bytes:
    return _encoder.encode(body).encode()


class ResponseError(ValueError):
    """An answer that is not one prediction per row of the protocol's shape."""


def _clean(value: Any) -> Any:
    """NaN (and infinities, which no model input has) as ``None``."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def column_kinds(rows: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Each column's kind, from every row's value (columns in first-seen order): ``text``
    when a value is a string, else ``bool`` when every value is a boolean, else
    ``number`` (a column of nulls only is a number column)."""
    seen: dict[str, set[str]] = {}
    for row in rows:
        for key, value in row.items():
            kinds = seen.setdefault(key, set())
            if value is not None:
                kinds.add(TEXT if isinstance(value, str) else BOOL if isinstance(value, bool)
                          else NUMBER)
    return {key: TEXT if TEXT in kinds else BOOL if kinds == {BOOL} else NUMBER
            for key, kinds in seen.items()}


def _as_floats(values: Any, what: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ResponseError(f"{what} are not numbers") from None
    return array


def _positive_class(array: np.ndarray, n_rows: int, what: str) -> np.ndarray:
    """One probability per row from ``[n]``, ``[n, 1]`` or ``[n, 2]`` (column 1)."""
    if array.ndim == 2 and array.shape[1] in (1, 2):
        array = array[:, -1]
    elif array.ndim != 1:
        cols = array.shape[1] if array.ndim == 2 else "nested"
        raise ResponseError(f"{what} have {cols} columns: expected a probability per row, "
                            "or two class probabilities (column 1 is the positive class)")
    if array.shape[0] != n_rows:
        raise ResponseError(f"{array.shape[0]} predictions for {n_rows} rows")
    return np.ascontiguousarray(array)


def _predictions_array(predictions: Any, n_rows: int) -> np.ndarray:
    """Numbers, ``[p0, p1]`` pairs or ``{"0": p0, "1": p1}`` records, one per row."""
    if not isinstance(predictions, list):
        raise ResponseError("the predictions are not a list")
    if predictions and all(isinstance(p, dict) for p in predictions):
        widths = {len(p) for p in predictions}
        if widths != {2} and widths != {1}:
            raise ResponseError(f"the predictions have {max(widths)} columns: expected a "
                                "probability or two class probabilities per row")
        predictions = [list(p.values())[-1] for p in predictions]
    return _positive_class(_as_floats(predictions, "the predictions"), n_rows,
                           "the predictions")


def _load(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ResponseError("the answer is not JSON") from None


@dataclass(frozen=True)
class Protocol:
    """How one server family is asked for predictions (see the module's documentation)."""

    name: str
    predict_path: str
    ready_paths: tuple[str, ...]

    def encode(self, rows: Sequence[Mapping[str, Any]], kinds: Mapping[str, str]) -> bytes:
        """The request body for ``rows`` (``kinds``: :func:`column_kinds` of the rows the
        run sends, so every body types a column the same way)."""
        return _dumps({"rows": [{k: _clean(v) for k, v in row.items()} for row in rows]})

    def decode(self, raw: bytes, n_rows: int) -> np.ndarray:
        """The positive-class probability of each of ``n_rows`` rows, or ResponseError."""
        data = _load(raw)
        if isinstance(data, dict) and "predictions" in data:
            data = data["predictions"]
        elif self.name == "deployready" or not isinstance(data, list):
            raise ResponseError("the answer has no 'predictions'")
        return _predictions_array(data, n_rows)


@dataclass(frozen=True)
class MLflowProtocol(Protocol):
    def encode(self, rows: Sequence[Mapping[str, Any]], kinds: Mapping[str, str]) -> bytes:
        columns = list(kinds)
        return _dumps({"dataframe_split": {
            "columns": columns,
            "data": [[_clean(row.get(c)) for c in columns] for row in rows]}})


@dataclass(frozen=True)
class OpenInferenceProtocol(Protocol):
    model: str = ""

    def encode(self, rows: Sequence[Mapping[str, Any]], kinds: Mapping[str, str]) -> bytes:
        n = len(rows)
        inputs = []
        for column, kind in kinds.items():
            tensor: dict[str, Any] = {"name": column, "shape": [n],
                                      "datatype": _OIP_TYPES[kind]}
            if kind == TEXT:
                tensor["parameters"] = {"content_type": "str"}
            tensor["data"] = [_clean(row.get(column)) for row in rows]
            inputs.append(tensor)
        return _dumps({"parameters": {"content_type": "pd"}, "inputs": inputs})

    def decode(self, raw: bytes, n_rows: int) -> np.ndarray:
        data = _load(raw)
        outputs = data.get("outputs") if isinstance(data, dict) else None
        if not isinstance(outputs, list) or not outputs:
            raise ResponseError("the answer has no output tensor")
        numeric = [o for o in outputs if isinstance(o, dict)
                   and str(o.get("datatype", "")).upper() in _NUMERIC]
        if not numeric:
            raise ResponseError("the answer has no numeric output tensor")
        out = numeric[0]
        shape, name = out.get("shape"), out.get("name", "?")
        values = _as_floats(out.get("data"), f"output {name!r}").ravel()
        if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)
                and 1 <= len(shape) <= 2 and math.prod(shape) == values.size):
            raise ResponseError(f"output {name!r}: shape {shape} does not fit its "
                                f"{values.size} values")
        return _positive_class(values.reshape(shape), n_rows, f"output {name!r}")


def _model_path(model: str, version: str | None) -> str:
    path = f"/v2/models/{quote(model, safe='')}"
    return path + (f"/versions/{quote(version, safe='')}" if version else "")


def protocol_for(name: str, *, model: str | None = None, model_version: str | None = None,
                 endpoint: str | None = None) -> Protocol:
    """The protocol called ``name`` (one of :data:`PROTOCOLS`). ``model`` (and
    ``model_version``): the Open Inference Protocol's model; ``endpoint``: the BentoML
    method's route (``predict``)."""
    if name == "deployready":
        return Protocol(name, "/predict", ("/health",))
    if name == "oip":
        if not model:
            raise InputError("the Open Inference Protocol needs the model's name",
                             location="model", expected="the name in /v2/models/{name}/infer")
        path = _model_path(model, model_version)
        return OpenInferenceProtocol(name, path + "/infer", ("/v2/health/ready",
                                                             path + "/ready"), model=model)
    if name == "mlflow":
        return MLflowProtocol(name, "/invocations", ("/ping",))
    if name == "bentoml":
        return Protocol(name, "/" + (endpoint or "predict").strip("/"), ("/readyz",))
    raise InputError(f"unknown protocol {name!r}", location="protocol",
                     expected=" or ".join(repr(p) for p in (*PROTOCOLS, AUTO)))
