"""Profiles of a log set on a Spark cluster, and their way into the workspace.

    spark-submit --master spark://host:7077 -m ... \\
        $(python -c 'import deployready.monitoring.profiles.spark_job as j; print(j.__file__)') \\
        --logs s3a://bucket/prediction-logs/ --models ./models --out s3a://bucket/profiles/

(or ``python -m deployready.monitoring.profiles.spark_job --master local[4] …``). The
job reads ``--logs`` — a Parquet dataset (a folder of Parquet files, partitioned or not)
or, with ``--format csv``, a folder of CSV logs with one header — with the rules of the
Spark engine (:mod:`.engine_spark`; a bad row stops the job naming its file, row and
column), bins it against the packages under ``--models`` (read on the driver: the
manifest hash and ``reference_profile.json`` of each ``models/<version>/``), and writes
the long form (:mod:`.frame`) with a ``source`` column (the ``--logs`` URI) as Parquet
to ``--out``. :func:`long_form_from_parquet` reads it back, one long form per source,
for the profile store.

Parquet timestamps are read as Spark stores them (µs or ms); nanosecond timestamps
(pandas' default) stop the job with Spark's ``PARQUET_TYPE_ILLEGAL`` — profile such
files with the local engines, or write them with ``coerce_timestamps="us"``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from deployready.errors import DeployReadyError
from deployready.monitoring.logs_schema import check_header
from deployready.monitoring.profiles.engine import Source
from deployready.monitoring.profiles.engine_spark import SparkEngine, spark_conf
from deployready.monitoring.profiles.frame import COLUMNS, Layout
from deployready.monitoring.profiles.imported import by_source
from deployready.monitoring.profiles.sources import file_features, layouts_in
from deployready.monitoring.profiles.spark_sql import spark_typed

__all__ = ["long_form_from_parquet", "main", "profile_dataset", "write_long_form"]


def _arrow_type(spark_type: Any) -> pa.DataType:
    """The pyarrow type the typed view dispatches on, for a Spark column type."""
    name = spark_type.typeName()
    if name in ("timestamp", "timestamp_ntz"):
        return pa.timestamp("us", "UTC" if name == "timestamp" else None)
    if name in ("double", "float", "decimal"):
        return pa.float64()
    if name in ("integer", "long", "short", "byte"):
        return pa.int64()
    if name == "boolean":
        return pa.bool_()
    if name in ("array", "map", "struct"):
        return pa.list_(pa.string())  # refused by the header check as nested
    return pa.string()


def profile_dataset(engine: SparkEngine, logs: str, layouts: Mapping[str, Layout],
                    fmt: str = "parquet") -> pd.DataFrame:
    """The long form of every row under ``logs`` (a Parquet dataset, or a CSV folder)."""
    from pyspark.sql import functions as F

    reader = engine.session.read
    if fmt == "csv":
        raw = reader.csv(logs, header=True, inferSchema=False, quote='"', escape='"',
                         nullValue="\u0001", emptyValue="", mode="PERMISSIVE",
                         columnNameOfCorruptRecord="_corrupt_record")
        block, order = F.col("_metadata.file_block_start"), F.monotonically_increasing_id()
    else:
        raw = reader.parquet(logs)
        block, order = F.lit(0).cast("long"), F.col("_metadata.row_index")
    fields = [(f.name, _arrow_type(f.dataType)) for f in raw.schema.fields
              if f.name != "_corrupt_record"]
    names = [name for name, _ in fields]
    features = file_features(names, layouts)
    check_header(Path(logs), fields, list(features))
    raw = (raw.withColumn("_file", F.col("_metadata.file_path"))
           .withColumn("_block", block).withColumn("_order", order))
    typed = spark_typed(raw, dict(fields), {n: n for n in names}, features,
                        csv=fmt == "csv").persist()
    try:
        engine._validate(Path(logs), typed, features, len(fields), dataset=True)
        return engine._aggregate(typed, Source(Path(logs)), names, features, layouts)
    finally:
        typed.unpersist()


def write_long_form(engine: SparkEngine, long: pd.DataFrame, source: str, out: str) -> None:
    """``long`` with a ``source`` column, written as Parquet to ``out`` (replaced)."""
    from pyspark.sql import types as T

    schema = T.StructType([
        T.StructField("source", T.StringType(), False),
        *[T.StructField(c, T.LongType() if c in ("hour", "bucket", "value")
                        else T.StringType(), False) for c in COLUMNS],
    ])
    rows = [(source, *(r[c] for c in COLUMNS)) for r in long.to_dict("records")]
    rows = [(s, v, p, int(h), m, k, int(b), int(n)) for s, v, p, h, m, k, b, n in rows]
    frame = engine.session.createDataFrame(rows, schema).coalesce(1)
    frame.write.mode("overwrite").parquet(out)


def long_form_from_parquet(path: str | Path) -> dict[str, pd.DataFrame]:
    """The long forms a job wrote to ``path`` (a local Parquet folder), per source."""
    return dict(by_source(pq.read_table(str(path)).to_pandas()))


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m deployready.monitoring.profiles.spark_job",
        description="Profile a log set with Spark and write the long form as Parquet.")
    parser.add_argument("--logs", required=True, help="a Parquet dataset (or CSV folder) URI")
    parser.add_argument("--models", required=True, type=Path,
                        help="the workspace's models/ folder (read on the driver)")
    parser.add_argument("--out", required=True, help="where to write the profiles (Parquet)")
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    parser.add_argument("--master", default=None,
                        help="Spark master (default: spark-submit's, else local[2])")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("deployready-profiles")
    if args.master:
        builder = builder.master(args.master)
    for key, value in spark_conf(args.master or "cluster").items():
        if key != "spark.sql.legacy.parquet.nanosAsLong":
            builder = builder.config(key, value)
    session = builder.getOrCreate()
    engine = SparkEngine(session=session)
    try:
        long = profile_dataset(engine, args.logs, layouts_in(args.models), args.format)
        write_long_form(engine, long, args.logs, args.out)
    except DeployReadyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        session.stop()
    print(f"{len(long)} profile rows of {args.logs} written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
