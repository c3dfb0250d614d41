"""The certification history validated a column at a time accepts and refuses exactly what
the per-cell rule does, with the same values and the same first bad row and column."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deployready.certification.history import load_history, validate_raw
from deployready.certification.history_schema import (
    INT_COLUMNS,
    cell_value,
    check_scores,
    parse_time,
)
from deployready.errors import HistoryError

PATH = Path("data/certification/history.csv")


def per_cell(raw: pd.DataFrame, path: Path) -> pd.DataFrame:
    """The history validated one cell at a time, in file order: the rule as it is."""
    columns = [str(c) for c in raw.columns]
    out: dict[str, list[Any]] = {c: [] for c in columns}
    seen: dict[str, int] = {}
    times = []
    for i, record in enumerate(raw.to_dict("records"), start=1):
        for column in columns:
            value = cell_value(column, record[column], path, f"row {i}, column {column}")
            if column == "trained_at":
                times.append(parse_time(value))
            out[column].append(value)
        check_scores({c: out[c][-1] for c in columns}, path, f"row {i}")
        run_id = out["run_id"][-1]
        if run_id in seen:
            raise HistoryError(
                f"duplicate run_id {run_id!r} (also row {seen[run_id]})",
                source=path,
                location=f"row {i}, column run_id",
                expected="unique run ids",
            )
        seen[run_id] = i
    frame = pd.DataFrame(out, index=pd.RangeIndex(1, len(raw) + 1, name="row"))
    for column in INT_COLUMNS:
        if column in frame and frame[column].notna().all():
            frame[column] = frame[column].astype(np.int64)
    order = np.argsort(np.array([t.timestamp() for t in times]), kind="stable")
    return frame.iloc[order]


def _fold(i: int, score: Any = 0.7) -> dict[str, Any]:
    return {
        "fold": i,
        "train_start": "2024-01-01T00:00:00+00:00",
        "train_end": f"2024-01-{10 + 2 * i:02d}T00:00:00+00:00",
        "test_start": f"2024-01-{11 + 2 * i:02d}T00:00:00",
        "test_end": f"2024-01-{12 + 2 * i:02d}T00:00:00+02:00",
        "n_train": 100 * i,
        "n_test": 50,
        "score": score,
    }


def good_row(k: int) -> dict[str, Any]:
    return {
        "run_id": f"run-{k}",
        "trained_at": f"2024-02-{1 + k % 27:02d}T{k % 24:02d}:00:00+00:00",
        "model_version": "",
        "roc_auc": "0.81",
        "log_loss": "0.45",
        "cv_metric": "roc_auc",
        "cv_fold_scores": json.dumps([0.7, 0.72, 0.71]),
        "cv_folds": json.dumps([_fold(1), _fold(2), _fold(3)]),
        "synthetic_ratio": "1.0",
        "noise": "0.0",
        "feature_entropy": json.dumps({"a": 0.5, "b": 1.0}),
        "n_train": "700",
        "n_test": "",
        "notes": "scheduled",
        "extra": "kept",
    }


COLUMNS = list(good_row(0))

ODD_TEXT = [
    "", "  ", " 0.5 ", "1e-3", "1_0", "nan", "NaN", "inf", "-inf", "-0.0", "2", "2.5", "-1",
    "1e400", "0x10", "true", "roc_auc", "ks", "unknown",
    "2024-05-01T12:00:00+02:00", "2024-05-01", " 2024-05-01T12:00:00Z ", "2024-13-01",
    "2024-05-01T12:00:00.123456-05:30", "12:00",
    "[0.5,", "[0.5, 2]", "[0.5, \"0.6\"]", "[NaN]", "[Infinity]", "[true]", "[]", "{}",
    '{"a": 1, "a": 2}', '{"a": 0.5}', '{"a": 1.5}', '{"a": -0.1}', '{"a": "0.5"}',
    '[{"fold": 1}]', "[[0.5]]", "null", "1e999",
    json.dumps([_fold(1), _fold(2)]),
    json.dumps([_fold(1, score=1.5)]),
    json.dumps([_fold(1, score="0.5")]),
    json.dumps([{**_fold(1), "n_train": -1}]),
    json.dumps([{**_fold(1), "n_train": 2.0}]),
    json.dumps([{**_fold(1), "n_test": True}]),
    json.dumps([{**_fold(1), "train_end": 12}]),
    json.dumps([{**_fold(1), "test_start": "  "}]),
    json.dumps([{k: v for k, v in _fold(1).items() if k != "test_end"}]),
    '[{"fold": 1, "fold": 2}]',
]
odd_values = st.one_of(
    st.sampled_from(ODD_TEXT),
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, np.nan, pd.NaT, pd.Timestamp("2024-05-01T12:00:00"),
                     pd.Timestamp("2024-05-01T12:00:00", tz="Europe/Paris"),
                     np.float64(0.5), np.int64(3), [0.5, 0.6], {"a": 0.5},
                     [_fold(1)], ["x"]]),
)


@st.composite
def raw_histories(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(min_value=1, max_value=6))
    rows = [good_row(draw(st.integers(min_value=0, max_value=8))) for _ in range(n)]
    for row in rows:
        for column in draw(st.lists(st.sampled_from(COLUMNS), max_size=3)):
            row[column] = draw(odd_values)
    if draw(st.booleans()):  # a whole column in another form (as Parquet or JSON lines)
        column = draw(st.sampled_from(COLUMNS))
        value = draw(odd_values)
        for row in rows:
            row[column] = value
    return pd.DataFrame(rows, columns=COLUMNS)


def _outcome(fn: Any, raw: pd.DataFrame) -> tuple[str, Any]:
    try:
        return "ok", fn(raw.copy(), PATH)
    except HistoryError as exc:
        return "refused", (str(exc), exc.location)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=raw_histories())
def test_columns_accept_and_refuse_what_the_cell_rule_does(raw: pd.DataFrame) -> None:
    expected = _outcome(per_cell, raw)
    got = _outcome(validate_raw, raw)
    assert got[0] == expected[0], (got, expected)
    if expected[0] == "refused":
        assert got[1] == expected[1]  # the same message, row and column
    else:
        pd.testing.assert_frame_equal(got[1], expected[1])  # values, NaN where NaN, order
        assert list(got[1].index) == list(expected[1].index)


@pytest.mark.parametrize(
    ("row", "column", "value"),
    [(3, "roc_auc", "1.5"), (2, "cv_folds", "[0.5,"), (4, "n_train", "-1"),
     (1, "feature_entropy", '{"a": 1, "a": 1}'), (3, "trained_at", "12")],
)
def test_first_bad_cell_named_when_later_rows_are_bad_too(
    row: int, column: str, value: str
) -> None:
    rows = [good_row(k) for k in range(6)]
    rows[row - 1][column] = value
    rows[5]["noise"] = "-1"  # a later bad row in an earlier column
    rows[row - 1]["cv_metric"] = "roc_auc"
    with pytest.raises(HistoryError) as caught:
        validate_raw(pd.DataFrame(rows, columns=COLUMNS), PATH)
    assert caught.value.location == f"row {row}, column {column}"


def test_jsonl_file_with_native_values(tmp_path: Path) -> None:
    rows = [good_row(k) for k in range(4)]
    for row in rows:
        for column in ("cv_fold_scores", "cv_folds", "feature_entropy"):
            row[column] = json.loads(row[column])
        row["roc_auc"] = 0.8
        row["n_train"] = 700
    rows[2]["n_test"] = None
    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    frame = load_history(path)
    assert list(frame["run_id"]) == ["run-0", "run-1", "run-2", "run-3"]
    assert frame["n_test"].tolist()[2] is None
    rows[3]["feature_entropy"] = {"a": True}
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(HistoryError, match="row 4, column feature_entropy"):
        load_history(path)
