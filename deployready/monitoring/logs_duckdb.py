"""The DuckDB engine of :class:`deployready.monitoring.logs.ProductionLogs`.

Files are scanned in place (CSV read as text, values cast in SQL), so logs larger than
memory work. Validation mirrors :func:`deployready.monitoring.logs_file.read_log_file` rule for
rule; percentiles are ``quantile_cont`` (numpy's default linear interpolation) and bin
counts are compare-and-count against the stored edges, so the numbers match the pandas
engine. ``duckdb`` itself is imported only when a :class:`DuckLogs` is created.

A CSV file a live writer holds (:class:`~deployready.monitoring.logs_live.FileState` ``live``)
can grow while DuckDB scans it, and DuckDB cannot be told to stop at a byte offset: its
finished lines (``readable`` bytes) are copied into a private temporary folder and the
copy is scanned — errors still name the original file. Only the files of running
servers are copied (one day's file each); the folder goes when the reader is closed or
collected.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import weakref
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deployready.errors import LogError
from deployready.monitoring.logs_live import FileState, copy_ranges
from deployready.monitoring.logs_schema import (
    ID_COUNT_COLUMNS,
    WINDOW_COLUMNS,
    BinCounts,
    Kind,
    _empty_counts,
    _empty_id_counts,
    _empty_windows,
    _summary,
    check_header,
    csv_read_error,
    read_header,
    row_error,
)
from deployready.monitoring.logs_sql import (
    EXTRA_COLUMN,
    STATS,
    categorical_bins,
    csv_scan,
    duckdb_read_error,
    file_select,
    from_cumulative,
    literal,
    quote,
    stats_of,
    validation_rules,
)


class DuckLogs:
    """The DuckDB engine: files scanned in place, one typed view over all of them."""

    def __init__(self, files: Sequence[Path], features: Mapping[str, Kind] | None,
                 states: Mapping[Path, FileState] | None = None) -> None:
        import duckdb

        self.files = list(files)
        self.features = dict(features or {})
        self._error: type[Exception] = duckdb.Error
        #: the file DuckDB scans for each log file: itself, or a copy of what a live
        #: writer has finished
        self._scanned: dict[Path, Path] = {p: p for p in self.files}
        self._snapshots: Path | None = None
        self._cleanup: Any = None
        self.con = duckdb.connect()
        try:
            for i, path in enumerate(self.files):
                state = (states or {}).get(path)
                if state is not None and state.live and path.suffix.lower() != ".parquet":
                    self._scanned[path] = self._snapshot(path, state, i)
            self.con.execute("SET TimeZone = 'UTC'")
            self.con.execute(f"SET temp_directory = {literal(tempfile.gettempdir())}")
            self._views: dict[Path, str] = {}
            self._headers: dict[Path, list[Any]] = {}
            for i, path in enumerate(self.files):
                view = f"file{i}"
                self._fetch(path, f"CREATE VIEW {view} AS {self._select_of(path)}")
                self._views[path] = view
            if self._views:
                union = " UNION ALL ".join(f"SELECT * FROM {v}" for v in self._views.values())
                self.con.execute(f"CREATE VIEW logs AS {union}")
        except BaseException:
            self.close()
            raise
        self._validated = False

    def _snapshot(self, path: Path, state: FileState, i: int) -> Path:
        if self._snapshots is None:
            self._snapshots = Path(tempfile.mkdtemp(prefix="deployready-live-logs-"))
            self._cleanup = weakref.finalize(self, shutil.rmtree, self._snapshots, True)
        copy = self._snapshots / f"{i}-{path.name}"
        try:
            copy_ranges(path, copy, [(0, state.readable)])
        except OSError as exc:
            raise LogError(f"cannot read: {exc}", source=path, expected="CSV") from exc
        return copy

    def close(self) -> None:
        self.con.close()
        if self._cleanup is not None:
            self._cleanup()

    def _fetch(self, path: Path | None, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Run ``sql``; a DuckDB error (a CSV row it cannot parse...) becomes a LogError."""
        try:
            return list(self.con.execute(sql, list(params)).fetchall())
        except self._error as exc:
            raise self._read_error(path, exc) from exc

    def _read_error(self, path: Path | None, exc: Exception) -> LogError:
        text = str(exc)
        if path is None:  # a query over every file: DuckDB names the file it could not read
            named = re.search(r"^\s*file = (.+)$", text, re.MULTILINE)
            found = [p for p in self.files
                     if named and str(self._scanned[p]) == named.group(1).strip()]
            path = found[0] if found else (self.files[0].parent if self.files else None)
        return duckdb_read_error(path, text)

    def _select_of(self, path: Path) -> str:
        fields = self._headers[path] = read_header(path)
        check_header(path, fields, list(self.features))
        return file_select(path, self._scanned[path], fields, self.features)

    def _extra_field_row(self, path: Path) -> int | None:
        """The first data row with one field more than the header, ending in an empty
        one: DuckDB reads ``a,b,c,`` under a 3-column header as a, b, c, where pyarrow
        refuses it. Found by declaring one more column with NULL padding and an
        impossible null string: only such rows fill it."""
        fields = self._headers[path]
        try:
            rows = self._fetch(
                path,
                f"SELECT rn FROM (SELECT row_number() OVER () AS rn, * FROM "
                f"{csv_scan(self._scanned[path], fields, extra=True)}) "
                f"WHERE {quote(EXTRA_COLUMN)} IS NOT NULL "
                "ORDER BY rn LIMIT 1",
            )
        except LogError as exc:  # even more fields: count the header without our column
            message = re.sub(r"the header has \d+", f"the header has {len(fields)}",
                             exc.message)
            raise LogError(message, source=path, location=exc.location,
                           expected=exc.expected) from exc
        return int(rows[0][0]) if rows else None

    def validate(self) -> None:
        if self._validated or not self.files:
            return
        rules = validation_rules(self.features)
        aggs = ", ".join(
            f"count(*) FILTER (WHERE coalesce({c}, false)) AS r{i}"
            for i, (c, *_) in enumerate(rules)
        )
        for path, view in self._views.items():
            counts = self._fetch(path, f"SELECT count(*), {aggs} FROM {view}")[0]
            if path.suffix.lower() != ".parquet":  # after the read DuckDB itself refuses
                row = self._extra_field_row(path)
                if row is not None:
                    n = len(self._headers[path])
                    raise csv_read_error(path, f"Expected {n} columns, got {n + 1}", row)
            for i, (cond, column, raw, message, expected) in enumerate(rules):
                n = counts[1 + i]
                if n:
                    first = self._fetch(
                        path,
                        f"SELECT rn, {raw} FROM (SELECT row_number() OVER () AS rn, * FROM "
                        f"{view}) WHERE coalesce({cond}, false) ORDER BY rn LIMIT 1",
                    )
                    rn, value = first[0] if first else (0, None)
                    raise row_error(path, rn, column, message, value, n, expected)
        self._validated = True

    # ---------------------------------------------------------------- aggregates
    def _where(
        self,
        version: str | None,
        start: pd.Timestamp | None,
        end: pd.Timestamp | None,
        ok_only: bool = False,
    ) -> tuple[str, list[Any]]:
        conds, params = ["TRUE"], []
        if version is not None:
            conds.append("version = ?")
            params.append(version)
        if start is not None:
            conds.append("ts >= ?")
            params.append(start.to_pydatetime())
        if end is not None:
            conds.append("ts < ?")
            params.append(end.to_pydatetime())
        if ok_only:
            conds.append("error = ''")
        return " AND ".join(conds), params

    def _run(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        self.validate()
        if not self.files:
            return []
        return self._fetch(None, sql, params)

    def versions(self) -> dict[str, dict[str, Any]]:
        rows = self._run(
            "SELECT version, count(*), min(ts), max(ts) FROM logs "
            "GROUP BY version ORDER BY version",
            [],
        )
        return {
            v: {"rows": int(n), "first": pd.Timestamp(a), "last": pd.Timestamp(b)}
            for v, n, a, b in rows
        }

    def day_counts(
        self, version: str | None, start: pd.Timestamp | None, end: pd.Timestamp | None
    ) -> pd.DataFrame:
        where, params = self._where(version, start, end)
        rows = self._run(
            "SELECT CAST(date_trunc('day', ts) AS DATE) AS d, count(*), "
            f"count(*) FILTER (WHERE error <> '') FROM logs WHERE {where} GROUP BY d ORDER BY d",
            params,
        )
        if not rows:
            return _empty_counts()
        out = pd.DataFrame(rows, columns=["day", "rows", "errors"]).set_index("day")
        out["ok"] = out["rows"] - out["errors"]
        return out[["rows", "ok", "errors"]].astype(np.int64)

    def id_counts(
        self, version: str | None, start: pd.Timestamp | None, end: pd.Timestamp | None
    ) -> pd.DataFrame:
        where, params = self._where(version, start, end, ok_only=True)
        rows = self._run(
            "SELECT CAST(date_trunc('day', ts) AS DATE) AS d, count(*), count(request_id) "
            f"FROM logs WHERE {where} GROUP BY d ORDER BY d",
            params,
        )
        if not rows:
            return _empty_id_counts()
        out = pd.DataFrame(rows, columns=["day", "ok", "with_id"]).set_index("day")
        out["no_id"] = out["ok"] - out["with_id"]
        return out[ID_COUNT_COLUMNS].astype(np.int64)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` over the validated ``logs`` view (joins with other evidence)."""
        return self._run(sql, list(params))

    def error_kinds(
        self, version: str | None, start: pd.Timestamp | None, end: pd.Timestamp | None
    ) -> dict[str, int]:
        where, params = self._where(version, start, end)
        rows = self._run(
            f"SELECT error, count(*) FROM logs WHERE {where} AND error <> '' "
            "GROUP BY error ORDER BY error",
            params,
        )
        return {str(k): int(v) for k, v in rows}

    def latency_windows(
        self,
        version: str | None,
        delta: pd.Timedelta,
        start: pd.Timestamp | None,
        end: pd.Timestamp | None,
    ) -> pd.DataFrame:
        where, params = self._where(version, start, end)
        micros = int(delta / pd.Timedelta(microseconds=1))
        rows = self._run(
            f"SELECT time_bucket(to_microseconds({micros}), ts) AS w, {STATS} "
            f"FROM logs WHERE {where} GROUP BY w ORDER BY w",
            params,
        )
        if not rows:
            return _empty_windows()
        out = pd.DataFrame(
            [{"window_start": r[0], **stats_of(r[1:])} for r in rows], columns=WINDOW_COLUMNS
        )
        out["window_start"] = pd.to_datetime(out["window_start"], utc=True).astype(
            "datetime64[us, UTC]"
        )
        for c in ("p50", "p95", "p99", "max", "mean"):
            out[c] = out[c].astype(np.float64)
        return out

    def latency_summary(
        self, version: str | None, start: pd.Timestamp | None, end: pd.Timestamp | None
    ) -> dict[str, Any]:
        where, params = self._where(version, start, end)
        rows = self._run(f"SELECT {STATS} FROM logs WHERE {where}", params)
        if not rows:
            return _summary(np.array([]), np.array([], dtype=bool))
        return stats_of(rows[0])

    def bin_counts(
        self,
        profile: Mapping[str, Any],
        version: str | None,
        start: pd.Timestamp | None,
        end: pd.Timestamp | None,
    ) -> dict[date, BinCounts]:
        where, params = self._where(version, start, end, ok_only=True)
        index = {name: i for i, name in enumerate(self.features)}
        specs = profile["features"]
        aggs: list[str] = ["count(*)"]
        layout: list[tuple[str, int]] = []  # (feature or "", number of aggregates)

        def numeric(col: str, edges: Sequence[float]) -> int:
            for e in edges:
                aggs.append(f"count(*) FILTER (WHERE {col} <= {float(e)!r}::DOUBLE)")
            aggs.append(f"count(*) FILTER (WHERE {col} IS NULL OR isnan({col}))")
            return len(edges) + 1

        for name, spec in specs.items():
            if spec["kind"] == "numeric" and name in index:
                layout.append((name, numeric(f"f{index[name]}", spec["edges"])))
        pred_edges = profile["prediction"]["edges"] if "prediction" in profile else []
        n_pred = numeric("prediction", pred_edges)
        rows = self._run(
            "SELECT CAST(date_trunc('day', ts) AS DATE) AS d, "
            + ", ".join(aggs)
            + f" FROM logs WHERE {where} GROUP BY d ORDER BY d",
            params,
        )
        out: dict[date, BinCounts] = {}
        cat_counts = self._categorical(specs, index, where, params)
        for row in rows:
            day, total, values = row[0], int(row[1]), list(row[2:])
            feats: dict[str, np.ndarray] = {}
            pos = 0
            for name, n in layout:
                feats[name] = from_cumulative(values[pos : pos + n], total)
                pos += n
            pred = from_cumulative(values[pos : pos + n_pred], total)
            for name, spec in specs.items():
                if spec["kind"] == "categorical" and name in index:
                    feats[name] = categorical_bins(
                        spec["categories"], cat_counts.get((day, name), {})
                    )
            ordered = {name: feats[name] for name in specs if name in feats}
            out[day] = BinCounts(total, ordered, pred)
        return out

    def _categorical(
        self, specs: Mapping[str, Any], index: Mapping[str, int], where: str, params: list[Any]
    ) -> dict[tuple[date, str], dict[str | None, int]]:
        found: dict[tuple[date, str], dict[str | None, int]] = {}
        for name, spec in specs.items():
            if spec["kind"] != "categorical" or name not in index:
                continue
            col = f"f{index[name]}"
            rows = self._run(
                f"SELECT CAST(date_trunc('day', ts) AS DATE) AS d, {col}, count(*) FROM logs "
                f"WHERE {where} GROUP BY d, {col}",
                params,
            )
            for day, value, n in rows:
                found.setdefault((day, name), {})[value] = int(n)
        return found
