"""Profile engines: pandas, DuckDB and Spark produce identical long forms of the same logs,
and refuse the same bad file naming the same file, row and column."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deployready.errors import LogError
from deployready.monitoring.logs_schema import TIMESTAMP_PATTERN
from deployready.monitoring.profiles.engine import Source, get_engine
from deployready.monitoring.profiles.engine_duckdb import DuckEngine
from deployready.monitoring.profiles.engine_spark import SparkEngine
from deployready.monitoring.profiles.frame import Layout, merge, normalized
from deployready.monitoring.profiles.histogram import EDGES
from deployready.monitoring.profiles.imported import import_profiles
from deployready.monitoring.profiles.sources import layouts_in
from deployready.monitoring.profiles.spark_job import (
    long_form_from_parquet,
    profile_dataset,
    write_long_form,
)
from deployready.monitoring.profiles.spark_sql import TIMESTAMP_PARTS
from deployready.monitoring.profiles.store import ProfileStore
from deployready.package.profile import fit_profile

HOUR = pd.Timestamp("2026-03-01T00:00:00Z")


# --------------------------------------------------------------------------- the pandas side


def pandas_profile(source: Source, layouts: Mapping[str, Layout]) -> pd.DataFrame:
    """The reference: the pandas engine."""
    return get_engine("pandas").profile([source], layouts)[source]


def pandas_error(source: Source, layouts: Mapping[str, Layout]) -> LogError:
    with pytest.raises(LogError) as info:
        pandas_profile(source, layouts)
    return info.value


# --------------------------------------------------------------------------- a corpus


def _layouts() -> dict[str, Layout]:
    rng = np.random.default_rng(7)
    ref = pd.DataFrame({
        "amount": np.round(rng.normal(50, 20, 400), 1),
        "plan": rng.choice(["basic", "pro", "other", "NaN"], 400),
        "age": rng.integers(18, 80, 400).astype(np.float64),
    })
    pred = rng.random(400)
    v1 = fit_profile(ref[["amount", "plan"]], pred, bins=5)
    v2 = fit_profile(ref, pred ** 2, bins=8)
    return {"v1": Layout("a" * 64, v1), "v2": Layout("b" * 64, v2)}


def _latencies(n: int) -> np.ndarray:
    """Latencies on and beside edges of the histogram, 0 and the extremes."""
    ks = np.array([0, 1, 2, 100, 700, 1500, EDGES.size - 3])
    edge = EDGES[ks]
    values = np.concatenate([
        [0.0, 0.0005, 0.001, 3_600_000.0, 12.5],
        edge, np.nextafter(edge, 0), np.nextafter(edge, np.inf),
    ])
    return np.resize(values, n)


def corpus_frame(layouts: Mapping[str, Layout], n: int = 120) -> pd.DataFrame:
    """Rows of v1, v2 and v3 (no package) over three hours: NaN, unseen categories,
    values exactly on bin edges, error rows of several kinds."""
    v1, v2 = layouts["v1"].profile, layouts["v2"].profile
    amount_edges = list(v1["features"]["amount"]["edges"]) + list(
        v2["features"]["amount"]["edges"])
    pred_edges = list(v1["prediction"]["edges"]) + list(v2["prediction"]["edges"])
    age_edges = list(v2["features"]["age"]["edges"])
    i = np.arange(n)
    amount: list[Any] = [amount_edges[k % len(amount_edges)] for k in i]
    for k in range(0, n, 7):
        amount[k] = ""
    pred = [min(max(pred_edges[k % len(pred_edges)], 0.0), 1.0) for k in i]
    plan = [["basic", "pro", "other", "NaN", "gold", "", "Pro"][k % 7] for k in i]
    errors = ["" if k % 5 else ["timeout", "overload", "bad input"][k % 3] for k in i]
    versions = [["v1", "v2", "v3"][k % 3] for k in i]
    stamps = [(HOUR + pd.Timedelta(minutes=int(k) * 97 % 180, seconds=int(k) % 59,
                                   microseconds=int(k) * 1001)) for k in i]
    return pd.DataFrame({
        "timestamp": [t.strftime("%Y-%m-%dT%H:%M:%S.%fZ") for t in stamps],
        "version": versions,
        "latency_ms": _latencies(n),
        "prediction": ["" if e and k % 2 else p for k, (e, p) in enumerate(
            zip(errors, pred, strict=True))],
        "error": errors,
        "request_id": ["" if k % 4 == 0 else f"r{k}" for k in i],
        "amount": amount,
        "plan": plan,
        "age": [age_edges[k % len(age_edges)] if k % 6 else "" for k in i],
    })


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = frame.astype(object).map(lambda v: repr(v) if isinstance(v, float) else str(v))
    text.to_csv(path, index=False)
    return path


def write_parquet(path: Path, frame: pd.DataFrame) -> Path:
    """The frame with typed columns (numbers as float64, NaN where empty)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    typed = frame.copy()
    for col in ("latency_ms", "prediction", "amount", "age"):
        if col in typed:
            typed[col] = pd.to_numeric(typed[col].replace("", np.nan), errors="coerce")
    typed["timestamp"] = pd.to_datetime(typed["timestamp"], utc=True)
    if "plan" in typed:
        typed["plan"] = typed["plan"].replace("", None)
    table = pa.Table.from_pandas(typed, preserve_index=False)
    pq.write_table(table, path, coerce_timestamps="us", allow_truncated_timestamps=True)
    return path


@pytest.fixture(scope="module")
def layouts() -> dict[str, Layout]:
    return _layouts()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, layouts: dict[str, Layout]
           ) -> list[Source]:
    """The same rows as CSV with request ids and as Parquet without, and a CSV of v3 only
    without feature columns."""
    root = tmp_path_factory.mktemp("logs")
    frame = corpus_frame(layouts)
    only_v3 = frame[frame["version"] == "v3"].drop(columns=["amount", "plan", "age"])
    return [
        Source(write_csv(root / "a.csv", frame)),
        Source(write_parquet(root / "b.parquet", frame.drop(columns=["request_id"]))),
        Source(write_csv(root / "c.csv", only_v3)),
    ]


@pytest.fixture(scope="module")
def duck() -> Iterator[DuckEngine]:
    with DuckEngine(memory_limit="256MB", threads=1) as engine:
        yield engine


def assert_same(left: pd.DataFrame, right: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(normalized(left), normalized(right))


# --------------------------------------------------------------------------- identity


def test_the_corpus_has_what_it_claims(corpus: list[Source], layouts: dict[str, Layout]
                                       ) -> None:
    """The long form holds every kind of count the engines must agree on."""
    long = pandas_profile(corpus[0], layouts)
    measures = set(long["measure"])
    assert measures == {"rows", "first_us", "last_us", "error", "with_id", "latency",
                        "latency_sum_us", "prediction", "feature"}
    assert set(long["version"]) == {"v1", "v2", "v3"}
    assert long["hour"].nunique() == 3
    assert set(long.loc[long["version"] == "v3", "package_sha256"]) == {""}
    assert not (long["measure"].isin(["prediction", "feature"]) & (long["version"] == "v3")).any()
    plan = long[(long["key"] == "plan") & (long["version"] == "v1")]
    n_categories = len(layouts["v1"].profile["features"]["plan"]["categories"])
    assert {n_categories, n_categories + 1} <= set(plan["bucket"])  # unseen and missing
    assert long.loc[long["measure"] == "latency", "bucket"].min() == 0
    assert set(long.loc[long["measure"] == "error", "key"]) == {"timeout", "overload",
                                                                "bad input"}


def test_duckdb_equals_pandas_on_the_corpus(corpus: list[Source], layouts: dict[str, Layout],
                                            duck: DuckEngine) -> None:
    got = duck.profile(corpus, layouts)
    assert list(got) == corpus
    for source in corpus:
        assert_same(got[source], pandas_profile(source, layouts))


def test_every_latency_edge_lands_in_numpys_bucket(tmp_path: Path, duck: DuckEngine) -> None:
    """Each edge, its neighbours below and above: the bucket searchsorted gives."""
    values = np.concatenate([EDGES, np.nextafter(EDGES, 0), np.nextafter(EDGES, np.inf)])
    values = values[values <= 3_600_000.0]
    n = values.size
    frame = pd.DataFrame({
        "timestamp": pd.Timestamp("2026-03-01T05:00:00Z"), "version": "v1",
        "latency_ms": values, "prediction": 0.5, "error": "",
    })
    source = Source(tmp_path / "edges.parquet")
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), source.path)
    got = duck.profile([source], {})[source]
    assert_same(got, pandas_profile(source, {}))
    assert int(got.loc[got["measure"] == "latency", "value"].sum()) == n


# --------------------------------------------------------------------------- errors


def _hostile(root: Path, frame: pd.DataFrame, edit: Any, name: str = "bad.csv") -> Source:
    return Source(write_csv(root / name, edit(frame.copy())))


def _set(row: int, column: str, value: Any) -> Any:
    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value
        return frame
    return edit


HOSTILE = {
    "latency-text": (_set(3, "latency_ms", "fast"), "row 4, column latency_ms"),
    "latency-negative": (_set(9, "latency_ms", -2.0), "row 10, column latency_ms"),
    "latency-huge": (_set(2, "latency_ms", 1e12), "row 3, column latency_ms"),
    "timestamp": (_set(5, "timestamp", "yesterday noon"), "row 6, column timestamp"),
    "future": (_set(5, "timestamp", "2099-01-01T00:00:00Z"), "row 6, column timestamp"),
    "prediction-high": (_set(1, "prediction", 1.5), "row 2, column prediction"),
    "prediction-missing": (_set(1, "prediction", ""), "row 2, column prediction"),
    "feature-text": (_set(1, "amount", "lots"), "row 2, column amount"),
    "missing-column": (lambda f: f.drop(columns=["latency_ms"]), "header"),
    "package-column": (lambda f: f.drop(columns=["age"]), "header"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_duckdb_refuses_what_pandas_refuses(case: str, tmp_path: Path,
                                            layouts: dict[str, Layout], duck: DuckEngine
                                            ) -> None:
    edit, location = HOSTILE[case]
    source = _hostile(tmp_path, corpus_frame(layouts), edit)
    expected = pandas_error(source, layouts)
    with pytest.raises(LogError) as info:
        duck.profile([source], layouts)
    assert (info.value.source, info.value.location) == (str(source.path), location)
    assert info.value.as_dict() == expected.as_dict()


def test_errors_name_the_log_file_and_its_row(tmp_path: Path, layouts: dict[str, Layout],
                                              duck: DuckEngine) -> None:
    """A grown file's new lines, read from a copy, are named in the log file."""
    copy = _hostile(tmp_path, corpus_frame(layouts), _set(3, "latency_ms", "fast"), "new.csv")
    source = Source(copy.path, shown=tmp_path / "day.csv", row_offset=1000)
    with pytest.raises(LogError) as info:
        duck.profile([source], layouts)
    assert info.value.source == str(tmp_path / "day.csv")
    assert info.value.location == "row 1004, column latency_ms"


# --------------------------------------------------------------------------- random frames


_FLOATS = st.one_of(
    st.sampled_from([0.0, 0.25, 0.5, 1.0, 50.0]),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.just(float("nan")),
)


@st.composite
def random_logs(draw: Any, layouts: Mapping[str, Layout]) -> pd.DataFrame:
    n = draw(st.integers(min_value=1, max_value=40))
    edges = list(layouts["v2"].profile["features"]["amount"]["edges"])
    cats = list(layouts["v2"].profile["features"]["plan"]["categories"])
    rows = []
    for _ in range(n):
        error = draw(st.sampled_from(["", "", "", "timeout", "crash"]))
        prediction = draw(st.one_of(st.floats(0.0, 1.0), st.sampled_from(
            layouts["v2"].profile["prediction"]["edges"])))
        rows.append({
            "timestamp": (HOUR + pd.Timedelta(seconds=draw(st.integers(0, 5 * 3600)))
                          ).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "version": draw(st.sampled_from(["v1", "v2", "v3"])),
            "latency_ms": draw(st.one_of(st.floats(0.0, 3_600_000.0),
                                         st.sampled_from(list(EDGES[:50])))),
            "prediction": "" if error and draw(st.booleans()) else prediction,
            "error": error,
            "request_id": draw(st.sampled_from(["", "a", "b"])),
            "amount": draw(st.one_of(_FLOATS, st.sampled_from(edges))),
            "plan": draw(st.sampled_from([*cats, "unseen", ""])),
            "age": draw(_FLOATS),
        })
    frame = pd.DataFrame(rows)
    frame["amount"] = frame["amount"].map(lambda v: "" if v != v else v)
    frame["age"] = frame["age"].map(lambda v: "" if v != v else v)
    return frame


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_duckdb_equals_pandas_on_random_logs(data: st.DataObject, tmp_path: Path,
                                             layouts: dict[str, Layout], duck: DuckEngine
                                             ) -> None:
    frame = data.draw(random_logs(layouts))
    as_parquet = data.draw(st.booleans())
    path = tmp_path / ("r.parquet" if as_parquet else "r.csv")
    (write_parquet if as_parquet else write_csv)(path, frame)
    source = Source(path)
    assert_same(duck.profile([source], layouts)[source], pandas_profile(source, layouts))
    path.unlink()


def test_memory_limit_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYREADY_DUCKDB_MEMORY", "300MB")
    with DuckEngine() as engine:
        assert engine.memory_limit == "300MB"
        spill = engine._spill
        assert spill.is_dir()
    assert not spill.exists()


def test_a_quoted_empty_category_is_an_unseen_value_not_a_missing_one(
        tmp_path: Path, layouts: dict[str, Layout], duck: DuckEngine) -> None:
    """``""`` is an empty text (pyarrow's reading), an empty field is missing."""
    path = tmp_path / "quoted.csv"
    path.write_text(
        "timestamp,version,latency_ms,prediction,error,amount,plan\n"
        '2026-03-01T00:00:00Z,v1,1.0,0.5,,1.0,""\n'
        "2026-03-01T00:00:00Z,v1,1.0,0.5,,2.0,\n"
        '2026-03-01T00:00:00Z,v1,1.0,0.5,"",3.0,"basic"\n', encoding="utf-8")
    source = Source(path)
    want = pandas_profile(source, layouts)
    plan = want[want["key"] == "plan"].set_index("bucket")["value"].to_dict()
    n = len(layouts["v1"].profile["features"]["plan"]["categories"])
    assert plan[n] == 1 and plan[n + 1] == 1  # one unseen (""), one missing
    assert_same(duck.profile([source], layouts)[source], want)


# --------------------------------------------------------------------------- Spark


def spark_missing() -> str | None:
    """Why Spark cannot run here, or None."""
    if shutil.which("java") is None:
        return "no Java runtime (scripts/test.sh installs openjdk-17-jre-headless with apt-get)"
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (requirements-dev.txt)"
    return None


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkEngine]:
    """One local session for the module (a session takes seconds to start)."""
    reason = spark_missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Spark must run under CI: {reason}")
        pytest.skip(reason)
    with SparkEngine("local[2]") as engine:
        yield engine


@given(st.one_of(st.from_regex(TIMESTAMP_PATTERN, fullmatch=True),
                 st.text(alphabet="0123456789-:T .Z+", max_size=30)))
def test_the_spark_timestamp_parts_read_the_timestamp_pattern(text: str) -> None:
    """Spark takes timestamps apart with a pattern matching exactly the loaders' one."""
    assert bool(re.fullmatch(TIMESTAMP_PATTERN, text)) == bool(re.match(TIMESTAMP_PARTS, text))


def test_spark_equals_pandas_on_the_corpus(corpus: list[Source], layouts: dict[str, Layout],
                                           spark: SparkEngine) -> None:
    got = spark.profile(corpus, layouts)
    for source in corpus:
        assert_same(got[source], pandas_profile(source, layouts))


def test_spark_puts_every_latency_edge_in_numpys_bucket(tmp_path: Path, spark: SparkEngine
                                                       ) -> None:
    values = np.concatenate([EDGES, np.nextafter(EDGES, 0), np.nextafter(EDGES, np.inf)])
    frame = pd.DataFrame({
        "timestamp": pd.Timestamp("2026-03-01T05:00:00Z"), "version": "v1",
        "latency_ms": values[values <= 3_600_000.0], "prediction": 0.5, "error": "",
    })
    source = Source(tmp_path / "edges.parquet")
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), source.path)
    assert_same(spark.profile([source], {})[source], pandas_profile(source, {}))


SPARK_HOSTILE = ["latency-text", "latency-huge", "timestamp", "future", "prediction-missing",
                 "feature-text", "missing-column", "package-column"]


def test_spark_refuses_what_pandas_refuses(tmp_path: Path, layouts: dict[str, Layout],
                                          spark: SparkEngine) -> None:
    for case in SPARK_HOSTILE:
        edit, location = HOSTILE[case]
        source = _hostile(tmp_path, corpus_frame(layouts), edit, f"{case}.csv")
        expected = pandas_error(source, layouts)
        with pytest.raises(LogError) as info:
            spark.profile([source], layouts)
        assert info.value.location == location, case
        assert info.value.as_dict() == expected.as_dict(), case


def _package(models: Path, version: str, layout: Layout) -> None:
    """A package folder as the job reads it: a manifest (hashed) and the profile."""
    folder = models / version
    folder.mkdir(parents=True)
    (folder / "MANIFEST.json").write_text(json.dumps({"version": version}), encoding="utf-8")
    (folder / "reference_profile.json").write_text(json.dumps(layout.profile), encoding="utf-8")


def test_the_cluster_job_profiles_a_parquet_dataset(tmp_path: Path, layouts: dict[str, Layout],
                                                    spark: SparkEngine) -> None:
    """A folder of Parquet files, profiled as one dataset, written and read back: the
    pandas profiles of its files, merged."""
    models, logs = tmp_path / "models", tmp_path / "logs"
    for version, layout in layouts.items():
        _package(models, version, layout)
    found = layouts_in(models)
    assert {v: (lay.package_sha256 != "", lay.profile) for v, lay in found.items()} == {
        v: (True, lay.profile) for v, lay in layouts.items()}
    frame = corpus_frame(found)
    files = []
    for day, part in enumerate((frame.iloc[:70], frame.iloc[70:])):
        path = logs / f"day={day}" / "part.parquet"
        write_parquet(path, part)
        files.append(Source(path))
    want = merge(*(pandas_profile(f, found) for f in files))
    got = profile_dataset(spark, str(logs), found)
    assert_same(got, want)
    out = tmp_path / "profiles"
    write_long_form(spark, got, str(logs), str(out))
    back = long_form_from_parquet(out)
    assert list(back) == [str(logs)]
    assert_same(back[str(logs)], want)
    # and into a profile store, as `deployready ingest --from-profiles` loads it
    store = ProfileStore(tmp_path / "profiles.db")
    assert import_profiles(store, out, found)[:2] == ([str(logs)], [])
    assert_same(store.counts(), want)


def test_the_cluster_job_names_the_file_and_row_of_a_bad_value(
        tmp_path: Path, layouts: dict[str, Layout], spark: SparkEngine) -> None:
    logs = tmp_path / "logs"
    frame = corpus_frame(layouts)
    write_parquet(logs / "a.parquet", frame.iloc[:50])
    bad = frame.iloc[50:].reset_index(drop=True)
    bad.loc[6, "latency_ms"] = -1.0
    write_parquet(logs / "b.parquet", bad)
    with pytest.raises(LogError) as info:
        profile_dataset(spark, str(logs), layouts)
    assert info.value.source is not None and info.value.source.endswith("b.parquet")
    assert info.value.location == "row 7, column latency_ms"
    assert info.value.message == "negative latency: -1.0"


def test_every_engine_is_reached_by_its_name() -> None:
    """``deployready ingest --engine duckdb|spark`` gets these engines (Spark's session
    starts on first use, so creating it here costs nothing)."""
    duck, spark = get_engine("duckdb"), get_engine("spark")
    assert isinstance(duck, DuckEngine) and duck.name == "duckdb"
    assert isinstance(spark, SparkEngine) and spark.name == "spark"
    duck.close()  # type: ignore[attr-defined]
