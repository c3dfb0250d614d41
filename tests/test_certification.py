"""Certification: metric registry, entropy, expansion, CV, history, streak, record_run."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ks_2samp
from sklearn.linear_model import LogisticRegression

from deployready.certification.checks import (
    RunEvaluation,
    append_run,
    certification_checks,
    cv_failures,
    evaluate_run,
    load_history,
    streak,
)
from deployready.certification.history_cache import history_evaluations
from deployready.certification.metrics import (
    METRIC_NAMES,
    compute_metrics,
    expected_calibration_error,
    ks_statistic,
    normalized_entropy,
    synthetic_noise,
    synthetic_ratio,
)
from deployready.certification.training import record_run
from deployready.certification.view import CertificationView
from deployready.checks import Category, Check, Status
from deployready.demo.data import make_dataset
from deployready.errors import HistoryError, InputError, PolicyError
from deployready.policy import CertificationPolicy, CVPolicy, MetricRule, Policy
from deployready.workspace import Workspace

POLICY = Policy()
FAST = settings(max_examples=60, deadline=None)


# --------------------------------------------------------------------------- metrics


def _labels_scores(seed: int = 0, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.random(n)
    y = (rng.random(n) < p).astype(np.int64)
    return y, p


def test_registry_against_direct_formulas() -> None:
    y, p = _labels_scores()
    m = compute_metrics(y, p)
    assert set(m) == set(METRIC_NAMES)
    pos, neg = p[y == 1], p[y == 0]
    auc = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (
        pos.size * neg.size
    )
    assert m["roc_auc"] == pytest.approx(auc, abs=1e-12)
    assert m["brier"] == pytest.approx(np.mean((p - y) ** 2), abs=1e-12)
    assert m["log_loss"] == pytest.approx(
        -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)), abs=1e-12
    )
    hard = (p >= 0.5).astype(int)
    tp, fp, fn = (
        ((hard == 1) & (y == 1)).sum(),
        ((hard == 1) & (y == 0)).sum(),
        ((hard == 0) & (y == 1)).sum(),
    )
    assert m["accuracy"] == pytest.approx(np.mean(hard == y))
    assert m["precision"] == pytest.approx(tp / (tp + fp))
    assert m["recall"] == pytest.approx(tp / (tp + fn))
    assert m["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    order = np.argsort(-p)
    hits = y[order]
    precision_at_k = np.cumsum(hits) / np.arange(1, y.size + 1)
    assert m["average_precision"] == pytest.approx(
        (precision_at_k * hits).sum() / hits.sum(), abs=1e-12
    )
    assert m["ks"] == pytest.approx(ks_2samp(pos, neg).statistic, abs=1e-12)
    ece = 0.0
    for b in range(10):
        in_bin = (np.minimum((p * 10).astype(int), 9)) == b
        if in_bin.any():
            ece += in_bin.mean() * abs(y[in_bin].mean() - p[in_bin].mean())
    assert m["ece"] == pytest.approx(ece, abs=1e-12)


def test_compute_metrics_refuses_one_class_and_bad_scores() -> None:
    with pytest.raises(InputError, match="one class"):
        compute_metrics(np.zeros(10), np.linspace(0, 1, 10))
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        compute_metrics(np.array([0, 1]), np.array([0.2, 1.5]))


@FAST
@given(
    st.lists(st.tuples(st.floats(0, 1), st.booleans()), min_size=1, max_size=200),
)
def test_ece_in_unit_interval(pairs: list[tuple[float, bool]]) -> None:
    p = np.array([a for a, _ in pairs])
    y = np.array([int(b) for _, b in pairs])
    assert 0.0 <= expected_calibration_error(y, p) <= 1.0


@FAST
@given(st.integers(1, 9), st.integers(1, 30))
def test_ece_zero_for_perfect_calibration(tenths: int, scale: int) -> None:
    # every score p = k/10 with exactly a share p of positives: perfectly calibrated
    n = 10 * scale
    p = np.full(n, tenths / 10)
    y = np.zeros(n, dtype=int)
    y[: tenths * scale] = 1
    assert expected_calibration_error(y, p) == pytest.approx(0.0, abs=1e-12)


def test_ece_near_zero_when_labels_follow_scores() -> None:
    y, p = _labels_scores(seed=3, n=200_000)
    assert expected_calibration_error(y, p) < 0.01
    assert expected_calibration_error(y, np.clip(p + 0.2, 0, 1)) > 0.1


@FAST
@given(st.lists(st.floats(0, 1), min_size=2, max_size=100), st.data())
def test_ks_matches_two_sample_ks(scores: list[float], data: st.DataObject) -> None:
    labels = data.draw(st.lists(st.booleans(), min_size=len(scores), max_size=len(scores)))
    y = np.array(labels, dtype=int)
    if y.min() == y.max():
        y[0] = 1 - y[0]
    p = np.array(scores)
    ks = ks_statistic(y, p)
    assert 0.0 <= ks <= 1.0
    assert ks == pytest.approx(ks_2samp(p[y == 1], p[y == 0]).statistic, abs=1e-9)


def test_unknown_policy_metric_is_a_policy_error() -> None:
    policy = Policy(certification=CertificationPolicy(metrics={"gini": MetricRule("higher", 0.5)}))
    with pytest.raises(PolicyError) as info:
        evaluate_run(_row(1), policy)
    assert info.value.location == "certification.metrics.gini"
    assert "roc_auc" in str(info.value)


# --------------------------------------------------------------------------- entropy


def test_entropy_constant_and_uniform() -> None:
    assert normalized_entropy(pd.Series([3.0] * 50)) == 0.0
    assert normalized_entropy(pd.Series([np.nan] * 5)) == 0.0
    assert normalized_entropy(pd.Series(["a"] * 50, dtype="string")) == 0.0
    assert normalized_entropy(pd.Series(np.arange(1000.0)), bins=10) == pytest.approx(1.0)
    assert normalized_entropy(pd.Series(list("abcd") * 25, dtype="string")) == pytest.approx(1.0)
    # NaN is its own bin: 10 uniform bins + an equally full NaN bin → still 1
    values = np.append(np.arange(100.0), [np.nan] * 10)
    assert normalized_entropy(pd.Series(values), bins=10) == pytest.approx(1.0)
    # near-constant flag (99.5 % one value) is far below the default 0.10 floor
    flag = pd.Series([0] * 995 + [1] * 5)
    assert normalized_entropy(flag) < 0.05


@FAST
@given(
    st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(float("nan"))), min_size=1, max_size=200),
    st.integers(2, 20),
)
def test_entropy_numeric_bounds(values: list[float], bins: int) -> None:
    assert 0.0 <= normalized_entropy(pd.Series(values, dtype="float64"), bins) <= 1.0


@FAST
@given(st.lists(st.one_of(st.sampled_from(["x", "y", "z"]), st.none()), min_size=1, max_size=100))
def test_entropy_categorical_bounds(values: list[str | None]) -> None:
    assert 0.0 <= normalized_entropy(pd.Series(values, dtype="string")) <= 1.0


# --------------------------------------------------------------------------- expansion


def _jittered(noise: float, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    real = pd.DataFrame(
        rng.normal(size=(3000, 6)) * [1, 10, 100, 0.1, 5, 2], columns=[f"f{i}" for i in range(6)]
    )
    src = real.sample(600, random_state=seed)
    syn = src + rng.normal(size=src.shape) * noise * real.std(ddof=0).to_numpy()
    return real, syn.reset_index(drop=True)


def test_synthetic_ratio() -> None:
    assert synthetic_ratio(100, 0) == 1.0
    assert synthetic_ratio(100, 50) == 1.5
    with pytest.raises(InputError):
        synthetic_ratio(0, 5)


def test_noise_measures_jitter() -> None:
    real, syn = _jittered(0.01)
    assert synthetic_noise(real, syn) == pytest.approx(0.01, rel=0.15)
    assert synthetic_noise(real, syn.iloc[:0]) == 0.0
    # missing values are imputed with the real median on both sides
    with_nan = syn.copy()
    with_nan.iloc[::7, 0] = np.nan
    assert synthetic_noise(real, with_nan) < 0.02


def test_noise_threshold_in_evaluation() -> None:
    real, syn = _jittered(0.05)
    noise = synthetic_noise(real, syn)
    assert noise == pytest.approx(0.05, rel=0.15)
    checks = {c.name: c for c in evaluate_run(_row(1, noise=noise), POLICY).checks}
    assert checks["noise"].status is Status.FAIL
    assert checks["noise"].threshold == "<= 0.02"
    assert checks["synthetic ratio"].status is Status.PASS
    high = {c.name: c for c in evaluate_run(_row(1, synthetic_ratio=1.6), POLICY).checks}
    assert high["synthetic ratio"].status is Status.FAIL


# --------------------------------------------------------------------------- CV


def _folds(n: int = 5, gap_days: int = 1) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        out.append(
            {
                "train_start": "2024-01-01T00:00:00+00:00",
                "train_end": f"2024-02-{i * 3 + 1:02d}T00:00:00+00:00",
                "test_start": f"2024-02-{i * 3 + 1 + gap_days:02d}T00:00:00+00:00",
                "test_end": f"2024-02-{i * 3 + 3:02d}T00:00:00+00:00",
            }
        )
    return out


def test_cv_passes_on_clean_folds() -> None:
    assert cv_failures([0.85, 0.86, 0.84, 0.87, 0.85], _folds(), CVPolicy()) == []


def test_cv_names_each_failing_condition() -> None:
    folds = _folds()
    folds[1]["test_start"] = folds[1]["train_end"]  # test starts when training ends: leakage
    folds[3]["test_start"] = folds[2]["test_start"]  # overlaps the previous test window
    failures = cv_failures([0.9, 0.7, 0.95, 0.6], folds, CVPolicy())
    text = " | ".join(failures)
    assert "4 folds, fewer than 5" in text
    assert "fold std" in text
    assert "lowest fold roc_auc 0.6000 < 0.75" in text
    assert "4 fold windows recorded for 4" not in text
    assert "5 fold windows recorded for 4 fold scores" in text
    assert "fold 2 leaks" in text
    assert "fold 4 test window does not start after fold 3's ends" in text


def test_cv_check_in_evaluation_mentions_leakage() -> None:
    folds = _folds()
    folds[0]["train_end"] = "2024-02-05T00:00:00+00:00"
    check = next(
        c
        for c in evaluate_run(_row(1, cv_folds=folds), POLICY).checks
        if c.name == "time-series CV"
    )
    assert check.status is Status.FAIL
    assert "fold 1 leaks" in check.message


# --------------------------------------------------------------------------- streak


def _evals(greens: list[bool]) -> list[RunEvaluation]:
    return [RunEvaluation(f"r{i}", f"2024-01-{i + 1:02d}", [], g) for i, g in enumerate(greens)]


@FAST
@given(st.lists(st.booleans(), min_size=1, max_size=40), st.data())
def test_streak_is_trailing_green_run(greens: list[bool], data: st.DataObject) -> None:
    upto = data.draw(st.integers(0, len(greens) - 1))
    expected = 0
    for g in reversed(greens[: upto + 1]):
        if not g:
            break
        expected += 1
    assert streak(_evals(greens), f"r{upto}") == expected
    assert streak(_evals(greens), "unknown") == 0


# --------------------------------------------------------------------------- history files


def _row(i: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "run_id": f"run-{i}",
        "trained_at": f"2024-05-{i:02d}T10:00:00+00:00",
        "model_version": "",
        "roc_auc": 0.88,
        "average_precision": 0.7,
        "brier": 0.11,
        "ece": 0.02,
        "ks": 0.6,
        "cv_metric": "roc_auc",
        "cv_fold_scores": [0.85, 0.86, 0.84, 0.87, 0.85],
        "cv_folds": _folds(),
        "synthetic_ratio": 1.2,
        "noise": 0.01,
        "feature_entropy": {"amount": 0.4, "channel": 0.9},
        "n_train": 800,
        "n_test": 200,
        "n_real": 700,
        "n_synthetic": 100,
        "dataset_sha256": "ab" * 32,
        "notes": "",
    }
    row.update(overrides)
    return row


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    for row in rows:
        append_run(path, row)
    return path


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_history_round_trip(tmp_path: Path, fmt: str) -> None:
    rows = [_row(3), _row(1), _row(2, notes='hello, "world"')]
    path = _write(tmp_path / f"history.{fmt}", rows)
    df = load_history(path)
    assert list(df["run_id"]) == ["run-1", "run-2", "run-3"]  # sorted by trained_at
    assert list(df.index) == [2, 3, 1]  # file row numbers
    assert df.attrs["source"] == str(path)
    got = df.loc[3]
    for key, value in rows[2].items():
        assert got[key] == value, key


def _csv(tmp_path: Path, rows: list[dict[str, Any]] | None = None) -> Path:
    return _write(tmp_path / "history.csv", rows or [_row(1), _row(2), _row(3)])


def _edit(path: Path, old: str, new: str, line: int | None = None) -> None:
    lines = path.read_text().splitlines()
    targets = range(len(lines)) if line is None else [line]
    for i in targets:
        lines[i] = lines[i].replace(old, new)
    path.write_text("\n".join(lines) + "\n")


def test_history_missing_column(tmp_path: Path) -> None:
    path = _csv(tmp_path)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False).drop(columns=["noise"])
    frame.to_csv(path, index=False)
    with pytest.raises(HistoryError, match=r"history\.csv: column noise: missing column noise"):
        load_history(path)


def test_history_missing_policy_metric(tmp_path: Path) -> None:
    path = _csv(tmp_path)
    _edit(path, "roc_auc,", "rocauc,", line=0)
    load_history(path)  # without a policy, other metrics suffice
    with pytest.raises(HistoryError, match=r"history\.csv: column roc_auc"):
        load_history(path, POLICY)
    df = load_history(path)
    with pytest.raises(HistoryError, match=r"history\.csv: column roc_auc"):
        from deployready.certification.checks import evaluate_history

        evaluate_history(df, POLICY)


@pytest.mark.parametrize("bad", ["nan", "inf", "", "high"])
def test_history_bad_metric_names_row_and_column(tmp_path: Path, bad: str) -> None:
    path = _csv(tmp_path)
    _edit(path, ",0.88,", f",{bad},", line=2)  # the second data row
    with pytest.raises(HistoryError) as info:
        load_history(path)
    assert info.value.location == "row 2, column roc_auc"
    assert "history.csv" in str(info.value) and "a finite number" in str(info.value)


def test_history_bad_json(tmp_path: Path) -> None:
    path = _csv(tmp_path)
    _edit(path, "[0.85, 0.86", "[0.85 0.86", line=3)
    with pytest.raises(
        HistoryError, match=r"row 3, column cv_fold_scores: bad value .*malformed JSON"
    ):
        load_history(path)


def test_history_bad_time(tmp_path: Path) -> None:
    path = _csv(tmp_path)
    _edit(path, "2024-05-01T10:00:00+00:00", "May 1st", line=1)
    with pytest.raises(HistoryError, match=r"row 1, column trained_at.*ISO 8601"):
        load_history(path)


def test_history_duplicate_run_id(tmp_path: Path) -> None:
    path = _csv(tmp_path)
    _edit(path, "run-3", "run-1", line=3)
    with pytest.raises(
        HistoryError, match=r"row 3, column run_id: duplicate run_id 'run-1' \(also row 1\)"
    ):
        load_history(path)
    with pytest.raises(HistoryError, match="already recorded"):
        append_run(_csv(tmp_path / "other"), _row(2))


def test_history_empty_and_wrong_format(tmp_path: Path) -> None:
    empty = tmp_path / "history.csv"
    empty.write_text("")
    with pytest.raises(HistoryError, match=r"history\.csv: empty file"):
        load_history(empty)
    header_only = tmp_path / "h2.csv"
    header_only.write_text("run_id,trained_at\n")
    with pytest.raises(HistoryError, match="no retrain runs"):
        load_history(header_only)
    (tmp_path / "history.txt").write_text("x")
    with pytest.raises(HistoryError, match="unknown history format"):
        load_history(tmp_path / "history.txt")
    fake = tmp_path / "history.parquet"
    fake.write_text("run_id,trained_at\nx,y\n")
    with pytest.raises(HistoryError, match=r"history\.parquet: not readable as Parquet"):
        load_history(fake)
    jsonl = tmp_path / "history.jsonl"
    jsonl.write_text(json.dumps(_row(1)) + "\n{not json\n")
    with pytest.raises(HistoryError, match=r"history\.jsonl: line 2: malformed JSON"):
        load_history(jsonl)


def test_append_never_overwrites_a_malformed_history(tmp_path: Path) -> None:
    path = _csv(tmp_path)
    _edit(path, ",0.88,", ",oops,", line=1)
    before = path.read_bytes()
    with pytest.raises(HistoryError, match="row 1, column roc_auc"):
        append_run(path, _row(9))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["history.csv"]  # no temp file left


# --------------------------------------------------------------------------- history values

ALL_METRICS = {"log_loss": 0.4, "accuracy": 0.8, "f1": 0.6, "precision": 0.7, "recall": 0.5}


def _bad_values() -> list[tuple[str, Any]]:
    """Every numeric column just outside its interval, both ways where there is a bound."""
    from deployready.certification.metrics import REGISTRY

    cases: list[tuple[str, Any]] = []
    for name, spec in REGISTRY.items():
        low, high = spec.bounds
        cases.append((name, low - 0.25))
        if np.isfinite(high):
            cases.append((name, 5.0 if name == "roc_auc" else high + 0.25))
    cases += [
        ("synthetic_ratio", 0.5),
        ("synthetic_ratio", -1.2),
        ("noise", -0.5),
        ("noise", -1e-9),
        ("feature_entropy", {"amount": 1.5, "channel": 0.9}),
        ("feature_entropy", {"amount": -0.1, "channel": 0.9}),
        ("cv_fold_scores", [0.85, 1.3, 0.84, 0.87, 0.85]),
        ("cv_fold_scores", [0.85, -0.2, 0.84, 0.87, 0.85]),
        ("cv_folds", [{**f, "score": 7.0} for f in _folds()]),
        ("cv_folds", [{**f, "n_test": -3} for f in _folds()]),
        ("n_real", -1),
        ("n_train", 2.5),
    ]
    return cases


BAD_VALUES = _bad_values()


def _tamper(path: Path, row: int, column: str, value: Any) -> None:
    """Set one cell of a history file directly (append_run would refuse the value)."""
    fmt = path.suffix.lstrip(".")
    if fmt == "jsonl":
        records = [json.loads(line) for line in path.read_text().splitlines()]
        records[row - 1][column] = value
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
        return
    frame = (
        pd.read_csv(path, dtype=str, keep_default_na=False)
        if fmt == "csv"
        else pd.read_parquet(path)
    )
    frame[column] = frame[column].astype(object)
    frame.at[row - 1, column] = json.dumps(value) if isinstance(value, list | dict) else value
    if fmt == "csv":
        frame.to_csv(path, index=False)
    else:
        frame[column] = frame[column].astype(str)
        frame.to_parquet(path, index=False)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
@pytest.mark.parametrize(("column", "value"), BAD_VALUES, ids=lambda v: str(v)[:20])
def test_history_refuses_a_value_outside_its_range(
    tmp_path: Path, fmt: str, column: str, value: Any
) -> None:
    path = _write(tmp_path / f"history.{fmt}", [_row(i, **ALL_METRICS) for i in (1, 2, 3)])
    _tamper(path, 2, column, value)
    with pytest.raises(HistoryError) as info:
        load_history(path)
    assert info.value.source == str(path)
    assert info.value.location == f"row 2, column {column}", str(info.value)
    assert "bad value" in info.value.message


@pytest.mark.parametrize(("column", "value"), BAD_VALUES, ids=lambda v: str(v)[:20])
def test_append_refuses_a_run_outside_a_range(
    tmp_path: Path, column: str, value: Any
) -> None:
    path = _write(tmp_path / "history.csv", [_row(1, **ALL_METRICS)])
    before = path.read_bytes()
    with pytest.raises(HistoryError) as info:
        append_run(path, _row(2, **{**ALL_METRICS, column: value}))
    assert info.value.location == f"new run 'run-2', column {column}"
    assert path.read_bytes() == before


def test_a_negative_noise_no_longer_turns_a_red_run_green(tmp_path: Path) -> None:
    """Noise 0.5 fails max_noise; written as -0.5 it used to pass and extend the streak."""
    ws = Workspace(tmp_path)
    path = _write(ws.certification_dir / "history.csv",
                  [_row(1), _row(2, noise=0.5), _row(3), _row(4)])
    assert certification_checks(ws, "v1.0", None, {"run_id": "run-4"}, POLICY)[5].value == 2
    _tamper(path, 2, "noise", -0.5)
    with pytest.raises(HistoryError, match=r"row 2, column noise: bad value '-0\.5'.*>= 0"):
        certification_checks(ws, "v1.1", None, {"run_id": "run-4"}, POLICY)
    with pytest.raises(HistoryError, match=r"run run-2, column noise.*out of range"):
        evaluate_run(_row(2, noise=-0.5), POLICY)
    with pytest.raises(HistoryError, match=r"column roc_auc.*in \[0, 1\]"):
        evaluate_run(_row(2, roc_auc=5), POLICY)


def _dup_column(path: Path, column: str, value: str) -> None:
    fmt = path.suffix.lstrip(".")
    if fmt == "csv":
        lines = path.read_text().splitlines()
        lines = [lines[0] + f",{column}"] + [line + f",{value}" for line in lines[1:]]
        path.write_text("\n".join(lines) + "\n")
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        table = pa.Table.from_arrays(
            [*table.columns, pa.array([value] * table.num_rows)],
            names=[*table.column_names, column],
        )
        pq.write_table(table, path)
    else:
        lines = path.read_text().splitlines()
        path.write_text("".join(line[:-1] + f', "{column}": {value}}}\n' for line in lines))


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_history_refuses_a_duplicated_column(tmp_path: Path, fmt: str) -> None:
    """A second noise column (0, green) used to be dropped or win silently."""
    path = _write(tmp_path / f"history.{fmt}", [_row(1, noise=0.5), _row(2)])
    _dup_column(path, "noise", "0.0")
    with pytest.raises(HistoryError) as info:
        load_history(path)
    assert "duplicated" in info.value.message and "noise" in info.value.message
    assert info.value.location == ("line 1" if fmt == "jsonl" else "header")


def test_history_refuses_a_duplicated_key_inside_a_json_cell(tmp_path: Path) -> None:
    path = _csv(tmp_path)
    _edit(path, '""amount"": 0.4', '""amount"": 0.01, ""amount"": 0.4', line=1)
    with pytest.raises(HistoryError, match=r"row 1, column feature_entropy.*duplicated key"):
        load_history(path)


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
@pytest.mark.parametrize("value", [1714557600, 1714557600.0, 1714557600123456789, True])
def test_history_refuses_a_number_as_trained_at(tmp_path: Path, fmt: str, value: Any) -> None:
    path = _write(tmp_path / f"history.{fmt}", [_row(1), _row(2)])
    if fmt == "jsonl":
        _tamper(path, 1, "trained_at", value)
    else:
        frame = pd.read_parquet(path)
        frame["trained_at"] = [value, value]
        frame.to_parquet(path, index=False)
    with pytest.raises(HistoryError, match=r"row 1, column trained_at.*not a time.*ISO 8601"):
        load_history(path)


def test_history_refuses_a_number_as_a_fold_bound(tmp_path: Path) -> None:
    path = _csv(tmp_path)
    folds = _folds()
    folds[2]["test_end"] = 1714557600
    _tamper(path, 3, "cv_folds", folds)
    with pytest.raises(HistoryError, match=r"row 3, column cv_folds.*fold 3 test_end.*not a time"):
        load_history(path)


def test_history_reads_naive_trained_at_as_utc_among_offset_times(tmp_path: Path) -> None:
    """Naive and offset times may mix (naive = UTC, documented): the order is by instant."""
    rows = [_row(1, trained_at="2024-05-01T12:00:00+02:00"),  # 10:00 UTC
            _row(2, trained_at="2024-05-01T11:00:00"),  # 11:00 UTC
            _row(3, trained_at="2024-05-01T09:30:00Z")]
    for fmt in ("csv", "jsonl"):
        df = load_history(_write(tmp_path / f"history.{fmt}", rows))
        assert list(df["run_id"]) == ["run-3", "run-1", "run-2"]


def test_record_run_refuses_a_numeric_time_column(tmp_path: Path) -> None:
    """pandas reads an integer as nanoseconds since 1970: the folds would be dated 1970."""
    data = _data(n=400)
    seconds = data["event_time"].astype("int64") // 10**9
    for column in (seconds, seconds.astype(float), data["target"].astype(bool),
                   seconds.astype(object)):
        with pytest.raises(InputError) as info:
            record_run(tmp_path / "h.csv", _model(), data.assign(event_time=column),
                       target="target", time_column="event_time")
        assert "event_time" in (info.value.location or "")
        assert "nanoseconds" in (info.value.expected or "")
    assert not (tmp_path / "h.csv").exists()


def test_record_run_takes_mixed_naive_and_offset_time_text(tmp_path: Path) -> None:
    data = _data(n=400)
    data["event_time"] = data["event_time"].dt.floor("s")
    text = data["event_time"].dt.strftime("%Y-%m-%dT%H:%M:%S").astype(object)
    text.iloc[::2] = text.iloc[::2] + "+00:00"
    text.iloc[1::4] = (data["event_time"].iloc[1::4] + pd.Timedelta(hours=2)).dt.strftime(
        "%Y-%m-%dT%H:%M:%S+02:00")
    run = record_run(tmp_path / "h.csv", _model(), data.assign(event_time=text),
                     target="target", time_column="event_time", n_jobs=1)
    plain = record_run(tmp_path / "g.csv", _model(), data, target="target",
                       time_column="event_time", n_jobs=1)
    assert run.row["cv_folds"] == plain.row["cv_folds"]
    assert run.row["cv_folds"][0]["train_start"].startswith("2024-01-01")


# --------------------------------------------------------------------------- record_run


def _data(n: int = 3000, seed: int = 11, **kwargs: Any) -> pd.DataFrame:
    return make_dataset(n, "2024-01-01", "2024-04-30", seed=seed, **kwargs)


def _model() -> LogisticRegression:
    return LogisticRegression(max_iter=500)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_record_run_round_trip(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"history.{fmt}"
    data = _data(synthetic_share=0.1, synthetic_noise=0.01)
    first = record_run(
        path,
        _model(),
        data,
        target="target",
        time_column="event_time",
        trained_at="2024-05-01T00:00:00+00:00",
        model_version="v1.0",
    )
    second = record_run(
        path,
        _model(),
        data,
        target="target",
        time_column="event_time",
        trained_at="2024-05-02T00:00:00+00:00",
        notes="again",
    )
    assert re.fullmatch(r"run-20240501T000000-[0-9a-f]{6}", first.run_id)
    assert first.run_id != second.run_id
    assert first.history_path == path
    assert [p.name for p in tmp_path.iterdir()] == [f"history.{fmt}"]
    df = load_history(path, POLICY)
    assert list(df["run_id"]) == [first.run_id, second.run_id]
    got = df.loc[1]
    for key, value in first.row.items():
        assert got[key] == value, key
    row = first.row
    assert set(METRIC_NAMES) <= set(row)
    assert row["n_synthetic"] > 0 and row["n_real"] + row["n_synthetic"] == row["n_train"]
    assert row["synthetic_ratio"] == pytest.approx(row["n_train"] / row["n_real"])
    assert 0.005 < row["noise"] < 0.015
    assert len(row["cv_fold_scores"]) == 5 and len(row["cv_folds"]) == 5
    assert cv_failures(row["cv_fold_scores"], row["cv_folds"], CVPolicy(min_fold_score=0.0)) == []
    assert row["n_test"] == len(first.test) and not first.test["is_synthetic"].any()
    assert first.train["event_time"].max() < first.test["event_time"].min()
    assert row["roc_auc"] > 0.8
    assert set(row["feature_entropy"]) == set(first.features)
    assert "is_synthetic" not in first.features and "target" not in first.features
    assert first.evaluation.run_id == first.run_id
    assert len(first.evaluation.checks) == 9
    # deterministic: the same data and time give the same run id and numbers
    again = record_run(
        tmp_path / "other.csv",
        _model(),
        data,
        target="target",
        time_column="event_time",
        trained_at="2024-05-01T00:00:00+00:00",
        model_version="v1.0",
    )
    assert again.row == first.row
    # the fitted pipeline parts are returned and usable
    scores = again.model.predict_proba(again.scaler.transform(again.test[again.features]))[:, 1]
    assert scores.shape == (len(again.test),)


def test_record_run_flags_constant_feature_and_noise(tmp_path: Path) -> None:
    data = _data(constant_feature=True, synthetic_share=0.6, synthetic_noise=0.05)
    result = record_run(
        tmp_path,
        _model(),
        data,
        target="target",
        time_column="event_time",
        trained_at="2024-05-01T00:00:00Z",
    )
    assert result.history_path == tmp_path / "history.csv"
    checks = {c.name: c for c in result.evaluation.checks}
    assert checks["feature entropy"].status is Status.FAIL
    assert "legacy_flag" in checks["feature entropy"].message
    assert checks["synthetic ratio"].status is Status.FAIL
    assert checks["noise"].status is Status.FAIL
    assert not result.evaluation.green


def test_record_run_refuses_unsorted_and_bad_input(tmp_path: Path) -> None:
    data = _data(n=500)
    shuffled = data.iloc[::-1].reset_index(drop=True)
    with pytest.raises(InputError, match=r"row 2, column event_time: rows are not in time order"):
        record_run(
            tmp_path / "h.csv", _model(), shuffled, target="target", time_column="event_time"
        )
    with pytest.raises(InputError, match="column label"):
        record_run(tmp_path / "h.csv", _model(), data, target="label", time_column="event_time")
    bad = data.assign(target=data["target"] * 2)
    with pytest.raises(InputError, match="0/1"):
        record_run(tmp_path / "h.csv", _model(), bad, target="target", time_column="event_time")
    with pytest.raises(InputError, match="unknown history format"):
        record_run(tmp_path / "h.xlsx", _model(), data, target="target", time_column="event_time")
    assert not (tmp_path / "h.csv").exists()


def test_record_run_accepts_a_whole_pipeline(tmp_path: Path) -> None:
    """The pipeline's last step is the model, the steps before it the scaler."""
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    data = _data(n=600)
    text = ["channel", "region", "device"]
    numbers = [c for c in data.columns if c not in (*text, "event_time", "target",
                                                     "is_synthetic")]
    prep = make_column_transformer(
        (make_pipeline(SimpleImputer(), StandardScaler()), numbers),
        (OneHotEncoder(handle_unknown="ignore", sparse_output=False), text),
    )
    pipe = Pipeline([("prep", prep), ("clf", _model())])
    run = record_run(tmp_path / "h.csv", pipe, data, target="target", time_column="event_time",
                     trained_at="2024-05-01T00:00:00Z", n_jobs=1)
    same = record_run(tmp_path / "g.csv", _model(), data, scaler=prep, target="target",
                      time_column="event_time", trained_at="2024-05-01T00:00:00Z", n_jobs=1)
    assert run.row == same.row
    assert type(run.model) is LogisticRegression and type(run.scaler) is type(prep)
    assert run.scaler is not prep  # fitted clones, the objects passed in stay unfitted
    with pytest.raises(InputError, match="a scaler as well"):
        record_run(tmp_path / "h.csv", pipe, data, scaler=prep, target="target",
                   time_column="event_time")


def test_record_run_names_a_scaler_that_cannot_take_text_columns(tmp_path: Path) -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = _data(n=600)
    for model, scaler in ((_model(), StandardScaler()),
                          (make_pipeline(StandardScaler(), _model()), None)):
        with pytest.raises(InputError) as info:
            record_run(tmp_path / "h.csv", model, data, scaler=scaler, target="target",
                       time_column="event_time", n_jobs=1)
        err = info.value
        assert err.location == "scaler" and "StandardScaler cannot be fitted" in err.message
        assert "channel, region, device" in (err.expected or "")
        assert "scaler=None" in (err.expected or "") and "Pipeline" in (err.expected or "")
    from sklearn.compose import make_column_transformer
    from sklearn.preprocessing import OneHotEncoder

    only_channel = make_column_transformer((OneHotEncoder(), ["channel"]),
                                           remainder="passthrough")
    with pytest.raises(InputError) as info:
        record_run(tmp_path / "h.csv", make_pipeline(only_channel, _model()), data,
                   target="target", time_column="event_time", n_jobs=1)
    assert info.value.location == "model" and "scaler's output" in info.value.message
    assert not (tmp_path / "h.csv").exists()


# --------------------------------------------------------------------------- readiness checks


def test_certification_checks_pending_without_history(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    checks = certification_checks(ws, "v1.0", "f" * 64, {"run_id": "run-1"}, POLICY)
    assert [c.name for c in checks] == [
        "roc_auc",
        "average_precision",
        "brier",
        "ece",
        "ks",
        "3 consecutive green retrains",
        "time-series CV",
        "feature entropy",
        "synthetic ratio",
        "noise",
    ]
    assert all(c.status is Status.PENDING and c.category is Category.CERTIFICATION for c in checks)
    assert "No certification history" in checks[0].message
    _write(ws.certification_dir / "history.csv", [_row(1)])
    checks = certification_checks(ws, "v1.0", "f" * 64, {"run_id": "run-9"}, POLICY)
    assert all(c.status is Status.PENDING for c in checks)
    assert (
        "run-9" in checks[0].message
        and "not in data/certification/history.csv" in checks[0].message
    )
    checks = certification_checks(ws, "v1.0", "f" * 64, {}, POLICY)
    assert all(c.status is Status.PENDING for c in checks) and "no run_id" in checks[0].message


def test_certification_checks_from_history(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    rows = [_row(1), _row(2, roc_auc=0.7), _row(3), _row(4), _row(5)]
    _write(ws.certification_dir / "history.jsonl", rows)
    checks = certification_checks(ws, "v1.1", "a" * 64, {"run_id": "run-5"}, POLICY)
    assert [c.status for c in checks] == [Status.PASS] * 10
    streak_check = checks[5]
    assert streak_check.value == 3 and streak_check.threshold == ">= 3"
    assert checks[0].threshold == ">= 0.8" and checks[2].threshold == "<= 0.16"
    ev = checks[0].evidence
    assert ev is not None and ev.source == "data/certification/history.jsonl row 5"
    assert ev.time == "2024-05-05T10:00:00+00:00" and ev.package_sha256 == "a" * 64
    assert ev.detail["metrics"]["roc_auc"] == 0.88
    early = certification_checks(ws, "v1.0", "b" * 64, {"run_id": "run-4"}, POLICY)
    assert early[5].status is Status.FAIL and early[5].value == 2
    red = certification_checks(ws, "v1.0", "b" * 64, {"run_id": "run-2"}, POLICY)
    assert red[0].status is Status.FAIL and red[5].value == 0


def test_certification_checks_metadata_disagreement(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    _write(ws.certification_dir / "history.csv", [_row(1)])
    meta = {"run_id": "run-1", "metrics": {"roc_auc": 0.88 + 1e-12, "brier": 0.2}}
    checks = {c.name: c for c in certification_checks(ws, "v1.0", None, meta, POLICY)}
    assert checks["roc_auc"].status is Status.PASS
    assert checks["brier"].status is Status.FAIL
    assert "package and the history disagree" in checks["brier"].message
    assert "v1.0" in checks["brier"].message and "row 1" in checks["brier"].message


def test_evaluate_run_refuses_non_numeric_row_values() -> None:
    with pytest.raises(HistoryError, match="run run-1, column noise"):
        evaluate_run(_row(1, noise="low"), POLICY, source="history.csv")
    with pytest.raises(HistoryError, match=r"history\.csv: column ks"):
        row = _row(1)
        del row["ks"]
        evaluate_run(row, POLICY, source="history.csv")


def test_history_evaluations_are_remembered_until_the_file_changes(tmp_path: Path) -> None:
    import os

    from deployready.certification.checks import history_evaluations
    from deployready.policy import Policy

    policy = Policy()
    path = _csv(tmp_path)
    first = history_evaluations(path, policy)
    assert history_evaluations(path, policy) is first  # shared, not recomputed
    assert [e.run_id for e in first[1]] == ["run-1", "run-2", "run-3"]
    append_run(path, _row(4, roc_auc=0.1))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    history, evaluations = history_evaluations(path, policy)
    assert len(history) == 4 and evaluations[-1].run_id == "run-4"
    assert not evaluations[-1].green


# --------------------------------------------------------------------------- the page's view
# The certification history as the Certification page shows it: each run's parsed
# evidence next to its checks, and the run the streak is counted up to — decided by the
# engine, laid out by the page.


@pytest.fixture(params=["csv", "parquet", "jsonl"])
def view_history(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    path = tmp_path / f"history.{request.param}"
    for row in (_row(1), _row(2, roc_auc=0.1), _row(3), _row(4), _row(5, noise=0.5)):
        append_run(path, row)
    return path


def test_an_evaluation_carries_the_runs_parsed_evidence(view_history: Path) -> None:
    """JSON columns arrive parsed whatever the file format: the page reads no column."""
    _, evaluations = history_evaluations(view_history, POLICY)
    second = evaluations[1]
    assert second.metrics == {"roc_auc": 0.1, "average_precision": 0.7, "brier": 0.11,
                              "ece": 0.02, "ks": 0.6}
    assert second.cv_metric == "roc_auc"
    assert second.cv_fold_scores == [0.85, 0.86, 0.84, 0.87, 0.85]
    assert [f["test_start"] for f in second.cv_folds] == [f["test_start"] for f in _folds()]
    assert second.feature_entropy == {"amount": 0.4, "channel": 0.9}
    assert (second.synthetic_ratio, second.noise) == (1.2, 0.01)
    assert second.failing == ["roc_auc"]
    roc = second.metric_check("roc_auc")
    assert roc is not None and roc.status is Status.FAIL
    assert roc.category is Category.CERTIFICATION
    assert evaluations[4].failing == ["noise"]


def test_a_metric_check_is_found_by_its_name_not_a_prefix() -> None:
    checks = [Check("ks_weighted", Category.CERTIFICATION, Status.FAIL, 0.1, "", ""),
              Check("ks", Category.CERTIFICATION, Status.PASS, 0.6, "", "")]
    run = RunEvaluation("r", "2024-01-01", checks, False, metrics={"ks": 0.6,
                                                                   "ks_weighted": 0.1})
    assert run.metric_check("ks") is checks[1]
    assert run.metric_check("ks_weighted") is checks[0]
    assert run.metric_check("noise") is None  # a check, not a policy metric


def test_the_view_counts_the_streak_up_to_the_packages_run(view_history: Path) -> None:
    _, evaluations = history_evaluations(view_history, POLICY)
    view = CertificationView(evaluations, package_run="run-4")
    assert view.run_ids == ["run-1", "run-2", "run-3", "run-4", "run-5"]
    assert view.focus == "run-4" and view.streak == 2 and not view.package_run_missing
    assert view.green == [True, False, True, True, False]
    assert view.metric_values("roc_auc") == [0.88, 0.1, 0.88, 0.88, 0.88]
    assert view.metric_passed("roc_auc") == [True, False, True, True, True]
    assert view.recent(2) == slice(2, 4) and view.recent(40) == slice(0, 4)
    assert view.run("run-2") is evaluations[1]

    newest = CertificationView(evaluations)
    assert newest.focus == "run-5" and newest.streak == 0
    gone = CertificationView(evaluations, package_run="run-9")
    assert gone.package_run_missing and gone.focus == "run-5"
    with pytest.raises(ValueError, match="run-9"):
        gone.index("run-9")
    with pytest.raises(ValueError, match="at least one run"):
        CertificationView([])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=30), st.data())
def test_the_views_streak_and_window_agree_with_the_history(
    greens: list[bool], data: st.DataObject
) -> None:
    runs = [RunEvaluation(f"r{i}", f"2024-01-{i + 1:02d}", [], g)
            for i, g in enumerate(greens)]
    pick = data.draw(st.one_of(st.none(), st.integers(0, len(greens) - 1)))
    package_run = None if pick is None else f"r{pick}"
    view = CertificationView(runs, package_run=package_run)
    upto = len(greens) - 1 if pick is None else pick
    assert view.focus == f"r{upto}"
    assert view.streak == streak(runs, f"r{upto}")
    count = data.draw(st.integers(1, 40))
    window = view.run_ids[view.recent(count)]
    assert window[-1] == f"r{upto}" and len(window) == min(count, upto + 1)
