"""The DuckDB profile engine: the long form computed in SQL over each file in place.

A file is opened and validated by the DuckDB log engine
(:class:`~deployready.monitoring.logs_duckdb.DuckLogs`: the same CSV scan, casts, rules
and error wording as the log readers), its typed rows are written once to a temporary
table, and the aggregates of :mod:`~deployready.monitoring.profiles.sql` run over that.

Memory: ``memory_limit`` (parameter, else ``$DEPLOYREADY_DUCKDB_MEMORY``, e.g. ``"2GB"``;
DuckDB's default — 80 % of RAM — when neither is set) bounds what DuckDB holds; beyond it
the temporary table and the aggregates spill to a private folder under ``temp_dir``
(default: the system's temporary folder), removed when the engine is closed or collected. So a log
set larger than the memory given to DuckDB is profiled, only slower.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from deployready.monitoring.logs_duckdb import DuckLogs
from deployready.monitoring.logs_live import FileState
from deployready.monitoring.logs_schema import read_header
from deployready.monitoring.profiles.engine import EngineName, FileEngine, Source
from deployready.monitoring.profiles.frame import Layout
from deployready.monitoring.profiles.sources import check_columns, file_features
from deployready.monitoring.profiles.sql import (
    base_select,
    bin_specs,
    bins_select,
    bucket_bounds,
    bucket_select,
    errors_select,
    long_form,
)

__all__ = ["MEMORY_ENV", "DuckEngine"]

MEMORY_ENV = "DEPLOYREADY_DUCKDB_MEMORY"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class DuckEngine(FileEngine):
    """Profiles files with DuckDB (see the module docstring)."""

    name: EngineName = "duckdb"

    def __init__(self, memory_limit: str | None = None, temp_dir: str | Path | None = None,
                 threads: int | None = None) -> None:
        self.memory_limit = memory_limit or os.environ.get(MEMORY_ENV) or None
        self.threads = threads
        self._spill = Path(tempfile.mkdtemp(prefix="deployready-duckdb-",
                                            dir=None if temp_dir is None else str(temp_dir)))
        #: the spill folder goes on close, or when the engine is collected
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._spill, True)

    def close(self) -> None:
        self._cleanup()

    def _profile(
        self, source: Source, state: FileState, layouts: Mapping[str, Layout]
    ) -> pd.DataFrame:
        names = [name for name, _ in read_header(source.path)]
        features = file_features(names, layouts)
        logs = DuckLogs([source.path], features, {source.path: state})
        try:
            self._configure(logs)
            logs.validate()
            return self._aggregate(logs, source, names, features, layouts)
        finally:
            logs.close()

    def _configure(self, logs: DuckLogs) -> None:
        con = logs.con
        con.execute(f"SET temp_directory = {_literal(str(self._spill))}")
        con.execute("SET preserve_insertion_order = false")
        if self.memory_limit:
            con.execute(f"SET memory_limit = {_literal(self.memory_limit)}")
        if self.threads:
            con.execute(f"SET threads = {int(self.threads)}")

    def _aggregate(self, logs: DuckLogs, source: Source, names: list[str],
                   features: Mapping[str, Any], layouts: Mapping[str, Layout]
                   ) -> pd.DataFrame:
        cols = ", ".join(f"f{i}" for i in range(len(features)))
        fetch = logs._fetch
        fetch(source.path,
              "CREATE TEMP TABLE t AS SELECT version, "
              "epoch_us(date_trunc('hour', ts)) // 1000000 AS hour, epoch_us(ts) AS us, "
              "error, latency, prediction, request_id IS NOT NULL AS has_id"
              f"{', ' + cols if cols else ''} FROM file0")
        versions = [str(v) for (v,) in fetch(source.path, "SELECT DISTINCT version FROM t")]
        check_columns(source, names, versions, layouts)
        base = fetch(source.path, base_select("t"))
        errors = fetch(source.path, errors_select("t"))
        b, lo, hi = zip(*bucket_bounds(), strict=True)
        logs.con.register("bounds", pa.table({"b": b, "lo": lo, "hi": hi}))
        latency = fetch(source.path, bucket_select("t", "bounds"))
        columns = {name: (f"f{i}", kind) for i, (name, kind) in enumerate(features.items())}
        specs = {v: bin_specs(layouts[v], columns) for v in versions if v in layouts}
        bins = {v: fetch(source.path, bins_select("t", v, s, "duckdb"))
                for v, s in specs.items()}
        return long_form(base, errors, latency, bins, specs, layouts)
