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
    from deployready.history import load_history

    path = scratch / f"history.{fmt}"
    path.write_bytes(data)
    allowed(lambda: load_history(path))


@FUZZ
@given(data=st.data())
def test_history_csvish(hostile_master: Path, scratch: Path, data: st.DataObject) -> None:
    from deployready.history import load_history

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
    from deployready.history import load_history
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
    from deployready.history import append_run
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
    from deployready.artifacts import load_package, validate_package
    from deployready.manifest import build_manifest, read_json_file, write_file

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
    from deployready.artifacts import validate_package
    from deployready.manifest import parse_manifest

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
    from deployready.artifacts import validate_package

    folder = restore()
    (folder / "MANIFEST.json").write_bytes(data)
    assert validate_package(folder, deep=True).valid is False


@FUZZ
@given(data=st.data())
def test_reference_profile(data: st.DataObject, hostile_master: Path) -> None:
    from deployready.profile import check_profile

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
    from deployready.logs import ProductionLogs

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
    from deployready.logs import ProductionLogs

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
    from deployready.versioning import rows_to_frame

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
    from deployready.versioning import rows_to_frame

    allowed(lambda: rows_to_frame(INT_SCHEMA, [{"count": count, "flag": flag}]))


# --------------------------------------------------------------------------- file kinds


def _kind_actions() -> dict[str, list[Callable[[Any], Any]]]:
    """A file of every loader → the calls that open it."""
    from deployready.artifacts import read_metadata, validate_package
    from deployready.daily import read_profile
    from deployready.logs import ProductionLogs
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
    from deployready.policy import RULES

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

    from deployready.errors import PolicyError
    from deployready.loadtest.config import LoadTestConfig
    from deployready.logs import window_delta
    from deployready.metrics import validate_policy_metrics
    from deployready.policy import METRICS, Policy, load_policy, policy_to_toml
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
                   or w.rsplit(".", 1)[0] == named.rsplit(".", 1)[0]
                   or w.startswith(related.get(named, "\0")) for w in written), (location, written)
        return
    assert isinstance(policy, Policy)
    LoadTestConfig.from_policy("v1.0", policy.load_test)
    validate_policy_metrics(policy.certification.metrics, policy.certification.cv.metric)
    window_delta(policy.latency.window)


def _toml(table: dict[str, Any], prefix: str = "") -> str:
    """A nested table as TOML (values as policy_to_toml writes them)."""
    from deployready.policy import _toml_value

    scalars = [(k, v) for k, v in table.items() if not isinstance(v, dict)]
    lines = [f"[{prefix}]"] if prefix and scalars else []
    lines += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in scalars]
    for k, v in table.items():
        if isinstance(v, dict):
            lines.append(_toml(v, f"{prefix}.{json.dumps(k)}" if prefix else json.dumps(k)))
    return "\n".join(lines) + "\n"
