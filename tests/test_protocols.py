"""The prediction protocols a load test speaks: how rows become a request body and how
an answer becomes one positive-class probability per row."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deployready.errors import InputError
from deployready.loadtest.protocols import (
    PROTOCOLS,
    ResponseError,
    column_kinds,
    protocol_for,
)

ROWS = [
    {"age": 41, "income": 5200.5, "city": "Lyon", "member": True},
    {"age": None, "income": float("nan"), "city": None, "member": False},
]


def test_every_protocol_is_named() -> None:
    assert PROTOCOLS == ("deployready", "oip", "mlflow", "bentoml")
    for name in PROTOCOLS:
        assert protocol_for(name, model="m").name == name


def test_unknown_protocol_is_refused_naming_the_choices() -> None:
    with pytest.raises(InputError, match="protocol") as info:
        protocol_for("grpc")
    assert "deployready" in str(info.value) and "oip" in str(info.value)


def test_oip_needs_a_model_name() -> None:
    with pytest.raises(InputError, match="model"):
        protocol_for("oip")


def test_column_kinds_from_every_row() -> None:
    assert column_kinds(ROWS) == {"age": "number", "income": "number", "city": "text",
                                  "member": "bool"}


def test_deployready_body_is_rows_with_null_for_nan() -> None:
    proto = protocol_for("deployready")
    body = json.loads(proto.encode(ROWS, column_kinds(ROWS)))
    assert body == {"rows": [ROWS[0], {"age": None, "income": None, "city": None,
                                       "member": False}]}
    assert proto.predict_path == "/predict"


def test_oip_body_is_one_tensor_per_column_with_the_pandas_codec() -> None:
    proto = protocol_for("oip", model="churn", model_version="3")
    assert proto.predict_path == "/v2/models/churn/versions/3/infer"
    body = json.loads(proto.encode(ROWS, column_kinds(ROWS)))
    assert body["parameters"] == {"content_type": "pd"}
    inputs = {i["name"]: i for i in body["inputs"]}
    assert list(inputs) == ["age", "income", "city", "member"]
    assert inputs["age"] == {"name": "age", "shape": [2], "datatype": "FP64",
                             "data": [41, None]}
    assert inputs["income"]["data"] == [5200.5, None]  # NaN as null: MLServer refuses NaN
    assert inputs["city"] == {"name": "city", "shape": [2], "datatype": "BYTES",
                              "parameters": {"content_type": "str"}, "data": ["Lyon", None]}
    assert inputs["member"]["datatype"] == "BOOL"


def test_mlflow_body_is_a_dataframe_split() -> None:
    proto = protocol_for("mlflow")
    assert proto.predict_path == "/invocations"
    body = json.loads(proto.encode(ROWS, column_kinds(ROWS)))
    assert body == {"dataframe_split": {"columns": ["age", "income", "city", "member"],
                                        "data": [[41, 5200.5, "Lyon", True],
                                                 [None, None, None, False]]}}


def test_bentoml_body_names_the_rows_argument() -> None:
    proto = protocol_for("bentoml")
    assert proto.predict_path == "/predict"
    assert json.loads(proto.encode(ROWS, column_kinds(ROWS))) == json.loads(
        protocol_for("deployready").encode(ROWS, column_kinds(ROWS)))
    assert protocol_for("bentoml", endpoint="score").predict_path == "/score"


@pytest.mark.parametrize("name,answer", [
    ("deployready", {"predictions": [0.25, 0.75], "ids": ["a", "b"]}),
    ("mlflow", {"predictions": [[0.75, 0.25], [0.25, 0.75]]}),
    ("mlflow", {"predictions": [0.25, 0.75]}),
    ("mlflow", {"predictions": [{"0": 0.75, "1": 0.25}, {"0": 0.25, "1": 0.75}]}),
    ("bentoml", [0.25, 0.75]),
    ("bentoml", [[0.75, 0.25], [0.25, 0.75]]),
    ("bentoml", {"predictions": [0.25, 0.75]}),
    ("oip", {"model_name": "m", "outputs": [{"name": "predict_proba", "shape": [2, 2],
                                            "datatype": "FP64",
                                            "data": [0.75, 0.25, 0.25, 0.75]}]}),
    ("oip", {"model_name": "m", "outputs": [{"name": "probability", "shape": [2],
                                            "datatype": "FP64", "data": [0.25, 0.75]}]}),
    ("oip", {"outputs": [{"name": "p", "shape": [2, 1], "datatype": "FP32",
                          "data": [[0.25], [0.75]]}]}),
])
def test_positive_class_probability_of_every_answer(name: str, answer: object) -> None:
    proto = protocol_for(name, model="m")
    got = proto.decode(json.dumps(answer).encode(), 2)
    np.testing.assert_allclose(got, [0.25, 0.75])


@pytest.mark.parametrize("name,answer,problem", [
    ("deployready", {"error": "x"}, "predictions"),
    ("deployready", {"predictions": [0.1]}, "1 predictions for 2 rows"),
    ("mlflow", {"predictions": [[0.2, 0.3, 0.5], [0.2, 0.3, 0.5]]}, "3 columns"),
    ("oip", {"outputs": []}, "no output"),
    ("oip", {"outputs": [{"name": "p", "shape": [2, 2], "datatype": "FP64",
                          "data": [1.0, 2.0, 3.0]}]}, "shape"),
    ("oip", {"outputs": [{"name": "label", "shape": [2], "datatype": "BYTES",
                          "data": ["a", "b"]}]}, "numeric"),
    ("bentoml", "not json", "JSON"),
])
def test_bad_answers_are_response_errors(name: str, answer: object, problem: str) -> None:
    raw = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
    with pytest.raises(ResponseError, match=problem):
        protocol_for(name, model="m").decode(raw, 2)


values = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=False),
                   st.integers(-10**9, 10**9))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.fixed_dictionaries({"a": values, "b": st.one_of(st.none(), st.text())}),
                min_size=1, max_size=8))
def test_every_body_is_strict_json_with_one_value_per_row(rows: list[dict[str, object]]
                                                          ) -> None:
    kinds = column_kinds(rows)

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in a body")

    missing = [r["a"] is None or (isinstance(r["a"], float) and math.isnan(r["a"]))
               for r in rows]
    for name in PROTOCOLS:
        text = protocol_for(name, model="m").encode(rows, kinds).decode()
        body = json.loads(text, parse_constant=refuse)
        if name == "oip":
            for tensor in body["inputs"]:
                assert tensor["shape"] == [len(rows)] == [len(tensor["data"])]
            sent = next(t["data"] for t in body["inputs"] if t["name"] == "a")
        elif name == "mlflow":
            column = body["dataframe_split"]["columns"].index("a")
            sent = [r[column] for r in body["dataframe_split"]["data"]]
        else:
            sent = [r["a"] for r in body["rows"]]
        assert [v is None for v in sent] == missing
