"""Property-based fuzzing of every loader: the only allowed outcomes are a successful
parse or a :class:`~deployready.errors.DeployReadyError` — never a KeyError, ValueError,
TypeError, IndexError, UnicodeDecodeError or a library's own exception leaking out.

Inputs: random bytes, CSV-ish text built from the real headers and hostile cell values,
and random JSON, for the certification history, the policy, the package JSON files
(schema, metadata, manifest, reference profile), production-log CSVs and prediction
request rows.
"""

from __future__ import annotations

import contextlib
import functools
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deployready.errors import DeployReadyError

FUZZ = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Cells that break parsers: numbers at the edges, text, JSON fragments, control bytes.
HOSTILE_CELLS = st.sampled_from([
    "", " ", "nan", "NaN", "inf", "-inf", "1e400", "-1", "0", "1", "0.5", "1e12", "abc",
    "true", "null", "[]", "{}", "[1,", '{"a": 1}', "[0.8, 0.9]", '"', '""', "\\", ",",
    "2026-03-10T00:00:00Z", "2026-13-45", "9999-12-31T23:59:59Z", "v1.0", "\u00e9", "\t",
    "1" + "0" * 400,
]) | st.text(max_size=12)

JSON_LEAVES = (
    st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=10)
)
JSON = st.recursive(
    JSON_LEAVES,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def _dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=True)


def allowed(call: Callable[[], Any]) -> None:
    with contextlib.suppress(DeployReadyError):
        call()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


# --------------------------------------------------------------------------- history


def _history_header(master: Path) -> list[str]:
    text = (master / "data/certification/history.csv").read_text(encoding="utf-8")
    return text.splitlines()[0].split(",")


def _csv_line(cells: list[str]) -> str:
    return ",".join('"' + c.replace('"', '""') + '"' if ("," in c or '"' in c) else c
                    for c in cells)


@FUZZ
@given(data=st.binary(max_size=600), fmt=st.sampled_from(["csv", "jsonl", "parquet"]))
def test_history_random_bytes(scratch: Path, data: bytes, fmt: str) -> None:
    from deployready.certification.history import load_history

    path = scratch / f"history.{fmt}"
    path.write_bytes(data)
    allowed(lambda: load_history(path))


@FUZZ
@given(data=st.data())
def test_history_csvish(hostile_master: Path, scratch: Path, data: st.DataObject) -> None:
    from deployready.certification.history import load_history

    header = _history_header(hostile_master)
    good = (hostile_master / "data/certification/history.csv").read_text().splitlines()[1]
    rows = data.draw(st.lists(st.lists(HOSTILE_CELLS, min_size=len(header),
                                       max_size=len(header)), max_size=3))
    keep = data.draw(st.booleans())
    path = scratch / "history.csv"
    lines = [",".join(header), *([good] if keep else []), *(_csv_line(r) for r in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    allowed(lambda: load_history(path))


@FUZZ
@given(data=st.data())
def test_history_jsonl(hostile_master: Path, scratch: Path, data: st.DataObject) -> None:
    from deployready.certification.history import load_history
    from tests.hostile.cases import history_records

    record = history_records(hostile_master)[0]
    keys = data.draw(st.lists(st.sampled_from(sorted(record)), max_size=4, unique=True))
    broken = {**record, **{k: data.draw(JSON) for k in keys}}
    extra = data.draw(st.lists(JSON, max_size=2))
    path = scratch / "history.jsonl"
    path.write_text("\n".join([_dumps(broken), *map(_dumps, extra)]) + "\n", encoding="utf-8")
    allowed(lambda: load_history(path))


@FUZZ
@given(data=st.data())
def test_history_append_random_run(
    hostile_master: Path, tmp_path: Path, data: st.DataObject
) -> None:
    """A rejected run leaves the history byte-for-byte as it was."""
    from deployready.certification.history import append_run
    from tests.hostile.cases import history_records

    path = tmp_path / "history.csv"
    shutil.copy(hostile_master / "data/certification/history.csv", path)
    before = path.read_bytes()
    record = history_records(hostile_master)[0]
    keys = data.draw(st.lists(st.sampled_from(sorted(record)), max_size=3, unique=True))
    row = {**record, "run_id": "fuzz-run", **{k: data.draw(JSON) for k in keys}}
    try:
        append_run(path, row)
    except DeployReadyError:
        assert path.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


# --------------------------------------------------------------------------- policy

POLICY_KEYS = {
    "": ["colour"],
    "drift": ["bins", "psi_warn", "psi_alert", "epsilon", "binz"],
    "latency": ["p99_ms", "window", "baseline", "baseline_start", "baseline_end"],
    "load_test": ["concurrency", "requests", "p50_ms"],
    "rollout": ["stages", "bake_days"],
    "certification": ["consecutive_green"],
    "certification.metrics.roc_auc": ["direction", "threshold"],
    "score.weights": ["certification", "latency"],
}
TOML_VALUES = st.sampled_from([
    "1", "-1", "0", "0.5", "1e400", "inf", "nan", '"1h"', '"7min"', '"window"', '"soon"',
    '"2026-01-01"', "true", "[5, 25, 100]", "[100, 5]", "[]", '"higher"', '"up"', "{}",
    "99999999999999999999999", '"\u00e9"',
])


@FUZZ
@given(data=st.data())
def test_policy_tomlish(scratch: Path, data: st.DataObject) -> None:
    from deployready.policy import load_policy

    lines: list[str] = []
    for table in data.draw(st.lists(st.sampled_from(sorted(POLICY_KEYS)), max_size=3,
                                    unique=True)):
        if table:
            lines.append(f"[{table}]")
        for key in data.draw(st.lists(st.sampled_from(POLICY_KEYS[table]), max_size=3,
                                      unique=True)):
            lines.append(f"{key} = {data.draw(TOML_VALUES)}")
    path = scratch / "deployready.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    allowed(lambda: load_policy(path))


@FUZZ
@given(data=st.binary(max_size=300))
def test_policy_random_bytes(scratch: Path, data: bytes) -> None:
    from deployready.policy import load_policy

    path = scratch / "deployready.toml"
    path.write_bytes(data)
    allowed(lambda: load_policy(path))


@FUZZ
@given(raw=st.dictionaries(st.sampled_from(["drift", "latency", "rollout", "alerts", "x"]),
                           JSON, max_size=3))
def test_policy_random_structure(raw: dict[str, Any]) -> None:
    from deployready.policy import parse_policy

    allowed(lambda: parse_policy(raw))


# --------------------------------------------------------------------------- package JSON


@pytest.fixture(scope="module")
def fuzz_package(hostile_master: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("fuzz-pkg") / "v1.0"
    shutil.copytree(hostile_master / "models" / "v1.0", target)
    return target


@pytest.fixture
def restore(fuzz_package: Path) -> Iterator[Callable[[], Path]]:
    """Call it at the start of every example: the package as exported, again."""
    saved = {p.name: p.read_bytes() for p in fuzz_package.iterdir()}

    def reset() -> Path:
        for name, data in saved.items():
            (fuzz_package / name).write_bytes(data)
        return fuzz_package

    yield reset
    reset()


def _mutated_json(data: st.DataObject, original: Any) -> Any:
    if data.draw(st.booleans()) and isinstance(original, dict) and original:
        keys = data.draw(st.lists(st.sampled_from(sorted(original)), min_size=1, max_size=3,
                                  unique=True))
        return {**original, **{k: data.draw(JSON) for k in keys}}
    return data.draw(JSON)


@FUZZ
@given(data=st.data(), name=st.sampled_from([
    "feature_schema.json", "model_metadata.json", "reference_profile.json",
    "holdout_expected.json", "explainability_report.json",
]))
def test_package_json(restore: Callable[[], Path], data: st.DataObject, name: str) -> None:
    from deployready.package.load import load_package
    from deployready.package.manifest import build_manifest, read_json_file, write_file
    from deployready.package.validate import validate_package

    folder = restore()
    original = json.loads((folder / name).read_text(encoding="utf-8"))
    (folder / name).write_text(_dumps(_mutated_json(data, original)), encoding="utf-8")
    if data.draw(st.booleans()):  # a consistent manifest: only the structure checks remain
        write_file(folder / "MANIFEST.json", build_manifest(folder, "v1.0", "2026-03-02"))
    report = validate_package(folder, deep=False)
    assert report.unpickled is False
    allowed(lambda: read_json_file(folder, name))
    if not report.valid:
        with pytest.raises(DeployReadyError):
            load_package(folder)


@FUZZ
@given(data=st.data())
def test_manifest(restore: Callable[[], Path], data: st.DataObject) -> None:
    from deployready.package.manifest import parse_manifest
    from deployready.package.validate import validate_package

    folder = restore()
    original = json.loads((folder / "MANIFEST.json").read_text(encoding="utf-8"))
    if data.draw(st.booleans()):
        files = dict(original["files"])
        name = data.draw(st.sampled_from(sorted(files)) | st.sampled_from(
            ["../x", "/etc/passwd", "", ".", "a/b", "MANIFEST.json"]))
        files[name] = data.draw(JSON)
        value: Any = {**original, "files": files}
    else:
        value = _mutated_json(data, original)
    raw = _dumps(value).encode("utf-8")
    allowed(lambda: parse_manifest(raw, folder / "MANIFEST.json"))
    (folder / "MANIFEST.json").write_bytes(raw)
    assert validate_package(folder, deep=True).valid is False or value == original


@FUZZ
@given(data=st.binary(max_size=400))
def test_manifest_random_bytes(restore: Callable[[], Path], data: bytes) -> None:
    from deployready.package.validate import validate_package

    folder = restore()
    (folder / "MANIFEST.json").write_bytes(data)
    assert validate_package(folder, deep=True).valid is False


@FUZZ
@given(data=st.data())
def test_reference_profile(data: st.DataObject, hostile_master: Path) -> None:
    from deployready.package.profile import check_profile

    original = json.loads(
        (hostile_master / "models/v1.0/reference_profile.json").read_text(encoding="utf-8"))
    value = _mutated_json(data, original)
    if data.draw(st.booleans()) and isinstance(value, dict):
        feats = dict(original["features"])
        feats["amount"] = _mutated_json(data, feats["amount"])
        value = {**original, "features": feats}
    allowed(lambda: check_profile(value, "reference_profile.json"))


# --------------------------------------------------------------------------- logs


def _log_header(master: Path) -> list[str]:
    path = master / "data/production/predictions-2026-03-10.csv"
    return path.read_text(encoding="utf-8").splitlines()[0].split(",")


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
@FUZZ
@given(data=st.data())
def test_logs_csvish(
    hostile_master: Path, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject,
    engine: str,
) -> None:
    from deployready.monitoring.logs import ProductionLogs

    header = _log_header(hostile_master)
    folder = tmp_path_factory.mktemp("logs")
    cols = data.draw(st.lists(st.sampled_from(header), min_size=1, max_size=len(header),
                              unique=True)) if data.draw(st.booleans()) else header
    rows = data.draw(st.lists(st.lists(HOSTILE_CELLS, min_size=len(cols), max_size=len(cols)),
                              max_size=4))
    text = "\n".join([",".join(cols), *(_csv_line(r) for r in rows)]) + "\n"
    (folder / "predictions-2026-03-10.csv").write_text(text, encoding="utf-8")
    features = {c: ("categorical" if c in ("channel", "region", "device") else "numeric")
                for c in header[5:]}
    logs = ProductionLogs(folder, features, engine)  # type: ignore[arg-type]
    try:
        allowed(lambda: _exercise(logs))
    finally:
        logs.close()


def _exercise(logs: Any) -> None:
    logs.validate()
    logs.versions()
    logs.latency_summary("v1.0")
    logs.day_counts()


@FUZZ
@given(data=st.binary(max_size=500), engine=st.sampled_from(["pandas", "duckdb"]),
       suffix=st.sampled_from([".csv", ".parquet"]))
def test_logs_random_bytes(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, engine: str, suffix: str
) -> None:
    from deployready.monitoring.logs import ProductionLogs

    folder = tmp_path_factory.mktemp("logs")
    (folder / f"predictions-2026-03-10{suffix}").write_bytes(data)
    logs = ProductionLogs(folder, None, engine)  # type: ignore[arg-type]
    try:
        allowed(lambda: _exercise(logs))
    finally:
        logs.close()


# --------------------------------------------------------------------------- requests


@FUZZ
@given(data=st.data())
def test_request_rows(hostile_master: Path, data: st.DataObject) -> None:
    from deployready.package.rows import rows_to_frame

    schema = json.loads(
        (hostile_master / "models/v1.0/feature_schema.json").read_text(encoding="utf-8"))
    names = [f["name"] for f in schema["features"]]
    good = {n: (1.0 if f["kind"] == "numeric" else "web")
            for n, f in zip(names, schema["features"], strict=True)}
    rows: Any
    if data.draw(st.booleans()):
        rows = [{**good, **data.draw(st.dictionaries(st.sampled_from([*names, "x"]), JSON,
                                                     max_size=3))}
                for _ in range(data.draw(st.integers(0, 3)))]
    else:
        rows = data.draw(JSON)
    allowed(lambda: rows_to_frame(schema, rows))


INT_SCHEMA = {
    "format": 1,
    "features": [
        {"name": "count", "kind": "numeric", "dtype": "int", "nullable": False},
        {"name": "flag", "kind": "categorical", "dtype": "bool", "nullable": True},
    ],
    "target": "target",
    "prediction": {"kind": "probability", "positive_class": 1},
}


@FUZZ
@given(count=JSON | st.integers(min_value=-(10**40), max_value=10**40), flag=JSON)
def test_request_rows_int_schema(count: Any, flag: Any) -> None:
    """Integer features: out-of-int64 values are a named InputError, never an OverflowError."""
    from deployready.package.rows import rows_to_frame

    allowed(lambda: rows_to_frame(INT_SCHEMA, [{"count": count, "flag": flag}]))


# --------------------------------------------------------------------------- /predict bodies

#: JSON tokens json.dumps never writes, nesting, text that is not UTF-8 or not Unicode.
RAW_TOKENS: list[bytes] = [
    b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400", b"1e-400", b"-0", b"1.5e308",
    b"9" * 5000, b"1" + b"0" * 400, b'"\\ud800"', b'"\\udc00\\ud800"', b'"\\ud83d\\ude00"',
    b'"\xff"', b'"\xed\xa0\x80"', b'"12:30"', b'"\\u0000"', b'"a\\"b"', b"[]", b"{}",
    b'{"a": 1, "a": 2}', b"true", b"null", b'""', b'"' + b"x" * 5000 + b'"',
]
HOSTILE_KEYS = st.sampled_from(["x", "", "rows", ":", "a:b", "\u00e9", "k" * 5000]) | st.text(
    max_size=8)
PLACEHOLDER = "@@{}@@"


@st.composite
def predict_bodies(draw: st.DrawFn, good: dict[str, Any]) -> bytes:
    """A /predict body: random bytes or JSON, or the good row broken in one or more ways
    — hostile values and keys, raw tokens, deep nesting, repeated keys, a truncated or
    re-encoded body."""
    shape = draw(st.sampled_from(["rows", "rows", "rows", "json", "bytes"]))
    if shape == "bytes":
        return draw(st.binary(max_size=300))
    if shape == "json":
        return _dumps(draw(JSON)).encode("utf-8")
    names = sorted(good)
    raws: list[bytes] = []

    def value() -> Any:
        if draw(st.booleans()):
            return draw(JSON)
        token = draw(st.sampled_from(RAW_TOKENS))
        depth = draw(st.sampled_from([0, 0, 1, 50, 900, 3000, 50_000]))
        bracket = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
        raws.append(bracket[0] * depth + token + bracket[1] * depth)
        return PLACEHOLDER.format(len(raws) - 1)

    rows = []
    for _ in range(draw(st.integers(0, 3))):
        row = {k: v for k, v in good.items() if draw(st.integers(0, 9))}  # drop ~1 in 10
        for key in draw(st.lists(st.sampled_from(names) | HOSTILE_KEYS, max_size=3)):
            row[key] = value()
        rows.append(row)
    top: dict[str, Any] = {"rows": rows if draw(st.integers(0, 5)) else value()}
    for key in draw(st.lists(HOSTILE_KEYS, max_size=1)):
        top[key] = value()
    body = json.dumps(top).encode("utf-8")
    for i, raw in enumerate(raws):
        body = body.replace(f'"{PLACEHOLDER.format(i)}"'.encode(), raw)
    if draw(st.integers(0, 4)) == 0:  # a repeated key, in the body or in a row
        key = draw(st.sampled_from(["rows", *names]))
        at = draw(st.sampled_from([b'{"', b'[{"']))
        body = body.replace(at, at + json.dumps(key).encode()[1:] + b': 1, "', 1)
    edit = draw(st.sampled_from(["none", "none", "none", "truncate", "utf-16", "bom"]))
    if edit == "truncate":
        body = body[: draw(st.integers(0, max(0, len(body) - 1)))]
    elif edit == "utf-16":
        body = body.decode("utf-8", "replace").encode("utf-16")
    elif edit == "bom":
        body = b"\xef\xbb\xbf" + body
    return body


def assert_4xx(exc: Any) -> None:
    """A refusal as the server sends it: 4xx, small, naming a field and what was expected."""
    from deployready.serving.requests import RequestError

    assert isinstance(exc, RequestError), exc
    assert 400 <= exc.status < 500, exc.body
    payload = exc.body_bytes()
    assert len(payload) < 1024, payload[:300]
    answer = json.loads(payload)
    assert answer["error"] and answer["field"] and answer["expected"], answer


@pytest.fixture(scope="module")
def serving_package(hostile_master: Path) -> Any:
    from deployready.package.load import load_package

    return load_package(hostile_master / "models" / "v1.0")


@settings(FUZZ, max_examples=150)
@given(data=st.data())
def test_predict_body_parser(serving_package: Any, data: st.DataObject) -> None:
    """Parsing then checking a /predict body: rows for the model, or a 4xx — never another
    exception (the server would answer it 500)."""
    from deployready.errors import InputError
    from deployready.serving.requests import RequestError, parse_predict_body, request_error

    good = serving_package.request_rows(1)[0]
    body = data.draw(predict_bodies(good))
    try:
        rows = parse_predict_body(body, max_rows=1000)
    except RequestError as exc:
        assert_4xx(exc)
        return
    try:
        frame = serving_package.validate_rows(rows)
    except InputError as exc:
        assert_4xx(request_error(exc))
        return
    assert len(frame) == len(rows)
    assert all(isinstance(v, str) and len(v) <= 1000
               for name in ("channel", "region", "device") for v in frame[name].dropna())


@FUZZ
@given(value=st.binary(max_size=80) | st.sampled_from([
    b"application/json", b"APPLICATION/JSON ; charset=utf-8", b"application/x+json",
    b"text/plain", b"", b";", b"application/", b"application/jsonx", b"x" * 5000]))
def test_predict_content_type(value: bytes) -> None:
    from deployready.serving.requests import RequestError, check_content_type

    try:
        check_content_type(value)
    except RequestError as exc:
        assert exc.status == 415
        assert_4xx(exc)
# --------------------------------------------------------------------------- value classes


def _numeric_columns() -> dict[str, tuple[float, float]]:
    from deployready.certification.history_schema import EVIDENCE_BOUNDS
    from deployready.certification.metrics import REGISTRY

    out = {name: spec.bounds for name, spec in REGISTRY.items()}
    out.update({k: v for k, v in EVIDENCE_BOUNDS.items() if k != "feature_entropy"})
    return out


def _outside(data: st.DataObject, bounds: tuple[float, float]) -> float:
    """A finite number just or far outside ``bounds``, below or above."""
    low, high = bounds
    sides = ["below"] + (["above"] if high != float("inf") else [])
    side = data.draw(st.sampled_from(sides))
    gap = data.draw(st.sampled_from([1e-9, 1e-3, 0.5, 4.0, 1e6]))
    return low - gap if side == "below" else high + gap


def _write_history(path: Path, records: list[dict[str, Any]]) -> None:
    import pandas as pd

    fmt = path.suffix.lstrip(".")
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        return
    flat = [{k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in r.items()}
            for r in records]
    frame = pd.DataFrame(flat)
    for column in frame.columns:  # a column of numbers and text is stored as text
        kinds = {type(v) for v in frame[column]}
        if len(kinds) > 1 and str in kinds:
            frame[column] = frame[column].map(str)
    if fmt == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)


FORMATS = st.sampled_from(["csv", "parquet", "jsonl"])


@FUZZ
@given(data=st.data(), fmt=FORMATS)
def test_history_every_number_out_of_its_range(
    hostile_master: Path, scratch: Path, data: st.DataObject, fmt: str
) -> None:
    """Every metric and evidence column, and every fold score and feature entropy, just
    or far outside its interval, below or above, in any row: refused naming it."""
    from deployready.certification.history import load_history
    from deployready.errors import HistoryError
    from tests.hostile.cases import history_records

    record = history_records(hostile_master)[0]
    records = [{**record, "run_id": f"r{i}"} for i in range(3)]
    row = data.draw(st.integers(0, 2))
    kind = data.draw(st.sampled_from(["column", "entropy", "fold score"]))
    if kind == "column":
        column, bounds = data.draw(st.sampled_from(sorted(_numeric_columns().items())))
        records[row][column] = _outside(data, bounds)
    elif kind == "entropy":
        column = "feature_entropy"
        feature = data.draw(st.sampled_from(sorted(record["feature_entropy"])))
        records[row][column] = {**record[column], feature: _outside(data, (0.0, 1.0))}
    else:
        column = "cv_fold_scores"
        scores = list(record[column])
        scores[data.draw(st.integers(0, len(scores) - 1))] = _outside(data, (0.0, 1.0))
        records[row][column] = scores
    path = scratch / f"history.{fmt}"
    _write_history(path, records)
    with pytest.raises(HistoryError) as info:
        load_history(path)
    assert info.value.location == f"row {row + 1}, column {column}", str(info.value)
    assert "out of range" in info.value.message


@FUZZ
@given(data=st.data(), fmt=FORMATS)
def test_history_a_duplicated_column_is_refused(
    hostile_master: Path, scratch: Path, data: st.DataObject, fmt: str
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from deployready.certification.history import load_history
    from deployready.errors import HistoryError
    from tests.hostile.cases import history_records

    record = history_records(hostile_master)[0]
    column = data.draw(st.sampled_from(sorted(record)))
    path = scratch / f"history.{fmt}"
    _write_history(path, [record])
    if fmt == "csv":
        lines = path.read_text(encoding="utf-8").splitlines()
        path.write_text(f"{lines[0]},{column}\n{lines[1]},x\n", encoding="utf-8")
    elif fmt == "parquet":
        table = pq.read_table(path)
        pq.write_table(pa.Table.from_arrays([*table.columns, table.column(column)],
                                            names=[*table.column_names, column]), path)
    else:
        text = json.dumps(record)
        path.write_text(text[:-1] + f", {json.dumps(column)}: 1}}\n", encoding="utf-8")
    with pytest.raises(HistoryError) as info:
        load_history(path)
    assert "duplicated" in info.value.message and column in info.value.message


TIME_NUMBERS = (st.integers(-(2**63), 2**63 - 1)
                | st.floats(allow_nan=False, allow_infinity=False) | st.booleans())
GARBAGE_TIMES = st.sampled_from(["", " ", "yesterday", "1714557600", "2026-13-45",
                                 "2026-03-10T25:00:00", "now", "null", "10/03/2026"])


@FUZZ
@given(data=st.data(), fmt=st.sampled_from(["parquet", "jsonl"]))
def test_history_a_time_that_is_a_number_or_garbage_is_refused(
    hostile_master: Path, scratch: Path, data: st.DataObject, fmt: str
) -> None:
    from deployready.certification.history import load_history
    from deployready.errors import HistoryError
    from tests.hostile.cases import history_records

    record = history_records(hostile_master)[0]
    value = data.draw(TIME_NUMBERS | GARBAGE_TIMES)
    # Parquet: a whole column of them (stored as numbers); JSONL: the second row only
    first = value if fmt == "parquet" else record["trained_at"]
    records = [{**record, "run_id": "a", "trained_at": first},
               {**record, "run_id": "b", "trained_at": value}]
    path = scratch / f"history.{fmt}"
    _write_history(path, records)
    with pytest.raises(HistoryError) as info:
        load_history(path)
    row = 1 if fmt == "parquet" else 2
    assert info.value.location == f"row {row}, column trained_at", str(info.value)


ZONES = {None: 0, "Z": 0, "+00:00": 0, "+02:00": 120, "-05:30": -330, "+14:00": 840}


@FUZZ
@given(offsets=st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(list(ZONES))),
                        min_size=2, max_size=6),
       fmt=st.sampled_from(["csv", "jsonl"]))
def test_history_naive_and_offset_times_mix_ordered_by_instant(
    hostile_master: Path, scratch: Path, offsets: list[tuple[int, str | None]], fmt: str
) -> None:
    """Naive times are UTC (documented); a mix of naive and offset times orders runs by
    the instant they name, the same as if each were written in UTC."""
    import pandas as pd

    from deployready.certification.history import load_history
    from tests.hostile.cases import history_records

    record = history_records(hostile_master)[0]
    base = pd.Timestamp("2026-03-01T00:00:00Z")
    records, instants = [], []
    for i, (minutes, zone) in enumerate(offsets):
        instant = base + pd.Timedelta(minutes=minutes)
        local = instant + pd.Timedelta(minutes=ZONES[zone])  # the wall clock at that offset
        text = local.strftime("%Y-%m-%dT%H:%M:%S") + ("" if zone is None else zone)
        records.append({**record, "run_id": f"r{i}", "trained_at": text})
        instants.append((instant, i))
    path = scratch / f"history.{fmt}"
    _write_history(path, records)
    frame = load_history(path)
    expected = [f"r{i}" for _, i in sorted(instants, key=lambda t: (t[0], t[1]))]
    assert list(frame["run_id"]) == expected


# --------------------------------------------------------------------------- log classes

LOG_ENGINES = ("pandas", "duckdb")


def _outcomes(folder: Path) -> list[Any]:
    """What each engine makes of a folder: the error text, or the per-day row counts."""
    from deployready.errors import LogError
    from deployready.monitoring.logs import ProductionLogs

    out: list[Any] = []
    for engine in LOG_ENGINES:
        logs = ProductionLogs(folder, {}, engine)  # type: ignore[arg-type]
        try:
            counts = logs.day_counts()
            out.append(("rows", [str(d) for d in counts.index], counts["rows"].tolist()))
        except LogError as exc:
            out.append(("error", str(exc)))
        finally:
            logs.close()
    return out


@FUZZ
@given(hours=st.lists(st.integers(-24 * 400, 24 * 365 * 30), min_size=1, max_size=5),
       predictions=st.lists(st.one_of(
           st.floats(-1e6, 1e6, allow_nan=False), st.floats(0, 1),
           st.sampled_from([0.0, 1.0, -0.0, 1.0000001, -1e-12])), min_size=1, max_size=5),
       stored=st.booleans())
def test_logs_future_times_and_predictions_out_of_0_1_both_engines(
    tmp_path_factory: pytest.TempPathFactory, hours: list[int], predictions: list[float],
    stored: bool,
) -> None:
    """A timestamp > 24 h ahead and a prediction outside [0, 1] are errors, on CSV text and
    stored Parquet values alike, with the same text from both engines; anything else
    reads, with the same counts."""
    import pandas as pd

    from deployready.monitoring.logs import MAX_FUTURE

    n = max(len(hours), len(predictions))
    now = pd.Timestamp.now(tz="UTC").floor("s")
    stamps = [now + pd.Timedelta(hours=hours[i % len(hours)]) for i in range(n)]
    preds = [predictions[i % len(predictions)] for i in range(n)]
    frame = pd.DataFrame({"timestamp": stamps, "version": "v1.0", "latency_ms": 1.0,
                          "prediction": preds, "error": ""})
    folder = tmp_path_factory.mktemp("logs")
    if stored:
        frame.to_parquet(folder / "a.parquet", index=False)
    else:
        frame.assign(timestamp=[s.strftime("%Y-%m-%dT%H:%M:%SZ") for s in stamps]).to_csv(
            folder / "a.csv", index=False)
    a, b = _outcomes(folder)
    assert a == b
    # a margin around the tolerance: the clock moves while the test runs
    far = [s > now + MAX_FUTURE + pd.Timedelta(minutes=5) for s in stamps]
    near = [s > now + MAX_FUTURE - pd.Timedelta(minutes=5) for s in stamps]
    bad_pred = [not 0.0 <= p <= 1.0 for p in preds]
    if any(far) or any(bad_pred):
        assert a[0] == "error", a
        assert ("timestamp in the future" in a[1]) or ("outside [0, 1]" in a[1])
    elif not any(near):
        assert a[0] == "rows" and sum(a[2]) == n


@FUZZ
@given(data=st.data(), held=st.booleans())
def test_logs_a_file_cut_anywhere_live_or_dead(
    hostile_master: Path, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject,
    held: bool,
) -> None:
    """The day's file cut at any byte. Held by a writer (serve's lock): never an error, the
    finished rows are read (0 bytes or a header: none). Not held: both engines agree,
    and a cut inside a row is an error naming the file, or that row reads as it is."""
    from deployready.serving.predlog import try_lock

    source = (hostile_master / "data/production/predictions-2026-03-10.csv").read_bytes()
    cut = data.draw(st.integers(0, len(source)))
    folder = tmp_path_factory.mktemp("logs")
    path = folder / "predictions-2026-03-10.csv"
    path.write_bytes(source[:cut])
    finished = source[:cut][: source[:cut].rfind(b"\n") + 1].count(b"\n")
    handle = path.open("a", encoding="utf-8") if held else None
    try:
        if handle is not None:
            assert try_lock(handle)
        a, b = _outcomes(folder)
    finally:
        if handle is not None:
            handle.close()
    assert a == b
    rows = max(0, finished - 1)
    if held or cut == 0 or source[:cut].endswith(b"\n"):
        assert a[0] == "rows" and sum(a[2]) == rows, a
    elif a[0] == "error":
        assert str(path) in a[1]
    else:  # the cut left a row that still parses (or only the header)
        assert sum(a[2]) in (rows, rows + 1)


LOG_TIMES = (
    st.integers(-(10**12), 10**19) | st.floats(-1e12, 1e12, allow_nan=False)
    | GARBAGE_TIMES
    | st.builds(lambda m, z: (pd_base() + pd_minutes(m)).strftime("%Y-%m-%dT%H:%M:%S")
                + ("" if z is None else z),
                st.integers(0, 10**5), st.sampled_from(list(ZONES)))
)


def pd_base() -> Any:
    import pandas as pd

    return pd.Timestamp("2026-03-01T00:00:00")


def pd_minutes(m: int) -> Any:
    import pandas as pd

    return pd.Timedelta(minutes=m)


@FUZZ
@given(values=st.lists(LOG_TIMES, min_size=1, max_size=4), stored=st.booleans())
def test_logs_timestamps_as_numbers_garbage_or_mixed_zones_both_engines(
    tmp_path_factory: pytest.TempPathFactory, values: list[Any], stored: bool
) -> None:
    """Numbers and garbage are not times; naive and offset ISO times may mix (naive =
    UTC). Either way both engines say the same: the same error, or the same days."""
    import pandas as pd

    frame = pd.DataFrame({"timestamp": values, "version": "v1.0", "latency_ms": 1.0,
                          "prediction": 0.5, "error": ""})
    folder = tmp_path_factory.mktemp("logs")
    kinds = {type(v) for v in values}
    if stored and len(kinds) == 1:
        frame.to_parquet(folder / "a.parquet", index=False)
    else:
        frame.assign(timestamp=frame["timestamp"].map(str)).to_csv(folder / "a.csv",
                                                                    index=False)
    a, b = _outcomes(folder)
    assert a == b
    if any(not isinstance(v, str) for v in values):
        assert a[0] == "error" and "column timestamp" in a[1], a
# --------------------------------------------------------------------------- file kinds


def _kind_actions() -> dict[str, list[Callable[[Any], Any]]]:
    """A file of every loader → the calls that open it."""
    from deployready.monitoring.daily import read_profile
    from deployready.monitoring.logs import ProductionLogs
    from deployready.package.manifest import read_metadata
    from deployready.package.validate import validate_package
    from tests.hostile import cases

    def logs(engine: str) -> Callable[[Any], Any]:
        def call(ws: Any) -> None:
            found = ProductionLogs(ws.production_dir, None, engine)  # type: ignore[arg-type]
            try:
                found.validate()
            finally:
                found.close()

        return call

    package = [cases.load_package_action, lambda ws: read_metadata(ws.package_path("v1.0")),
               lambda ws: validate_package(ws.package_path("v1.0"), deep=True)]
    actions: dict[str, list[Callable[[Any], Any]]] = {
        cases.POLICY: [cases.policy_action],
        cases.HISTORY: [cases.score_history_action, cases.load_history_action],
        cases.LOG_FILE: [logs("pandas"), logs("duckdb")],
        cases.PROFILE: [lambda ws: read_profile(ws, "v1.0"), *package],
    }
    for name in ("MANIFEST.json", "model.pkl", "scaler.pkl", "feature_schema.json",
                 "model_metadata.json", "holdout.parquet", "holdout_expected.json", "README.md"):
        actions[f"{cases.PKG}/{name}"] = package
    return actions


FILE_KINDS = ("folder", "broken-link", "fifo", "empty", "bytes", "link-to-copy", "link-to-folder")


@contextlib.contextmanager
def _bounded(seconds: int) -> Iterator[None]:
    """A read that blocks (a FIFO opened for reading) fails the example instead of the run."""
    import signal

    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError(f"a loader blocked for {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@settings(FUZZ, max_examples=40)
@given(data=st.data(), kind=st.sampled_from(FILE_KINDS), junk=st.binary(max_size=200))
def test_any_loader_file_of_any_kind(
    hostile_master: Path, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject,
    kind: str, junk: bytes,
) -> None:
    """Whatever is at a loader's file name — a folder, a broken link, a FIFO, nothing
    readable, a link to the real file or to a folder — the loader parses it or raises a
    DeployReadyError, within seconds."""
    import os

    from deployready.workspace import Workspace

    actions = _kind_actions()
    rel = data.draw(st.sampled_from(sorted(actions)))
    root = tmp_path_factory.mktemp("kinds") / "ws"
    shutil.copytree(hostile_master, root)
    path = root / rel
    original = path.read_bytes()
    path.unlink()
    if kind == "folder":
        path.mkdir()
    elif kind == "broken-link":
        path.symlink_to(root / "gone" / path.name)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "link-to-copy":
        (root / "elsewhere").write_bytes(original)
        path.symlink_to(root / "elsewhere")
    elif kind == "link-to-folder":
        path.symlink_to(root / "models")
    else:
        path.write_bytes(b"" if kind == "empty" else junk)
    ws = Workspace.open(root)
    for action in actions[rel]:
        with _bounded(30):
            allowed(functools.partial(action, ws))


# --------------------------------------------------------------------------- policy values


def _policy_value(data: st.DataObject, key: str) -> Any:
    """A value for ``key``: its rule's out-of-range examples, its type's edges, or anything."""
    from deployready.policy.rules import RULES

    anything = st.one_of(
        st.integers(min_value=-(10**7), max_value=10**7),
        st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9),
        st.sampled_from([0, 1, -1, 0.0, 1e-9, 0.5, 1.0, 1.5, 100, 600_000, 10**6]),
        st.booleans(),
        st.sampled_from(["", "1h", "15min", "7min", "window", "loadtest", "higher", "lower",
                         "roc_auc", "log_loss", "gini", "2026-01-01", "soon",
                         "http://127.0.0.1:9/x", "ftp://x"]),
        st.lists(st.integers(min_value=-5, max_value=150), max_size=4),
        st.lists(st.sampled_from(["a", "b", "", " "]), max_size=3),
    )
    examples = RULES[key].invalid(key)
    return data.draw(st.sampled_from(examples) | anything if examples else anything)


@FUZZ
@given(data=st.data())
def test_policy_values(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    """Any values for any keys: a valid Policy — one every command that reads it accepts —
    or a PolicyError naming ``deployready.toml: section.key`` of a key that was set."""
    import tomllib

    from deployready.certification.metrics import validate_policy_metrics
    from deployready.errors import PolicyError
    from deployready.loadtest.config import LoadTestConfig
    from deployready.monitoring.logs import window_delta
    from deployready.policy import Policy, load_policy, policy_to_toml
    from deployready.policy.rules import METRICS
    from tests.test_policy import policy_fields

    keys = data.draw(st.lists(st.sampled_from(policy_fields()), min_size=1, max_size=4,
                              unique=True))
    raw: dict[str, Any] = tomllib.loads(policy_to_toml(Policy()))
    written: set[str] = set()
    for key in keys:
        parts = key.split(".")
        if "*" in parts:
            parts[parts.index("*")] = data.draw(st.sampled_from([*METRICS, "gini"]))
        node = raw
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[parts[-1]] = _policy_value(data, key)
            written.add(".".join(parts))
    path = tmp_path_factory.mktemp("policy") / "deployready.toml"
    path.write_text(_toml(raw), encoding="utf-8")
    try:
        policy = load_policy(path)
    except PolicyError as exc:
        location = exc.location or ""
        assert str(exc).startswith(f"{path}: {location}: "), str(exc)
        named = location.split("[")[0]
        related = {"drift.psi_warn": "drift.psi_alert", "latency.baseline_start": "latency.",
                   "latency.baseline_end": "latency.baseline_start", "score.weights": "score.",
                   "certification.cv.min_fold_score": "certification.cv.metric"}
        # the key written, its table or a key in it, a sibling it needs, or its partner
        assert any(w == named or w.startswith(f"{named}.") or named.startswith(f"{w}.")
                   or w.startswith(related.get(named, "\0"))
                   # a metric or role table the example created lacks its sibling key
                   or (named.startswith(("certification.metrics.", "access.roles."))
                       and w.rsplit(".", 1)[0] == named.rsplit(".", 1)[0])
                   for w in written), (location, written)
        return
    assert isinstance(policy, Policy)
    LoadTestConfig.from_policy("v1.0", policy.load_test)
    validate_policy_metrics(policy.certification.metrics, policy.certification.cv.metric)
    window_delta(policy.latency.window)


def _toml(table: dict[str, Any], prefix: str = "") -> str:
    """A nested table as TOML (values as policy_to_toml writes them)."""
    from deployready.policy.write import _toml_value

    scalars = [(k, v) for k, v in table.items() if not isinstance(v, dict)]
    lines = [f"[{prefix}]"] if prefix and scalars else []
    lines += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in scalars]
    for k, v in table.items():
        if isinstance(v, dict):
            lines.append(_toml(v, f"{prefix}.{json.dumps(k)}" if prefix else json.dumps(k)))
    return "\n".join(lines) + "\n"
