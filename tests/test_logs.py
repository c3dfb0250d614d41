"""The production-log loader: strict validation, and DuckDB == pandas on every aggregate."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from monitoring_support import crafted_logs, make_package, new_workspace, write_csv

from deployready.demo.logs import write_demo_logs
from deployready.errors import LogError
from deployready.monitoring.daily import read_profile
from deployready.monitoring.logs import ProductionLogs, features_of
from deployready.workspace import Workspace

ENGINES = ["pandas", "duckdb"]


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return new_workspace(tmp_path / "ws")


def load_error(ws: Workspace, engine: str, features: dict | None = None) -> LogError:
    logs = ProductionLogs(ws.production_dir, features, engine)  # type: ignore[arg-type]
    with pytest.raises(LogError) as info:
        logs.validate()
    return info.value


def good(n: int = 5) -> pd.DataFrame:
    return crafted_logs("2026-03-01", [1.0 + i for i in range(n)])


def no_rows_yet(ws: Workspace, engine: str, features: dict | None = None) -> ProductionLogs:
    """A reader of the folder that validates, holding the rows of b.csv only."""
    write_csv(ws, "b.csv", good())
    logs = ProductionLogs(ws.production_dir, features, engine)  # type: ignore[arg-type]
    logs.validate()
    assert logs.versions()["v1.0"]["rows"] == 5
    assert logs.day_counts("v1.0")["rows"].tolist() == [5]
    assert logs.latency_summary("v1.0")["count"] == 5
    return logs


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_zero_byte_file_holds_no_rows_yet(ws: Workspace, engine: str, suffix: str) -> None:
    """serve creates the day's file and flushes up to a second later: not an error."""
    ws.production_dir.mkdir(parents=True)
    (ws.production_dir / f"a{suffix}").write_text("")
    logs = no_rows_yet(ws, engine)
    assert logs.empty == {ws.production_dir / f"a{suffix}": "0 bytes: no rows yet"}
    assert ws.production_dir / f"a{suffix}" not in logs.files
    logs.close()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("form", ["csv", "csv-without-line-end", "parquet"])
def test_a_header_only_file_holds_no_rows_yet(ws: Workspace, engine: str, form: str) -> None:
    if form == "parquet":
        ws.production_dir.mkdir(parents=True)
        good().iloc[:0].to_parquet(ws.production_dir / "a.parquet")
    else:
        header = ",".join(good().columns)
        csv_text(ws, header + ("\n" if form == "csv" else ""))
    logs = no_rows_yet(ws, engine, {})
    assert logs.empty == {} and len(logs.files) == 2
    logs.close()


@pytest.mark.parametrize("engine", ENGINES)
def test_a_header_only_file_with_a_bad_header_is_still_an_error(ws: Workspace,
                                                                 engine: str) -> None:
    csv_text(ws, "timestamp,version,latency_ms,error\n")
    err = load_error(ws, engine)
    assert err.location == "header" and "missing column(s) prediction" in err.message


@pytest.mark.parametrize("engine", ENGINES)
def test_missing_column(ws: Workspace, engine: str) -> None:
    write_csv(ws, "a.csv", good().drop(columns=["latency_ms"]))
    err = load_error(ws, engine)
    assert err.location == "header" and "latency_ms" in err.message


@pytest.mark.parametrize("engine", ENGINES)
def test_missing_feature_column(ws: Workspace, engine: str) -> None:
    write_csv(ws, "a.csv", good())
    err = load_error(ws, engine, {"amount": "numeric"})
    assert err.location == "header" and "amount" in err.message


CASES = [
    ("timestamp", "not a time", "row 3, column timestamp", "unparseable timestamp"),
    ("latency_ms", "fast", "row 3, column latency_ms", "not a number"),
    ("latency_ms", "-1.5", "row 3, column latency_ms", "negative latency"),
    ("latency_ms", "", "row 3, column latency_ms", "missing latency"),
    ("latency_ms", "3600000.5", "row 3, column latency_ms", "above one hour"),
    ("latency_ms", "inf", "row 3, column latency_ms", "infinite latency"),
    ("prediction", "high", "row 3, column prediction", "not a number"),
    ("prediction", "", "row 3, column prediction", "missing prediction"),
    ("version", "", "row 3, column version", "missing version"),
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("column", "value", "location", "message"), CASES)
def test_bad_values_name_file_row_and_column(ws: Workspace, engine: str, column: str,
                                             value: str, location: str, message: str) -> None:
    frame = good().astype({column: object})
    frame.loc[2, column] = value
    frame.loc[4, column] = value
    write_csv(ws, "b.csv", good())
    write_csv(ws, "c.csv", frame)
    err = load_error(ws, engine)
    assert err.source is not None and err.source.endswith("c.csv")
    assert err.location == location
    assert message in err.message
    assert "2 rows in all" in err.message


def test_engines_give_the_same_error(ws: Workspace) -> None:
    frame = good().astype({"latency_ms": object})
    frame.loc[1, "latency_ms"] = "-3"
    write_csv(ws, "a.csv", frame)
    assert str(load_error(ws, "pandas")) == str(load_error(ws, "duckdb"))


def csv_text(ws: Workspace, text: str, name: str = "a.csv") -> None:
    ws.production_dir.mkdir(parents=True, exist_ok=True)
    (ws.production_dir / name).write_text(text, encoding="utf-8")


def good_text(n: int = 4, extra: str = "") -> list[str]:
    lines = good(n).to_csv(index=False).splitlines()
    return [lines[0] + extra.split("|")[0], *(line + extra.split("|")[-1] for line in lines[1:])]


def with_column(name: str, values: pa.Array) -> pa.Table:
    table = pa.Table.from_pandas(good(3), preserve_index=False)
    i = table.schema.get_field_index(name)
    return table.set_column(i, name, values) if i >= 0 else table.append_column(name, values)


def both_errors(ws: Workspace, features: dict | None = None) -> LogError:
    """The LogError of each engine: the same text, file, place and expectation."""
    a, b = load_error(ws, "pandas", features), load_error(ws, "duckdb", features)
    assert str(a) == str(b)
    assert (a.source, a.location, a.expected) == (b.source, b.location, b.expected)
    return a


RAGGED = [
    (["2026-03-01T00:00:09Z,v1.0,3.5"], 2, "a row with 3 field(s) where the header has 5"),
    (["2026-03-01T00:00:09Z,v1.0,3.5,0.25,,x"], 2, "a row with 6 field(s) where the header has 5"),
]


@pytest.mark.parametrize(("bad", "insert_at", "message"), RAGGED)
def test_ragged_row_names_the_row(ws: Workspace, bad: list[str], insert_at: int,
                                  message: str) -> None:
    lines = good_text(4)
    lines[insert_at + 1 : insert_at + 1] = bad
    csv_text(ws, "\n".join(lines) + "\n")
    err = both_errors(ws, {})
    assert err.source is not None and err.source.endswith("a.csv")
    assert err.location == f"row {insert_at + 1}"
    assert message in err.message
    assert err.expected is not None and "as many fields as the header" in err.expected


@pytest.mark.parametrize("engine", ENGINES)
def test_unterminated_quote_is_a_log_error(ws: Workspace, engine: str) -> None:
    lines = good_text(3)
    lines[2] = '"' + lines[2]
    csv_text(ws, "\n".join(lines) + "\n")
    err = load_error(ws, engine)
    assert err.location == "row 2" and "cannot read" in err.message


@pytest.mark.parametrize(
    ("extra", "features", "shown"),
    [
        (",error|,x", None, "duplicated column(s) error"),
        (",amount,amount|,1,2", {"amount": "numeric"}, "duplicated column(s) amount"),
        (",amount,AMOUNT|,1,2", {"amount": "numeric"}, "duplicated column(s) amount / AMOUNT"),
        (",note,Note|,a,b", None, "duplicated column(s) note / Note"),
    ],
)
def test_duplicated_columns_are_refused(ws: Workspace, extra: str, features: dict | None,
                                        shown: str) -> None:
    csv_text(ws, "\n".join(good_text(3, extra)) + "\n")
    err = both_errors(ws, features)
    assert err.location == "header" and shown in err.message


def test_duplicated_parquet_columns_are_refused(ws: Workspace) -> None:
    table = pa.Table.from_pandas(good(3), preserve_index=False)
    table = table.append_column("latency_ms", table.column("latency_ms"))
    ws.production_dir.mkdir(parents=True)
    pq.write_table(table, ws.production_dir / "a.parquet")
    err = both_errors(ws)
    assert err.location == "header" and "duplicated column(s) latency_ms" in err.message


NESTED = [
    ("version", pa.array([["v1.0"]] * 3)),
    ("latency_ms", pa.array([{"ms": 1.0}] * 3)),
    ("amount", pa.array([[("a", 1)]] * 3, pa.map_(pa.string(), pa.int64()))),
    ("meta", pa.array([[1, 2]] * 3, pa.large_list(pa.int64()))),
    ("region", pa.array([["x", "y"]] * 3, pa.list_(pa.string(), 2))),
]


@pytest.mark.parametrize(("column", "values"), NESTED, ids=[c for c, _ in NESTED])
@pytest.mark.parametrize("features", [None, {"amount": "numeric"}])
def test_nested_parquet_columns_are_refused(ws: Workspace, column: str, values: pa.Array,
                                            features: dict | None) -> None:
    table = with_column(column, values)
    if features and "amount" not in table.column_names:
        table = table.append_column("amount", pa.array([1.0] * 3))
    ws.production_dir.mkdir(parents=True)
    pq.write_table(table, ws.production_dir / "a.parquet")
    err = both_errors(ws, features)
    assert err.source is not None and err.source.endswith("a.parquet")
    assert err.location == f"column {column}" and "nested column type" in err.message


def test_flat_parquet_an_unnamed_column_and_a_bom_still_load(ws: Workspace) -> None:
    table = with_column("region", pa.array(["north", "south", None]).dictionary_encode())
    ws.production_dir.mkdir(parents=True)
    pq.write_table(table, ws.production_dir / "a.parquet")
    csv_text(ws, "\n".join(good_text(2, ",|,x")) + "\n", "b.csv")
    csv_text(ws, "\ufeff" + "\n".join(good_text(2)) + "\n", "c.csv")
    for engine in ENGINES:
        logs = ProductionLogs(ws.production_dir, engine=engine)  # type: ignore[arg-type]
        assert logs.day_counts("v1.0")["rows"].tolist() == [7]
        logs.close()


def test_duckdb_read_errors_are_log_errors_naming_the_file(ws: Workspace) -> None:
    write_csv(ws, "a.csv", good())
    lines = good_text(3)
    lines.append("2026-03-01T00:00:09Z")
    csv_text(ws, "\n".join(lines) + "\n", "b.csv")
    logs = ProductionLogs(ws.production_dir, engine="duckdb")
    with pytest.raises(LogError) as info:
        logs.latency_summary("v1.0")
    logs.close()
    assert info.value.source is not None and info.value.source.endswith("b.csv")
    assert info.value.location == "row 4"


@pytest.mark.parametrize("engine", ENGINES)
def test_feature_types_checked_on_successful_rows_only(ws: Workspace, engine: str) -> None:
    frame = crafted_logs("2026-03-01", [1.0, 2.0, 3.0], errors=["", "validation", ""],
                         features=pd.DataFrame({"amount": ["1.5", "abc", "2.0"]}))
    write_csv(ws, "a.csv", frame)
    logs = ProductionLogs(ws.production_dir, {"amount": "numeric"}, engine)  # type: ignore[arg-type]
    logs.validate()  # the failed request may carry the bad value
    frame.loc[2, "amount"] = "xyz"
    write_csv(ws, "a.csv", frame)
    err = load_error(ws, engine, {"amount": "numeric"})
    assert err.location == "row 3, column amount"


def test_engine_choice(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    write_csv(ws, "a.csv", good())
    assert ProductionLogs(ws.production_dir).chosen == "pandas"
    assert ProductionLogs(ws.production_dir, threshold_bytes=10).chosen == "duckdb"
    assert ProductionLogs(ws.production_dir, engine="duckdb").chosen == "duckdb"
    monkeypatch.setenv("DEPLOYREADY_LOG_ENGINE", "duckdb")
    assert ProductionLogs(ws.production_dir).chosen == "duckdb"
    monkeypatch.setenv("DEPLOYREADY_LOG_ENGINE", "spark")
    with pytest.raises(LogError):
        ProductionLogs(ws.production_dir)


def test_timestamps_with_offsets_are_utc(ws: Workspace) -> None:
    frame = good(3)
    frame["timestamp"] = ["2026-03-01T23:30:00+00:00", "2026-03-02T01:30:00+02:00",
                          "2026-03-02 00:30:00"]
    write_csv(ws, "a.csv", frame)
    for engine in ENGINES:
        logs = ProductionLogs(ws.production_dir, engine=engine)  # type: ignore[arg-type]
        counts = logs.day_counts("v1.0")
        assert [str(d) for d in counts.index] == ["2026-03-01", "2026-03-02"]
        assert counts["rows"].tolist() == [2, 1]


@pytest.fixture(scope="module")
def mixed_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """Demo logs for two versions, CSV and Parquet mixed, some rows in other versions."""
    ws = new_workspace(tmp_path_factory.mktemp("mixed"))
    pkg = make_package(ws, "v1.0")
    write_demo_logs(ws, pkg, days=6, end_date="2026-03-06", rows_per_day=400, seed=5,
                    spike_day=2, error_spike_day=4, drift_days=2)
    # one day as Parquet, another version's rows in its own file
    path = ws.production_dir / "predictions-2026-03-03.csv"
    pd.read_csv(path).to_parquet(path.with_suffix(".parquet"))
    path.unlink()
    other = pd.read_csv(ws.production_dir / "predictions-2026-03-05.csv").iloc[:50]
    other["version"] = "v0.9"
    other.to_csv(ws.production_dir / "other.csv", index=False)
    return ws


def both(ws: Workspace) -> tuple[ProductionLogs, ProductionLogs]:
    profile = read_profile(ws, "v1.0")
    a = ProductionLogs(ws.production_dir, features_of(profile), "pandas")
    b = ProductionLogs(ws.production_dir, features_of(profile), "duckdb")
    return a, b


def test_duckdb_and_pandas_agree(mixed_ws: Workspace) -> None:
    pandas_logs, duck_logs = both(mixed_ws)
    profile = read_profile(mixed_ws, "v1.0")
    assert pandas_logs.versions() == duck_logs.versions()
    pd.testing.assert_frame_equal(pandas_logs.day_counts("v1.0"), duck_logs.day_counts("v1.0"))
    assert pandas_logs.error_kinds("v1.0") == duck_logs.error_kinds("v1.0")
    for window in ("1h", "15min", "1D"):
        a = pandas_logs.latency_windows("v1.0", window)
        b = duck_logs.latency_windows("v1.0", window)
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12)
        assert a["count"].sum() > 0
    sa = pandas_logs.latency_summary("v1.0", "2026-03-02", "2026-03-05")
    sb = duck_logs.latency_summary("v1.0", "2026-03-02", "2026-03-05")
    assert sa.keys() == sb.keys()
    for k in sa:
        assert sa[k] == pytest.approx(sb[k], rel=1e-12)
    ca = pandas_logs.bin_counts(profile, "v1.0")
    cb = duck_logs.bin_counts(profile, "v1.0")
    assert ca.keys() == cb.keys() and len(ca) == 6
    for day in ca:
        assert ca[day].rows == cb[day].rows
        assert np.array_equal(ca[day].prediction, cb[day].prediction)
        assert ca[day].features.keys() == cb[day].features.keys()
        for name in ca[day].features:
            assert np.array_equal(ca[day].features[name], cb[day].features[name]), name


def test_bin_counts_match_the_profile_function(mixed_ws: Workspace) -> None:
    from deployready.package.profile import categorical_counts, numeric_counts

    pandas_logs, _ = both(mixed_ws)
    profile = read_profile(mixed_ws, "v1.0")
    frame = pandas_logs.frame("v1.0", "2026-03-04", "2026-03-05", ok_only=True)
    counts = pandas_logs.bin_counts(profile, "v1.0", "2026-03-04", "2026-03-05")
    (day,) = counts
    for name, spec in profile["features"].items():
        if spec["kind"] == "numeric":
            ref = numeric_counts(np.array(spec["edges"]), frame[name].to_numpy(dtype=float))
        else:
            ref = categorical_counts(spec["categories"], frame[name])
        assert np.array_equal(counts[day].features[name], ref), name


def test_version_filter_and_iteration(mixed_ws: Workspace) -> None:
    pandas_logs, duck_logs = both(mixed_ws)
    assert set(pandas_logs.versions()) == {"v0.9", "v1.0"}
    assert pandas_logs.day_counts("v0.9")["rows"].sum() == 50
    assert duck_logs.day_counts("v0.9")["rows"].sum() == 50
    days = [d for d, _ in pandas_logs.iter_days("v1.0")]
    assert [str(d) for d in days] == [f"2026-03-0{i}" for i in range(1, 7)]
    for day, frame in pandas_logs.iter_days("v1.0", "2026-03-02", "2026-03-04"):
        assert (frame["timestamp"].dt.date == day).all()


def _rollout_logs(directory: Path) -> tuple[Path, Path]:
    """v1.0 (features a, b) and v2.0 (a, b, c: a major version) serving the same day, each
    through the server's own log writer."""
    from deployready.serving.predlog import PredictionLog

    ts = pd.Timestamp("2026-03-01T12:00:00Z").timestamp()
    for version, features in (("v1.0", ["a", "b"]), ("v2.0", ["a", "b", "c"])):
        log = PredictionLog(directory, version, features, flush_seconds=0.01)
        for i in range(3):
            row = {"a": 1.0 + i, "b": "x", "c": 2.0 * i}
            log.add_request(ts + i, 5.0 + i, [row], [0.5], "")
        log.close()
    return directory / "predictions-2026-03-01.csv", directory / "predictions-2026-03-01-v2.0.csv"


def test_two_versions_with_two_schemas_never_share_a_log_file(tmp_path: Path) -> None:
    shared, own = _rollout_logs(tmp_path)
    head = "timestamp,version,latency_ms,prediction,error,request_id"
    assert shared.read_text().splitlines()[0] == f"{head},a,b"
    assert own.read_text().splitlines()[0] == f"{head},a,b,c"
    assert {p.name for p in tmp_path.iterdir()} == {shared.name, own.name}
    for path in (shared, own):  # every row has its header's fields
        lines = path.read_text().splitlines()
        assert len(lines) == 4 and {line.count(",") for line in lines} == {lines[0].count(",")}


@pytest.mark.parametrize("engine", ENGINES)
def test_a_version_reads_its_rows_beside_another_schema(tmp_path: Path, engine: str) -> None:
    shared, own = _rollout_logs(tmp_path)
    v2 = ProductionLogs(tmp_path, {"a": "numeric", "b": "categorical", "c": "numeric"},
                        engine, version="v2.0")  # type: ignore[arg-type]
    v2.validate()
    assert v2.files == [own] and shared in v2.excluded
    assert "written by v1.0 without c" in v2.excluded[shared]
    assert v2.day_counts("v2.0")["rows"].tolist() == [3]
    v1 = ProductionLogs(tmp_path, {"a": "numeric", "b": "categorical"}, engine,  # type: ignore[arg-type]
                        version="v1.0")
    v1.validate()  # v2.0's file has a and b too: read, its rows filtered by version
    assert v1.excluded == {} and v1.day_counts("v1.0")["rows"].tolist() == [3]
    # without a version, a file missing a feature is still an error naming the column
    err = load_error_in(tmp_path, engine, {"a": "numeric", "b": "categorical", "c": "numeric"})
    assert err.source == str(shared) and "c" in err.message and err.location == "header"


@pytest.mark.parametrize("engine", ENGINES)
def test_a_file_with_rows_of_the_version_but_not_its_columns_is_an_error(
        tmp_path: Path, engine: str) -> None:
    shared, _ = _rollout_logs(tmp_path)
    shared.write_text(shared.read_text().replace(",v1.0,", ",v2.0,"))  # v2.0 rows, no c
    logs = ProductionLogs(tmp_path, {"a": "numeric", "b": "categorical", "c": "numeric"},
                          engine, version="v2.0")  # type: ignore[arg-type]
    assert logs.excluded == {}
    with pytest.raises(LogError, match="missing column"):
        logs.validate()


def load_error_in(directory: Path, engine: str, features: dict) -> LogError:
    logs = ProductionLogs(directory, features, engine)  # type: ignore[arg-type]
    with pytest.raises(LogError) as info:
        logs.validate()
    return info.value


def test_two_servers_of_one_version_never_interleave_in_one_file(tmp_path: Path) -> None:
    """Replicas: the second writer finds the day's file locked and writes its own."""
    from deployready.serving.predlog import PredictionLog

    ts = pd.Timestamp("2026-03-01T12:00:00Z").timestamp()
    logs = [PredictionLog(tmp_path, "v1.0", ["a"], flush_seconds=0.01) for _ in range(2)]
    for i in range(50):
        for n, log in enumerate(logs):
            log.add_request(ts + i, 1.0, [{"a": float(n)}], [0.5], "")
    # both have claimed a file before either closes (one closed first frees the shared
    # file, and the other would rightly append to it)
    wait_until(lambda: all(log.written == 50 for log in logs))
    for log in logs:
        log.close()
    files = sorted(tmp_path.iterdir())
    assert [p.name for p in files] == ["predictions-2026-03-01-v1.0.csv",
                                       "predictions-2026-03-01.csv"]
    for path in files:
        frame = pd.read_csv(path)
        assert len(frame) == 50 and frame["a"].nunique() == 1  # one writer per file
    # a restart appends to the shared file, under its one header
    again = PredictionLog(tmp_path, "v1.0", ["a"], flush_seconds=0.01)
    again.add_request(ts + 99, 1.0, [{"a": 7.0}], [0.5], "")
    again.close()
    shared = tmp_path / "predictions-2026-03-01.csv"
    assert shared.read_text().count("timestamp,") == 1 and len(pd.read_csv(shared)) == 51
    ProductionLogs(tmp_path, {"a": "numeric"}, "pandas").validate()


def test_version_counts_never_outlive_the_rows_they_came_from(tmp_path: Path) -> None:
    """A reader that read a file before it grew must not publish its old counts under the
    file's new signature; a typed read must still validate after an untyped one."""
    import os

    path = tmp_path / "predictions-2026-03-01.csv"
    line = "2026-03-01T00:00:0{}+00:00,{},1.0,0.5,,{}\n"
    path.write_text("timestamp,version,latency_ms,prediction,error,x\n" + line.format(0, "v1", 1))
    stale = ProductionLogs(tmp_path, {}, "pandas")
    stale.frame()
    with path.open("a") as fh:
        fh.write(line.format(1, "v2", "abc"))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    stale.versions()  # counts from its old frame, under its old key
    fresh = ProductionLogs(tmp_path, {}, "pandas")
    assert set(fresh.versions()) == {"v1", "v2"}
    typed = ProductionLogs(tmp_path, {"x": "numeric"}, "pandas")
    with pytest.raises(LogError, match="not a number"):
        typed.versions()


@pytest.mark.parametrize("extra", [",", ",,", ",x"])
def test_a_row_with_extra_fields_reads_the_same_in_both_engines(ws: Workspace,
                                                                extra: str) -> None:
    """DuckDB on its own takes one trailing empty field as a line ending; pyarrow does not."""
    path = write_csv(ws, "a.csv", good())
    lines = path.read_text().splitlines()
    lines[2] += extra
    path.write_text("\n".join(lines) + "\n")
    a, b = load_error(ws, "pandas"), load_error(ws, "duckdb")
    assert str(a) == str(b)
    assert b.location == "row 2" and "where the header has 5" in b.message


# --------------------------------------------------------------------------- live writers


def wait_until(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@contextlib.contextmanager
def held(path: Path) -> Iterator[Any]:
    """``path`` open for appending under the lock ``deployready serve`` takes."""
    from deployready.serving.predlog import try_lock

    with path.open("a", encoding="utf-8") as fh:
        assert try_lock(fh)
        yield fh


def partial_text() -> tuple[str, str]:
    """(finished lines, the first half of one more line)."""
    lines = good_text(4)
    return "\n".join(lines[:4]) + "\n", lines[4][: len(lines[4]) // 2]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_live_writers_unfinished_last_line_is_left_out(ws: Workspace, engine: str) -> None:
    done, half = partial_text()
    csv_text(ws, "")
    path = ws.production_dir / "a.csv"
    with held(path) as fh:
        fh.write(done + half)
        fh.flush()
        logs = ProductionLogs(ws.production_dir, {}, engine)  # type: ignore[arg-type]
        assert logs.states[path].live and logs.states[path].readable == len(done)
        assert logs.day_counts("v1.0")["rows"].tolist() == [3]
        fh.write("x" * 0)  # the writer goes on: this reader keeps its snapshot
        fh.write(good_text(4)[4][len(half):] + "\n")
        fh.flush()
        assert logs.latency_summary("v1.0")["count"] == 3
        logs.close()
    after = ProductionLogs(ws.production_dir, {}, engine)  # type: ignore[arg-type]
    assert after.day_counts("v1.0")["rows"].tolist() == [4] and not after.states[path].live
    after.close()


@pytest.mark.parametrize("engine", ENGINES)
def test_a_live_writers_unfinished_first_line_is_no_rows_yet(ws: Workspace, engine: str) -> None:
    csv_text(ws, "")
    path = ws.production_dir / "a.csv"
    with held(path) as fh:
        fh.write("timestamp,version,lat")
        fh.flush()
        logs = no_rows_yet(ws, engine)
        assert "first line" in logs.empty[path]
        logs.close()
    err = load_error(ws, engine)  # the writer is gone: a header no one will finish
    assert err.source == str(path) and "missing column(s)" in err.message


def test_a_half_written_last_line_without_a_writer_is_an_error_naming_the_row(
    ws: Workspace,
) -> None:
    """A writer that died mid-line left a corrupt file: both engines say where."""
    done, half = partial_text()
    csv_text(ws, done + half)
    err = both_errors(ws, {})
    assert err.source is not None and err.source.endswith("a.csv")
    assert err.location in ("row 4", "row 4, column prediction", "row 4, column latency_ms")
    # a complete last line without a line end is a row, as many tools write it
    csv_text(ws, done + good_text(4)[4])
    for engine in ENGINES:
        logs = ProductionLogs(ws.production_dir, {}, engine)  # type: ignore[arg-type]
        assert logs.day_counts("v1.0")["rows"].tolist() == [4]
        logs.close()


@pytest.mark.parametrize("engine", ENGINES)
def test_a_running_prediction_log_is_never_read_as_broken(tmp_path: Path, engine: str) -> None:
    """serve's own writer: 0 bytes, then lines flushed by a full buffer (ending anywhere
    in a line), then closed. Every read in between validates and counts finished rows."""
    from deployready.serving.predlog import PredictionLog

    ts = pd.Timestamp("2026-03-01T12:00:00Z").timestamp()
    log = PredictionLog(tmp_path, "v1.0", ["note"], flush_seconds=3600)
    path = tmp_path / "predictions-2026-03-01.csv"
    try:
        log.add_request(ts, 1.0, [{"note": "first"}], [0.5], "")
        wait_until(lambda: log.written == 1)
        assert path.stat().st_size == 0
        logs = ProductionLogs(tmp_path, {}, engine)  # type: ignore[arg-type]
        logs.validate()
        assert logs.versions() == {} and path in logs.empty
        logs.close()
        for i in range(1, 300):
            log.add_request(ts + i, 1.0 + i, [{"note": "n" * 40 + str(i)}], [0.5], "")
        wait_until(lambda: log.written == 300)
        assert path.stat().st_size > 0
        text = path.read_bytes()
        finished = text[: text.rfind(b"\n") + 1].count(b"\n") - 1
        logs = ProductionLogs(tmp_path, {}, engine)  # type: ignore[arg-type]
        assert logs.states[path].live
        assert logs.versions()["v1.0"]["rows"] == finished > 0
        logs.close()
    finally:
        log.close()
    logs = ProductionLogs(tmp_path, {}, engine)  # type: ignore[arg-type]
    assert logs.versions()["v1.0"]["rows"] == 300
    logs.close()


# --------------------------------------------------------------------------- impossible values


def future(**delta: float) -> str:
    when = pd.Timestamp.now(tz="UTC") + pd.Timedelta(**delta)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.mark.parametrize("stamp", ["2031-03-01T00:00:00Z", "9999-12-31T23:59:59Z"])
def test_a_timestamp_years_ahead_is_an_error(ws: Workspace, stamp: str) -> None:
    frame = good().astype({"timestamp": object})
    frame.loc[2, "timestamp"] = stamp
    write_csv(ws, "a.csv", frame)
    err = both_errors(ws)
    assert err.location == "row 3, column timestamp"
    assert err.message == f"timestamp in the future: {stamp!r}"
    assert err.expected == "a time at most 24 h after the current time (UTC)"


def test_the_future_tolerance_is_24_hours(ws: Workspace) -> None:
    frame = good().astype({"timestamp": object})
    frame.loc[1, "timestamp"] = future(hours=23)
    write_csv(ws, "a.csv", frame)
    for engine in ENGINES:
        logs = ProductionLogs(ws.production_dir, {}, engine)  # type: ignore[arg-type]
        logs.validate()
        logs.close()
    frame.loc[3, "timestamp"] = future(hours=25)
    write_csv(ws, "a.csv", frame)
    assert both_errors(ws).location == "row 4, column timestamp"


def test_a_stored_future_timestamp_reads_the_same_in_both_engines(ws: Workspace) -> None:
    stamps = pd.to_datetime(["2026-03-01T00:00:00Z", "2040-01-02T03:04:05.250Z",
                             "2041-01-01T00:00:00.000Z"], utc=True, format="ISO8601")
    for unit, tz in (("us", "UTC"), ("ns", None), ("ms", "Europe/Paris")):
        values = pa.array(stamps.tz_convert(tz).tz_localize(None) if tz is None
                          else stamps.tz_convert(tz), pa.timestamp(unit, tz=tz))
        ws.production_dir.mkdir(parents=True, exist_ok=True)
        pq.write_table(with_column("timestamp", values), ws.production_dir / "a.parquet")
        err = both_errors(ws)
        assert err.location == "row 2, column timestamp"
        assert err.message == ("timestamp in the future: '2040-01-02T03:04:05.250000+00:00' "
                               "(2 rows in all)")


PREDICTIONS = [("1.5", "'1.5'"), ("-0.25", "'-0.25'"), ("100", "'100'"), ("1.0000001", None)]


@pytest.mark.parametrize(("value", "shown"), PREDICTIONS)
def test_a_prediction_outside_0_1_is_an_error(ws: Workspace, value: str,
                                              shown: str | None) -> None:
    frame = good().astype({"prediction": object})
    frame.loc[1, "prediction"] = value
    write_csv(ws, "a.csv", frame)
    err = both_errors(ws)
    assert err.location == "row 2, column prediction"
    assert err.message == f"prediction outside [0, 1]: {shown or repr(value)}"
    assert err.expected == "a probability in [0, 1] (of class 1), or empty on error"


@pytest.mark.parametrize("values", [pa.array([0.5, 1.5, 2.0]), pa.array([0, 1, 7]),
                                    pa.array([0.5, -1.0, 0.5], pa.float32())])
def test_a_stored_prediction_outside_0_1_reads_the_same_in_both_engines(
    ws: Workspace, values: pa.Array
) -> None:
    ws.production_dir.mkdir(parents=True)
    pq.write_table(with_column("prediction", values), ws.production_dir / "a.parquet")
    err = both_errors(ws)
    assert err.location is not None and err.location.endswith("column prediction")
    assert err.message.startswith("prediction outside [0, 1]: ")
    assert "'" not in err.message  # a stored number is shown as a number


def test_predictions_at_the_bounds_and_empty_on_error_are_fine(ws: Workspace) -> None:
    frame = crafted_logs("2026-03-01", [1.0, 2.0, 3.0, 4.0], errors=["", "", "", "timeout"],
                         predictions=np.array([0.0, 1.0, 0.5, np.nan]))
    write_csv(ws, "a.csv", frame)
    for engine in ENGINES:
        logs = ProductionLogs(ws.production_dir, {}, engine)  # type: ignore[arg-type]
        assert logs.day_counts("v1.0")["rows"].tolist() == [4]
        logs.close()


@pytest.mark.parametrize("engine", ENGINES)
def test_a_reader_keeps_the_rows_a_live_file_had_when_it_was_created(ws: Workspace,
                                                                      engine: str) -> None:
    """The file ends with a finished line when the reader is created; the writer then
    starts the next one. Queries read the same rows, never the half line."""
    done, half = partial_text()
    csv_text(ws, "")
    path = ws.production_dir / "a.csv"
    with held(path) as fh:
        fh.write(done)
        fh.flush()
        logs = ProductionLogs(ws.production_dir, {}, engine)  # type: ignore[arg-type]
        assert logs.states[path].live and logs.states[path].readable == len(done)
        fh.write(half)
        fh.flush()
        logs.validate()
        assert logs.day_counts("v1.0")["rows"].tolist() == [3]
        fh.write(good_text(4)[4][len(half):] + "\n")
        fh.flush()
        assert logs.latency_summary("v1.0")["count"] == 3
        logs.close()
