"""The typed view of one log file in Spark: the columns
:func:`deployready.monitoring.logs_sql.file_select` gives DuckDB, built from a Spark
DataFrame with plain column expressions (see :mod:`.engine_spark` for the reading rules).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from deployready.monitoring.logs_schema import REQUEST_ID, Kind, _is_number

__all__ = ["CORRUPT", "TIMESTAMP_PARTS", "spark_typed"]

#: the column Spark puts a CSV line with the wrong number of fields in
CORRUPT = "_corrupt_record"

#: :data:`~deployready.monitoring.logs_schema.TIMESTAMP_PATTERN`, anchored, with its
#: parts as groups: 1 date, 2 hour, 3 minute, 4 second, 5 fraction, 6 offset
TIMESTAMP_PARTS = (
    r"^ *([0-9]{4}-[0-9]{2}-[0-9]{2})"
    r"(?:[T ]([01][0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9])(?:[.]([0-9]{1,9}))?)?"
    r"(Z|[+-](?:[01][0-9]|2[0-3])(?::?[0-5][0-9])?)?)? *$"
)
_ISO = "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX"
_NUMBER = r"^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$"


def _text_number(text: Any) -> Any:
    """A text's number when the text is one (see the engine's reading rules), else NULL."""
    from pyspark.sql import functions as F

    t = F.trim(text)
    low = F.lower(t)
    double = F.lit(None).cast("double")

    def const(name: str) -> Any:
        return F.lit(name).cast("double")

    return (F.when(t.rlike(_NUMBER), t.try_cast("double"))
            .when(low.isin("nan", "+nan", "-nan"), const("NaN"))
            .when(low.isin("inf", "+inf", "infinity", "+infinity"), const("Infinity"))
            .when(low.isin("-inf", "-infinity"), const("-Infinity"))
            .otherwise(double))


def _number(col: Any, dtype: pa.DataType) -> tuple[Any, Any]:
    """(the column as a double, the value an error shows)."""
    from pyspark.sql import functions as F

    if _is_number(dtype):
        return col.cast("double"), col
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return _text_number(col), col
    return F.lit(None).cast("double"), col.cast("string")


def _timestamp(col: Any, dtype: pa.DataType) -> tuple[Any, Any]:
    """(the column as a UTC timestamp, its raw text — NULL for a stored timestamp)."""
    from pyspark.sql import functions as F

    if pa.types.is_timestamp(dtype):
        if dtype.unit == "ns":  # read as an integer (nanosAsLong): cut to µs
            micros = (col - F.pmod(col, F.lit(1000))).cast("long") / 1000
            return F.timestamp_micros(micros.cast("long")), F.lit(None).cast("string")
        return col.cast("timestamp"), F.lit(None).cast("string")
    if _is_number(dtype):
        return F.lit(None).cast("timestamp"), col
    text = col.cast("string")

    def part(i: int) -> Any:
        return F.regexp_extract(text, TIMESTAMP_PARTS, i)

    def either(value: Any, default: str) -> Any:
        return F.when(value == "", F.lit(default)).otherwise(value)

    offset = part(6)
    zone = (F.when((offset == "") | (offset == "Z"), F.lit("+00:00"))
            .when(F.length(offset) == 3, F.concat(offset, F.lit(":00")))
            .when(F.length(offset) == 5, F.concat(offset.substr(1, 3), F.lit(":"),
                                                  offset.substr(4, 2)))
            .otherwise(offset))
    iso = F.concat(part(1), F.lit("T"), either(part(2), "00"), F.lit(":"),
                   either(part(3), "00"), F.lit(":"), either(part(4), "00"), F.lit("."),
                   F.concat(part(5), F.lit("000000")).substr(1, 6), zone)
    parsed = F.when(text.rlike(TIMESTAMP_PARTS), F.try_to_timestamp(iso, F.lit(_ISO)))
    return parsed, text


def _feature(col: Any, dtype: pa.DataType, kind: Kind) -> tuple[Any, Any | None]:
    from pyspark.sql import functions as F

    if kind == "numeric":
        return _number(col, dtype)
    if pa.types.is_boolean(dtype):
        return F.when(col, F.lit("True")).when(~col, F.lit("False")), None
    return col.cast("string"), None


def spark_typed(raw: Any, types: Mapping[str, pa.DataType], columns: Mapping[str, str],
                features: Mapping[str, Kind], *, csv: bool) -> Any:
    """The typed view of ``raw`` (``columns``: log column → its column in ``raw``;
    ``types``: the file's stored types), with the row's place (``_block``, ``_order``)
    and ``_corrupt`` kept."""
    from pyspark.sql import functions as F

    def col(name: str) -> Any:
        return F.col("`" + columns[name].replace("`", "``") + "`")

    ts, raw_ts = _timestamp(col("timestamp"), types["timestamp"])
    latency, raw_latency = _number(col("latency_ms"), types["latency_ms"])
    prediction, raw_prediction = _number(col("prediction"), types["prediction"])
    ids = (F.nullif(col(REQUEST_ID).cast("string"), F.lit("")) if REQUEST_ID in columns
           else F.lit(None).cast("string"))
    out = [
        F.col("_file"), F.col("_block"), F.col("_order"),
        (F.col(CORRUPT) if csv else F.lit(None).cast("string")).alias("_corrupt"),
        ts.alias("ts"), raw_ts.alias("raw_timestamp"),
        col("version").cast("string").alias("version"),
        latency.alias("latency"), raw_latency.alias("raw_latency_ms"),
        prediction.alias("prediction"), raw_prediction.alias("raw_prediction"),
        F.coalesce(col("error").cast("string"), F.lit("")).alias("error"),
        ids.alias("request_id"),
    ]
    for i, (name, kind) in enumerate(features.items()):
        value, shown = _feature(col(name), types[name], kind)
        out.append(value.alias(f"f{i}"))
        if shown is not None:
            out.append(shown.alias(f"raw_f{i}"))
    return raw.select(*out)
