"""Ground-truth labels: the strict loader, the join to logged predictions, both engines
giving the identical frame and error, ``request_id`` optional in the logs, and
``deployready labels import``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from deployready.errors import LabelError
from deployready.monitoring.logs import ProductionLogs
from deployready.performance.join import joined_predictions
from deployready.workspace import Workspace

ENGINES = ("pandas", "duckdb")
REPO = Path(__file__).resolve().parent.parent
HEAD = "timestamp,version,latency_ms,prediction,error,request_id,a\n"
LOG = (HEAD
       + "2026-03-01T10:00:00+00:00,v1.0,1.0,0.25,,r1,1\n"
       + "2026-03-01T11:00:00+00:00,v1.0,1.0,0.75,,r2,1\n"
       + "2026-03-01T12:00:00+00:00,v1.0,1.0,,validation,r3,x\n"
       + "2026-03-02T12:00:00+00:00,v1.0,1.0,0.5,,,1\n"
       + "2026-03-02T13:00:00+00:00,v0.9,1.0,0.5,,r9,1\n"
       + "2026-03-03T09:00:00+00:00,v1.0,1.0,0.125,,7,1\n")
#: a log written before request ids
OLD_LOG = ("timestamp,version,latency_ms,prediction,error,a\n"
           "2026-02-01T10:00:00Z,v1.0,1.0,0.5,,1\n2026-02-01T11:00:00Z,v1.0,1.0,0.5,,1\n")


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    ws = Workspace(tmp_path / "ws")
    ws.production_dir.mkdir(parents=True)
    ws.labels_dir.mkdir(parents=True)
    (ws.production_dir / "predictions-2026-03-01.csv").write_text(LOG)
    (ws.production_dir / "predictions-2026-02-01.csv").write_text(OLD_LOG)
    return ws


def labels(ws: Workspace, name: str, text: str) -> Path:
    path = ws.labels_dir / name
    path.write_text(text)
    return path


def both(ws: Workspace, *args: object) -> pd.DataFrame:
    a = joined_predictions(ws, "v1.0", *args, engine="pandas")  # type: ignore[arg-type]
    b = joined_predictions(ws, "v1.0", *args, engine="duckdb")  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(a.frame, b.frame)
    pd.testing.assert_series_equal(a.no_id, b.no_id)
    assert (a.unmatched, a.files) == (b.unmatched, b.files)
    return a.frame


def both_refuse(ws: Workspace) -> LabelError:
    errors = []
    for engine in ENGINES:
        with pytest.raises(LabelError) as info:
            joined_predictions(ws, "v1.0", engine=engine)  # type: ignore[arg-type]
        errors.append(info.value)
    assert str(errors[0]) == str(errors[1])
    return errors[0]


# --------------------------------------------------------------------------- logs


@pytest.mark.parametrize("engine", ENGINES)
def test_logs_with_and_without_request_ids(ws: Workspace, engine: str) -> None:
    logs = ProductionLogs(ws.production_dir, {"a": "numeric"}, engine)  # type: ignore[arg-type]
    counts = logs.id_counts("v1.0")
    assert [str(d) for d in counts.index] == ["2026-02-01", "2026-03-01", "2026-03-02",
                                              "2026-03-03"]
    assert counts["ok"].tolist() == [2, 2, 1, 1]
    assert counts["with_id"].tolist() == [0, 2, 0, 1]
    assert counts["no_id"].tolist() == [2, 0, 1, 0]
    assert logs.day_counts("v1.0")["rows"].sum() == 7


def test_the_frame_carries_request_ids_na_when_none(ws: Workspace) -> None:
    frame = ProductionLogs(ws.production_dir, {"a": "numeric"}, "pandas").frame("v1.0")
    assert list(frame.columns[:6]) == ["timestamp", "version", "latency_ms", "prediction",
                                       "error", "request_id"]
    assert frame["request_id"].isna().tolist() == [True, True, False, False, False, True,
                                                   False]


@pytest.mark.parametrize("engine", ENGINES)
def test_request_ids_stored_as_floats_are_refused(ws: Workspace, engine: str) -> None:
    from deployready.errors import LogError

    frame = pd.read_csv(ws.production_dir / "predictions-2026-03-01.csv")
    frame["request_id"] = 1.5
    frame.to_parquet(ws.production_dir / "floats.parquet")
    with pytest.raises(LogError, match="column request_id"):
        ProductionLogs(ws.production_dir, {}, engine).validate()  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the join


def test_the_join_in_both_engines(ws: Workspace) -> None:
    labels(ws, "a.csv", "request_id,label,labeled_at\nr1,1,2026-03-05\nzz,0,2026-03-05\n"
                        "r9,1,2026-03-05\n")
    labels(ws, "b.jsonl", '{"request_id":"r1","label":true,"labeled_at":"2026-03-04"}\n'
                          '{"request_id":7,"label":"0","labeled_at":"2026-03-04T00:00Z"}\n')
    frame = both(ws)
    assert frame["request_id"].tolist() == ["r1", "r2", "7"]
    assert frame["label"].tolist()[0] == 1.0 and pd.isna(frame["label"].tolist()[1])
    assert frame["label"].tolist()[2] == 0.0
    assert frame["labeled_at"].tolist()[0] == pd.Timestamp("2026-03-04", tz="UTC")
    assert frame["prediction"].tolist() == [0.25, 0.75, 0.125]
    assert [str(d) for d in frame["day"]] == ["2026-03-01", "2026-03-01", "2026-03-03"]
    assert str(frame["timestamp"].dtype) == "datetime64[ns, UTC]"
    joined = joined_predictions(ws, "v1.0", engine="pandas")
    assert joined.unmatched == 1  # zz; r9 is another version's prediction
    assert joined.no_id.to_dict() == {d: n for d, n in zip(
        pd.to_datetime(["2026-02-01", "2026-03-01", "2026-03-02", "2026-03-03"]).date,
        [2, 0, 1, 0], strict=True)}
    assert joined.labelled == 2
    assert both(ws, "2026-03-02", "2026-03-04")["request_id"].tolist() == ["7"]


def test_no_labels_and_parquet_labels(ws: Workspace) -> None:
    assert both(ws)["label"].isna().all()
    labels(ws, "empty.csv", "")
    labels(ws, "header.csv", "request_id,label,labeled_at\n")
    assert both(ws)["label"].isna().all()
    table = pa.table({"request_id": ["r2"], "label": [True],
                      "labeled_at": pa.array([pd.Timestamp("2026-03-02T00:00:00")],
                                             pa.timestamp("us"))})
    pq.write_table(table, ws.labels_dir / "c.parquet")
    label = both(ws)["label"]
    assert label.isna().tolist() == [True, False, True] and label[1] == 1.0


def test_the_same_label_twice_keeps_the_earliest(ws: Workspace) -> None:
    labels(ws, "a.csv", "request_id,label,labeled_at\nr1,1,2026-03-09\n")
    labels(ws, "b.csv", "request_id,label,labeled_at\nr1,TRUE,2026-03-04\nr1,1,2026-03-06\n")
    assert both(ws)["labeled_at"].tolist()[0] == pd.Timestamp("2026-03-04", tz="UTC")


def test_two_different_labels_name_both_files_and_rows(ws: Workspace) -> None:
    a = labels(ws, "a.csv", "request_id,label,labeled_at\nr2,0,2026-03-05\nr1,1,2026-03-05\n")
    b = labels(ws, "b.csv", "request_id,label,labeled_at\nr1,0,2026-03-05\n")
    err = both_refuse(ws)
    assert err.source == str(b) and err.location == "row 1, column label"
    assert f"{a} row 2" in err.message and "'r1'" in err.message


def test_a_label_before_its_prediction(ws: Workspace) -> None:
    path = labels(ws, "a.csv", "request_id,label,labeled_at\nr2,1,2026-03-01T10:56:00Z\n")
    assert both(ws)["label"].tolist()[1] == 1.0  # 4 minutes early: clock skew
    path.write_text("request_id,label,labeled_at\nr2,1,2026-03-01T10:54:00Z\n")
    err = both_refuse(ws)
    assert err.source == str(path) and err.location == "row 1, column labeled_at"
    assert "'r2'" in err.message and "10:54:00" in err.message and "11:00:00" in err.message


@pytest.mark.parametrize(
    ("name", "text", "where", "words"),
    [
        ("a.csv", "request_id,label\nr1,1\n", "header", "missing column(s) labeled_at"),
        ("a.csv", "request_id,label,labeled_at,Label\nr1,1,2026-03-05,1\n", "header",
         "duplicated column(s) Label, label"),
        ("a.csv", "request_id,label,labeled_at\nr1,1,2026-03-05\n,1,2026-03-05\n",
         "row 2, column request_id", "missing request id"),
        ("a.csv", "request_id,label,labeled_at\nr1,,2026-03-05\n", "row 1, column label",
         "missing label"),
        ("a.csv", "request_id,label,labeled_at\nr1,2,2026-03-05\nr2,yes,2026-03-05\n",
         "row 1, column label", "outside the model's classes: '2' (2 rows in all)"),
        ("a.csv", "request_id,label,labeled_at\nr1,1,yesterday\n", "row 1, column labeled_at",
         "unparseable labeled_at: 'yesterday'"),
        ("a.csv", "request_id,label,labeled_at\nr1,1,1772000000\n", "row 1, column labeled_at",
         "unparseable"),
        ("a.csv", "request_id,label,labeled_at\nr1,1,2999-01-01\n", "row 1, column labeled_at",
         "labeled_at in the future"),
        ("a.jsonl", '{"request_id":"r1","label":0.5,"labeled_at":"2026-03-05"}\n',
         "row 1, column label", "outside the model's classes: '0.5'"),
        ("a.jsonl", '{"request_id":"r1","label":null,"labeled_at":"2026-03-05"}\n',
         "row 1, column label", "missing label"),
        ("a.jsonl", '{"request_id":"r1","label":1}\n', "row 1, column labeled_at",
         "missing or unparseable"),
    ],
)
def test_bad_label_files_name_file_row_and_column(ws: Workspace, name: str, text: str,
                                                  where: str, words: str) -> None:
    path = labels(ws, name, text)
    err = both_refuse(ws)
    assert err.source == str(path) and err.location == where
    assert words in str(err)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_folder_at_a_label_files_name(ws: Workspace, engine: str) -> None:
    (ws.labels_dir / "x.csv").mkdir()
    with pytest.raises(LabelError, match=r"x\.csv: is a folder"):
        joined_predictions(ws, "v1.0", engine=engine)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- import


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "deployready", *args], capture_output=True,
                          text=True, cwd=REPO, timeout=120, check=False)


def test_labels_import(ws: Workspace, tmp_path: Path) -> None:
    src = tmp_path / "batch.csv"
    src.write_text("request_id,label,labeled_at\nr1,1,2026-03-05\n")
    done = run("labels", "import", str(src), "-w", str(ws.root))
    assert done.returncode == 0, done.stderr
    assert (ws.labels_dir / "batch.csv").read_bytes() == src.read_bytes()
    again = run("labels", "import", str(src), "-w", str(ws.root))
    assert again.returncode == 2 and "already stored" in again.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("request_id,label,labeled_at\nr1,maybe,2026-03-05\n")
    refused = run("labels", "import", str(bad), "-w", str(ws.root))
    assert refused.returncode == 2
    assert f"{bad}: row 1, column label" in refused.stderr
    assert sorted(p.name for p in ws.labels_dir.iterdir()) == ["batch.csv"]


# --------------------------------------------------------------------------- remembered


def test_unchanged_labels_are_not_read_again(ws: Workspace,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder whose files are unchanged gives the same labels without reading a file;
    a rewritten or added file is read (every file of the new listing), and a refusal is
    never remembered: the same bad file is refused again, a fixed one accepted."""
    import os

    from deployready.performance import labels as labels_mod

    reads: list[str] = []
    real = labels_mod.read_label_file

    def counted(path: str | Path) -> pd.DataFrame:
        reads.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(labels_mod, "read_label_file", counted)
    labels_mod.LOADED.clear()
    first = labels(ws, "a.csv", "request_id,label,labeled_at\nr1,1,2026-03-05T00:00:00Z\n")
    got = labels_mod.load_labels(ws.labels_dir)
    assert reads == ["a.csv"] and got.frame["request_id"].tolist() == ["r1"]
    again = labels_mod.load_labels(ws.labels_dir)
    assert reads == ["a.csv"] and again is got
    labels(ws, "b.csv", "request_id,label,labeled_at\nr2,0,2026-03-06T00:00:00Z\n")
    assert labels_mod.load_labels(ws.labels_dir).frame["request_id"].tolist() == ["r1", "r2"]
    assert reads == ["a.csv", "a.csv", "b.csv"]
    # the same size and a new mtime: read again (a changed label)
    first.write_text("request_id,label,labeled_at\nr1,0,2026-03-05T00:00:00Z\n")
    os.utime(first, ns=(1, 1))
    assert labels_mod.load_labels(ws.labels_dir).frame["label"].tolist() == [0.0, 0.0]
    bad = labels(ws, "c.csv", "request_id,label,labeled_at\nr3,7,2026-03-06T00:00:00Z\n")
    for _ in range(2):
        with pytest.raises(LabelError, match=r"c\.csv"):
            labels_mod.load_labels(ws.labels_dir)
    assert reads.count("c.csv") == 2
    bad.write_text("request_id,label,labeled_at\nr3,1,2026-03-06T00:00:00Z\n")
    assert len(labels_mod.load_labels(ws.labels_dir).frame) == 3
