"""The Spark profile engine: the long form computed with Spark SQL, locally or on a cluster.

Each file becomes the typed view the DuckDB engine validates (``ts``, ``version``,
``latency``, ``prediction``, ``error``, ``request_id``, ``f<i>`` and the raw text of each
for the messages), checked by the very rules of :mod:`deployready.monitoring.logs_sql`
(Spark's dialect for the timestamp), then reduced by the aggregates of
:mod:`deployready.monitoring.profiles.sql` — plain Spark SQL expressions, no Python UDF,
so the same code runs in ``local[2]`` and on a cluster.

Reading as the log loaders read:

- CSV as text with the header's columns, an empty field NULL and a quoted empty one the
  empty text; a row with more or fewer fields than the header is refused. Numbers are
  read only when their text is one (an optional sign, digits, a point, an exponent, or
  ``inf``/``infinity``/``nan``, spaces around): Java's parser would also take ``1.5d``.
  Timestamps are taken apart by :data:`TIMESTAMP_PATTERN`'s parts and rebuilt in one
  ISO form (a missing time is midnight, no offset is UTC, digits past µs are cut).
- Parquet as stored (nanosecond timestamps read as integers and cut to µs).

Row numbers: a CSV row is ordered by the start of the file split it was read from
(``_metadata.file_block_start``) and ``monotonically_increasing_id()`` within it — the
line order — and numbered by counting the rows before it; a Parquet row by its
``_metadata.row_index``. Spark reads invalid UTF-8 as U+FFFD where the pandas engine
refuses the file: that is the one input the engines read differently.

The session is started once per engine (``master``: parameter, else
``$DEPLOYREADY_SPARK_MASTER``, else ``local[2]``; UTC session time zone, no UI, a local
driver bound to 127.0.0.1) and stopped by :meth:`SparkEngine.close`.
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from deployready.errors import LogError
from deployready.monitoring.logs_live import FileState, copy_ranges
from deployready.monitoring.logs_schema import (
    CSV_EXPECTED,
    Kind,
    check_header,
    csv_read_error,
    read_header,
    row_error,
)
from deployready.monitoring.logs_sql import validation_rules
from deployready.monitoring.profiles.engine import EngineName, FileEngine, Source
from deployready.monitoring.profiles.frame import Layout
from deployready.monitoring.profiles.sources import check_columns, file_features
from deployready.monitoring.profiles.spark_sql import CORRUPT, spark_typed
from deployready.monitoring.profiles.sql import (
    base_select,
    bin_specs,
    bins_select,
    bucket_bounds,
    bucket_select,
    errors_select,
    long_form,
)

__all__ = ["MASTER_ENV", "SparkEngine", "spark_conf"]

MASTER_ENV = "DEPLOYREADY_SPARK_MASTER"
#: the null string of a CSV read: no text holds it, so only an empty field is NULL
_NO_TEXT = "\u0001"


def spark_conf(master: str) -> dict[str, str]:
    """The settings every profile session runs with."""
    conf = {
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.legacy.parquet.nanosAsLong": "true",
        "spark.sql.shuffle.partitions": "8",
    }
    if master.startswith("local"):
        conf.update({"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1"})
    return conf


class SparkEngine(FileEngine):
    """Profiles files with Spark (see the module docstring)."""

    name: EngineName = "spark"

    def __init__(self, master: str | None = None, session: Any = None) -> None:
        self.master = master or os.environ.get(MASTER_ENV) or "local[2]"
        self._session = session
        self._owned = False
        self._copies: Path | None = None
        self._views = 0

    @property
    def session(self) -> Any:
        if self._session is None:
            from pyspark.sql import SparkSession

            builder = SparkSession.builder.master(self.master).appName("deployready-profiles")
            for key, value in spark_conf(self.master).items():
                builder = builder.config(key, value)
            self._session = builder.getOrCreate()
            self._session.sparkContext.setLogLevel("ERROR")
            self._owned = True
        return self._session

    def close(self) -> None:
        if self._session is not None and self._owned:
            self._session.stop()
        self._session = None
        if self._copies is not None:
            shutil.rmtree(self._copies, ignore_errors=True)
            self._copies = None

    def _profile(
        self, source: Source, state: FileState, layouts: Mapping[str, Layout]
    ) -> pd.DataFrame:
        fields = read_header(source.path)
        names = [name for name, _ in fields]
        features = file_features(names, layouts)
        check_header(source.path, fields, list(features))
        typed = self._typed(source.path, fields, features, state)
        try:
            self._validate(source.path, typed, features, len(fields))
            return self._aggregate(typed, source, names, features, layouts)
        except _spark_errors() as exc:  # a file Spark cannot read or decode
            raise _read_error(source.path, exc) from exc
        finally:
            typed.unpersist()

    # ------------------------------------------------------------------ reading
    def _readable(self, path: Path, state: FileState) -> Path:
        """``path``, or a copy of what a live writer has finished of it."""
        if state.readable >= state.size or path.suffix.lower() == ".parquet":
            return path
        if self._copies is None:
            self._copies = Path(tempfile.mkdtemp(prefix="deployready-spark-logs-"))
        copy = self._copies / f"{len(list(self._copies.iterdir()))}-{path.name}"
        copy_ranges(path, copy, [(0, state.readable)])
        return copy

    def _typed(self, path: Path, fields: Sequence[tuple[str, pa.DataType]],
               features: Mapping[str, Kind], state: FileState) -> Any:
        from pyspark.sql import functions as F
        from pyspark.sql import types as T

        read = self._readable(path, state)
        reader = self.session.read
        try:
            if path.suffix.lower() == ".parquet":
                raw = reader.parquet(str(read))
                block, order = F.lit(0).cast("long"), F.col("_metadata.row_index")
                columns = {name: name for name, _ in fields}
            else:
                schema = T.StructType(
                    [T.StructField(f"c{j}", T.StringType()) for j in range(len(fields))]
                    + [T.StructField(CORRUPT, T.StringType())])
                raw = reader.csv(
                    str(read), schema=schema, header=True, enforceSchema=True,
                    mode="PERMISSIVE", columnNameOfCorruptRecord=CORRUPT, quote='"',
                    escape='"', nullValue=_NO_TEXT, emptyValue="", multiLine=False,
                    encoding="UTF-8")
                block = F.col("_metadata.file_block_start")
                order = F.monotonically_increasing_id()
                columns = {name: f"c{j}" for j, (name, _) in enumerate(fields)}
            raw = (raw.withColumn("_file", F.col("_metadata.file_path"))
                   .withColumn("_block", block).withColumn("_order", order))
            typed = spark_typed(raw, dict(fields), columns,
                                features, csv=path.suffix.lower() != ".parquet")
            return typed.persist()
        except _spark_errors() as exc:
            raise _read_error(path, exc) from exc

    # ------------------------------------------------------------------ validation
    def _validate(self, path: Path, typed: Any, features: Mapping[str, Kind],
                  n_fields: int, dataset: bool = False) -> None:
        """The loaders' rules over ``typed``; errors name ``path`` (each bad row's own
        file, when ``path`` is a ``dataset`` of files) and the row in that file."""
        from pyspark.sql import functions as F

        rules = validation_rules(features, "spark")
        counts = typed.agg(
            F.count_if(F.col("_corrupt").isNotNull()).alias("corrupt"),
            *[F.count_if(F.coalesce(F.expr(cond), F.lit(False))).alias(f"r{i}")
              for i, (cond, *_) in enumerate(rules)],
        ).collect()[0]
        if counts["corrupt"]:
            line, file, row = self._first(typed, F.col("_corrupt").isNotNull(), "_corrupt")
            got = len(next(csv.reader([str(line)]), []))
            reason = f"Expected {n_fields} columns, got {got}"
            raise csv_read_error(Path(file) if dataset else path, reason, row)
        for i, (cond, column, raw, message, expected) in enumerate(rules):
            if counts[f"r{i}"]:
                bad = F.coalesce(F.expr(cond), F.lit(False))
                value, file, row = self._first(typed, bad, raw)
                raise row_error(Path(file) if dataset else path, row, column, message, value,
                                counts[f"r{i}"], expected)

    def _first(self, typed: Any, bad: Any, shown: str) -> tuple[Any, str, int]:
        """The shown value of the first row where ``bad`` holds, its file, and its row
        number in that file."""
        from pyspark.sql import functions as F

        first = typed.where(bad).orderBy("_file", "_block", "_order").select(
            F.expr(shown).alias("shown"), "_file", "_block", "_order").first()
        block, at = F.lit(first["_block"]), F.lit(first["_order"])
        before = typed.where((F.col("_file") == F.lit(first["_file"])) & (
            (F.col("_block") < block) | ((F.col("_block") == block) & (F.col("_order") < at)))
        ).count()
        return first["shown"], str(first["_file"]), int(before) + 1

    # ------------------------------------------------------------------ aggregates
    def _aggregate(self, typed: Any, source: Source, names: list[str],
                   features: Mapping[str, Kind], layouts: Mapping[str, Layout]
                   ) -> pd.DataFrame:
        spark = self.session
        self._views += 1
        view, edges = f"profile_rows_{self._views}", f"profile_edges_{self._views}"
        cols = [f"f{i}" for i in range(len(features))]
        typed.selectExpr(
            "version", "unix_micros(date_trunc('HOUR', ts)) DIV 1000000 AS hour",
            "unix_micros(ts) AS us", "error", "latency", "prediction",
            "request_id IS NOT NULL AS has_id", *cols,
        ).createOrReplaceTempView(view)
        spark.createDataFrame(bucket_bounds(), "b BIGINT, lo DOUBLE, hi DOUBLE"
                              ).createOrReplaceTempView(edges)
        try:
            versions = [str(r[0]) for r in spark.sql(f"SELECT DISTINCT version FROM {view}")
                        .collect()]
            check_columns(source, names, versions, layouts)
            base = spark.sql(base_select(view)).collect()
            errors = spark.sql(errors_select(view)).collect()
            latency = spark.sql(bucket_select(view, edges)).collect()
            columns = {name: (f"f{i}", kind) for i, (name, kind) in enumerate(features.items())}
            specs = {v: bin_specs(layouts[v], columns) for v in versions if v in layouts}
            bins = {v: spark.sql(bins_select(view, v, s, "spark")).collect()
                    for v, s in specs.items()}
        finally:
            spark.catalog.dropTempView(view)
            spark.catalog.dropTempView(edges)
        return long_form(base, errors, latency, bins, specs, layouts)


def _spark_errors() -> tuple[type[Exception], ...]:
    """What Spark raises about a file it cannot read (a JVM error, an analysis error)."""
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    return (PySparkException, Py4JError)


def _read_error(path: Path, exc: Exception) -> LogError:
    reason = " ".join(str(exc).split("\n", 1)[0].split())[:300]
    if path.suffix.lower() == ".parquet":
        return LogError(f"cannot read: {reason}", source=path, expected="Parquet")
    return LogError(f"cannot read: {reason}", source=path, expected=CSV_EXPECTED)

