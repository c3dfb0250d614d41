"""The DuckDB reader of ground-truth labels: the files scanned in place (CSV as text,
Parquet as stored, JSON lines as JSON values), every rule of
:func:`deployready.performance.labels.read_label_file` one SQL condition, in its order
and wording, and the de-duplication of :func:`deployready.performance.labels.dedupe` as
a view — so large label files are never loaded into memory.

:func:`register_labels` creates, on a DuckDB connection, the view ``labels`` (request_id,
label, labeled_at, file, fidx, rn: one row per request id) over the validated files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from deployready.errors import LabelError
from deployready.monitoring.logs_schema import INSTANT_FORMAT, TIMESTAMP_PATTERN, future_limit
from deployready.monitoring.logs_sql import csv_scan, literal, quote
from deployready.performance.labels import (
    FILE_EXPECTED,
    check_columns,
    conflict_error,
    csv_header,
    row_error,
)

_CLASS_SQL = "CASE folded WHEN '1' THEN 1.0 WHEN 'true' THEN 1.0 ELSE 0.0 END"


def _rules() -> list[tuple[str, str]]:
    """(condition, shown value) of each rule of ``labels.RULES``, in its order."""
    limit = future_limit().strftime(INSTANT_FORMAT)
    return [
        ("id_text IS NULL OR id_text = ''", "id_text"),
        ("label_text IS NULL OR trim(label_text) = ''", "label_text"),
        ("folded <> '' AND folded NOT IN ('0', '1', 'true', 'false')", "label_text"),
        ("ts IS NULL", "ts_text"),
        (f"ts > CAST({literal(limit)} AS TIMESTAMPTZ)",
         f"coalesce(ts_text, strftime(ts, {literal(INSTANT_FORMAT)}))"),
    ]


def _stored_text(name: str, dtype: pa.DataType) -> str:
    """A Parquet column as the text ``labels.cell_text`` makes of its values."""
    q = quote(name)
    if pa.types.is_boolean(dtype):
        return f"CASE WHEN {q} THEN 'true' WHEN NOT {q} THEN 'false' END"
    if pa.types.is_floating(dtype):
        return (f"CASE WHEN isnan({q}) THEN NULL WHEN {q} = floor({q}) AND isfinite({q}) "
                f"THEN CAST(CAST({q} AS HUGEINT) AS VARCHAR) ELSE CAST({q} AS VARCHAR) END")
    return f"CAST({q} AS VARCHAR)"


def _json_text(name: str) -> str:
    """A JSON value as text: a string as itself, null as NULL, others as written."""
    q = quote(name)
    return (f"CASE json_type({q}) WHEN 'VARCHAR' THEN {q}->>'$' WHEN 'NULL' THEN NULL "
            f"WHEN 'DOUBLE' THEN CASE WHEN CAST({q} AS DOUBLE) = floor(CAST({q} AS DOUBLE)) "
            f"THEN CAST(CAST(CAST({q} AS DOUBLE) AS HUGEINT) AS VARCHAR) "
            f"ELSE CAST({q} AS VARCHAR) END ELSE CAST({q} AS VARCHAR) END")


def _timestamp(text: str) -> str:
    return (f"CASE WHEN regexp_full_match({text}, {literal(TIMESTAMP_PATTERN)}) "
            f"THEN TRY_CAST({text} AS TIMESTAMPTZ) END")


def _source(path: Path) -> tuple[str, str, str, str, str] | None:
    """(scan, id text, label text, labeled_at text, labeled_at timestamp) of one file;
    None for a file without rows."""
    suffix = path.suffix.lower()
    if path.stat().st_size == 0:
        return None
    if suffix == ".jsonl":
        cols = ", ".join(f"{literal(c)}: 'JSON'" for c in ("request_id", "label", "labeled_at"))
        scan = (f"read_json({literal(str(path))}, format = 'newline_delimited', "
                f"columns = {{{cols}}})")
        ts_text = _json_text("labeled_at")
        return scan, _json_text("request_id"), _json_text("label"), ts_text, _timestamp(ts_text)
    if suffix == ".parquet":
        schema = pq.read_schema(path)
        check_columns(path, schema.names)
        types = {f.name: f.type for f in schema}
        scan = f"read_parquet({literal(str(path))})"
        if pa.types.is_timestamp(types["labeled_at"]):
            ts_text, ts = "CAST(NULL AS VARCHAR)", "CAST(labeled_at AS TIMESTAMPTZ)"
        else:
            ts_text = _stored_text("labeled_at", types["labeled_at"])
            ts = _timestamp(ts_text)
        return (scan, _stored_text("request_id", types["request_id"]),
                _stored_text("label", types["label"]), ts_text, ts)
    names = csv_header(path)
    check_columns(path, names)
    with path.open(encoding="utf-8-sig") as fh:
        fh.readline()
        if not fh.read(1).strip():
            return None
    scan = csv_scan(path, [(n, pa.string()) for n in names])
    return (scan, "CAST(request_id AS VARCHAR)", "CAST(label AS VARCHAR)",
            "CAST(labeled_at AS VARCHAR)", _timestamp("CAST(labeled_at AS VARCHAR)"))


def _fetch(con: Any, path: Path, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    import duckdb

    try:
        return list(con.execute(sql, list(params)).fetchall())
    except duckdb.Error as exc:
        reason = " ".join(str(exc).split())[:300]
        raise LabelError(f"cannot read: {reason}", source=path, expected=FILE_EXPECTED) from exc


def _file_view(con: Any, path: Path, fidx: int) -> str | None:
    """The view of one validated file (None: no rows); its first bad row is an error."""
    try:
        source = _source(path)
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        reason = " ".join(str(exc).split())[:300]
        raise LabelError(f"cannot read: {reason}", source=path, expected=FILE_EXPECTED) from exc
    if source is None:
        return None
    scan, id_text, label_text, ts_text, ts = source
    view = f"labels_file{fidx}"
    _fetch(con, path, f"CREATE TEMP VIEW {view} AS SELECT {fidx} AS fidx, "
           f"{literal(str(path))} AS file, row_number() OVER () AS rn, "
           f"{id_text} AS id_text, {label_text} AS label_text, "
           f"lower(trim({label_text})) AS folded, {ts_text} AS ts_text, {ts} AS ts "
           f"FROM {scan}")
    rules = _rules()
    counts = _fetch(con, path, "SELECT " + ", ".join(
        f"count(*) FILTER (WHERE coalesce({cond}, false))" for cond, _ in rules)
        + f" FROM {view}")[0]
    for rule, ((cond, shown), n) in enumerate(zip(rules, counts, strict=True)):
        if n:
            rn, value = _fetch(con, path, f"SELECT rn, {shown} FROM {view} WHERE "
                               f"coalesce({cond}, false) ORDER BY rn LIMIT 1")[0]
            raise row_error(path, int(rn), rule, value, int(n))
    return view


def register_labels(con: Any, files: Sequence[Path]) -> None:
    """Create the view ``labels`` over ``files`` (validated, one label per request id);
    a :class:`LabelError` names the first bad file, row and column, or a conflict."""
    views = [v for i, p in enumerate(files) if (v := _file_view(con, p, i)) is not None]
    if not views:
        con.execute("CREATE TEMP VIEW labels AS SELECT CAST(NULL AS VARCHAR) AS request_id, "
                    "CAST(NULL AS DOUBLE) AS label, CAST(NULL AS TIMESTAMPTZ) AS labeled_at, "
                    "CAST(NULL AS VARCHAR) AS file, 0 AS fidx, CAST(0 AS BIGINT) AS rn "
                    "WHERE false")
        return
    union = " UNION ALL ".join(
        f"SELECT id_text AS request_id, {_CLASS_SQL} AS label, ts AS labeled_at, file, "
        f"fidx, rn FROM {v}" for v in views)
    con.execute(f"CREATE TEMP VIEW labels_all AS {union}")
    window = "OVER (PARTITION BY request_id ORDER BY fidx, rn)"
    clash = con.execute(
        f"SELECT request_id, ff, fr, fl, file, rn, label FROM (SELECT *, "
        f"first_value(label) {window} AS fl, first_value(file) {window} AS ff, "
        f"first_value(rn) {window} AS fr FROM labels_all) WHERE label <> fl "
        "ORDER BY fidx, rn LIMIT 1").fetchall()
    if clash:
        rid, ff, fr, fl, file, rn, label = clash[0]
        raise conflict_error(rid, (ff, int(fr), fl), (file, int(rn), label))
    con.execute(
        "CREATE TEMP VIEW labels AS SELECT request_id, label, labeled_at, file, fidx, rn "
        "FROM (SELECT *, row_number() OVER (PARTITION BY request_id "
        "ORDER BY labeled_at, fidx, rn) AS k FROM labels_all) WHERE k = 1")
