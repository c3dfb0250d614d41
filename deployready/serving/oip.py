"""The Open Inference Protocol (V2) of ``deployready serve``, so it can stand in for a
KServe, MLServer or Triton runtime:

- ``GET /v2`` — server metadata ``{"name": "deployready", "version", "extensions": []}``;
- ``GET /v2/health/live``, ``GET /v2/health/ready`` — 200 once the model is loaded;
- ``GET /v2/models/{name}[/versions/{version}]`` — model metadata: ``inputs`` from the
  feature schema (``FP64``/``INT64``/``BOOL``/``BYTES``, shape ``[-1]``), one output
  ``probability`` (``FP64``, shape ``[-1]``), ``versions``;
- ``GET /v2/models/{name}[/versions/{version}]/ready``;
- ``POST /v2/models/{name}[/versions/{version}]/infer`` — one input tensor per feature,
  shape ``[n]`` or ``[n, 1]``, data flat (or one list per row), ``null`` for a missing
  value; MLServer's pandas codec (``"parameters": {"content_type": "pd"}``, a text column
  ``BYTES`` with ``"content_type": "str"``) is what a client sends and what is read. The
  answer is ``{"model_name", "model_version", "id", "outputs": [{"name": "probability",
  "shape": [n], "datatype": "FP64", "data": [...]}]}`` — the positive-class probability
  of each row, the number ``/predict`` answers.

**The model's name is the package version** (``v1.0``), its version the package hash
(the full sha256 or its first 12 digits); another name or version is a 404. The rows go
through the same parse, batch and predict path as ``/predict``, with the same limits
(body size, rows per request, queue), and every refusal is a 4xx with the protocol's
``{"error": "..."}`` naming the input (``input 'age'``, ``input 'age' [3]``) or the key.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from deployready.package.rows import shorten
from deployready.serving.requests import ERROR_FIELD_CHARS, RequestError, parse_json_object

EXPECTED_INFER = ('{"inputs": [{"name": feature, "shape": [n], "datatype": ..., '
                  '"data": [...]}, ...]}')
OUTPUT = "probability"
_TOP_KEYS = {"id", "parameters", "inputs", "outputs"}
_INPUT_KEYS = {"name", "shape", "datatype", "data", "parameters"}
_DATATYPES = {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32",
              "INT64", "FP16", "FP32", "FP64", "BYTES"}
_ROW_FIELD = re.compile(r"rows\[(\d+)\]\.(.*)")
_DTYPES = {"int": "INT64", "float": "FP64", "bool": "BOOL", "string": "BYTES"}


def oip_error(exc: RequestError) -> RequestError:
    """``exc`` in the protocol's form: ``{"error": "<where>: <what> (expected ...)"}``,
    a row's field named as its input and element."""
    body = exc.body
    field = body.get("field")
    if isinstance(field, str):
        match = _ROW_FIELD.fullmatch(field)
        field = f"input '{match[2]}' [{match[1]}]" if match else field
    text = str(body.get("error") or exc.kind)
    if field:
        text = f"{field}: {text}"
    if body.get("expected"):
        text = f"{text} (expected {body['expected']})"
    return RequestError(exc.status, exc.kind, {"error": shorten(text, 3 * ERROR_FIELD_CHARS)})


def _bad(message: str, where: str, expected: str = EXPECTED_INFER) -> RequestError:
    return oip_error(RequestError(422, "validation", {"error": message, "field": where,
                                                       "expected": expected}))


def _rows_of(tensor: Any, i: int, features: set[str]) -> tuple[str, list[Any]]:
    """(name, one value per row) of input ``i``, or a 422 naming it."""
    if type(tensor) is not dict:
        raise _bad("not an object", f"inputs[{i}]")
    name = tensor.get("name")
    if type(name) is not str:
        raise _bad("no name", f"inputs[{i}]", "a feature name")
    where = f"input '{shorten(name, 60)}'"
    if name not in features:
        raise _bad("unknown input", where, "one of " + ", ".join(sorted(features)))
    extra = set(tensor) - _INPUT_KEYS
    if extra:
        raise _bad(f"unknown key {shorten(sorted(extra)[0], 40)!r}", where,
                   "name, shape, datatype, data and parameters")
    shape, data, datatype = tensor.get("shape"), tensor.get("data"), tensor.get("datatype")
    if datatype not in _DATATYPES:
        raise _bad(f"datatype {shorten(str(datatype), 40)!r}", where,
                   "an Open Inference Protocol datatype (FP64, INT64, BOOL, BYTES, ...)")
    if not (type(shape) is list and len(shape) in (1, 2) and all(
            type(d) is int and d >= 0 for d in shape) and (len(shape) == 1 or shape[1] == 1)):
        raise _bad(f"shape {shorten(json.dumps(shape), 60)}", where, "[n] or [n, 1]")
    if type(data) is not list:
        raise _bad("data is not a list", where, f"{shape[0]} values")
    if data and all(type(v) is list for v in data):  # one list per row: [[v], [v], ...]
        if any(len(v) != 1 for v in data):
            raise _bad("a row of data holds more than one value", where, "[[v], [v], ...]")
        data = [v[0] for v in data]
    if len(data) != shape[0]:
        raise _bad(f"{len(data)} values for shape {shape}", where, f"{shape[0]} values")
    return name, [None if isinstance(v, float) and math.isnan(v) else v for v in data]


def parse_infer_request(body: bytes, features: list[str], max_rows: int
                        ) -> tuple[list[dict[str, Any]], str | None]:
    """The rows of an infer body (one object per row, feature → value, in the features'
    order) and its ``id``; a 4xx :class:`RequestError` in OIP form otherwise."""
    try:
        data = parse_json_object(body)
    except RequestError as exc:
        raise oip_error(exc) from None
    extra = set(data) - _TOP_KEYS
    if extra:
        raise _bad("unknown top-level key", f"{shorten(sorted(extra)[0], 40)!r}",
                   "id, parameters, inputs and outputs")
    params = data.get("parameters")
    if params is not None and (type(params) is not dict or params.get(
            "content_type", "pd") not in ("pd", "np")):
        raise _bad("request parameters", "parameters",
                   'absent, or {"content_type": "pd"}: one input per column')
    request_id = data.get("id")
    if request_id is not None and type(request_id) is not str:
        raise _bad("not a string", "id", "a string")
    inputs = data.get("inputs")
    if type(inputs) is not list or not inputs:
        raise _bad("'inputs' must be a non-empty list", "inputs")
    known, columns = set(features), {}
    for i, tensor in enumerate(inputs):
        name, values = _rows_of(tensor, i, known)
        if name in columns:
            raise _bad("input given twice", f"input '{name}'", "each feature once")
        columns[name] = values
    missing = [f for f in features if f not in columns]
    if missing:
        raise _bad("missing input", f"input '{missing[0]}'", "one input per feature: "
                   + ", ".join(features))
    lengths = {name: len(v) for name, v in columns.items()}
    n = lengths[features[0]]
    odd = next((name for name, length in lengths.items() if length != n), None)
    if odd is not None:
        raise _bad(f"{lengths[odd]} rows where input '{features[0]}' has {n}",
                   f"input '{odd}'", "every input of the same length")
    if not 1 <= n <= max_rows:
        raise _bad(f"{n} rows in one request", "inputs", f"1 to {max_rows} rows")
    if b"\\u" in body:  # a lone surrogate is valid JSON but no text: never stored
        _check_text(columns)
    rows = [{f: columns[f][k] for f in features} for k in range(n)]
    return rows, request_id


def _check_text(columns: dict[str, list[Any]]) -> None:
    for name, values in columns.items():
        for k, value in enumerate(values):
            if type(value) is str and not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    raise _bad("text is not valid Unicode (a lone surrogate)",
                               f"input '{name}' [{k}]", "a string of Unicode characters"
                               ) from None


def model_metadata(name: str, version: str, schema: dict[str, Any]) -> dict[str, Any]:
    """``GET /v2/models/{name}``: the feature schema as the protocol's inputs."""
    inputs = [{"name": str(f["name"]), "datatype": _DTYPES.get(str(f.get("dtype")), "BYTES"),
               "shape": [-1]} for f in schema.get("features", []) if isinstance(f, dict)]
    return {"name": name, "versions": [version], "platform": "deployready",
            "inputs": inputs,
            "outputs": [{"name": OUTPUT, "datatype": "FP64", "shape": [-1]}],
            "parameters": {"content_type": "pd"}}


def infer_answer(name: str, version: str, request_id: str | None,
                 predictions: list[float]) -> bytes:
    """The infer answer: the positive-class probability per row."""
    body = {"model_name": name, "model_version": version, "outputs": [
        {"name": OUTPUT, "shape": [len(predictions)], "datatype": "FP64",
         "data": predictions}]}
    if request_id is not None:
        body["id"] = request_id
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()


def resolve_model(path: str, name: str, sha256: str) -> tuple[str, str] | None:
    """None for a path that is no model's; (action, "") for the served model ``name``
    (version ``sha256`` or its first 12 digits, or none); ("", why it is a 404) for
    another model."""
    route = split_model_path(path)
    if route is None:
        return None
    asked, version, action = route
    if asked != name or version not in (None, sha256, sha256[:12]):
        return "", (f"model {shorten(asked, 60)!r}" + (
            f" version {shorten(version, 70)!r}" if version else "")
            + f" is not served here: {name!r} (version {sha256[:12]}) is")
    return action, ""


def split_model_path(path: str) -> tuple[str, str | None, str] | None:
    """``/v2/models/{name}[/versions/{v}][/infer|/ready]`` → (name, version, action
    ``infer``, ``ready`` or ``""``); None for another path."""
    parts = path.split("/")
    if len(parts) < 4 or parts[:3] != ["", "v2", "models"] or not parts[3]:
        return None
    name, rest = parts[3], parts[4:]
    version = None
    if len(rest) >= 2 and rest[0] == "versions":
        version, rest = rest[1], rest[2:]
    if rest in ([], ["infer"], ["ready"]):
        return name, version, rest[0] if rest else ""
    return None
