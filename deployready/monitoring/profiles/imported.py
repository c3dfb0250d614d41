"""Profiles computed elsewhere — a Spark job on a cluster (:mod:`.spark_job`) — loaded into
the workspace's profile store.

``deployready ingest --from-profiles DIR`` reads the Parquet long form the job wrote (one
``source`` per job: the ``--logs`` URI), checks it as hostile input — the columns and
their types, known measures, counts ≥ 0, hours on the hour, every bucket inside its
histogram or its package's reference bins, every binned version's package hash equal to
this workspace's package of that version — and stores each source as one unit named
``cluster:<source>`` in one transaction: importing the same job output again replaces
it (never adds to it); a bad file is refused as a whole, naming the file, the row of the
long form and the column, and nothing is written.

An imported source is not a file under ``data/production``: a local ingest never removes
it, and the questions the raw rows answer (windows finer than an hour, bins of another
profile, the Drift page's raw rows of a day) see only the local log files. Keep a log
set either under ``data/production`` or in a cluster job's output, not both — the same
rows in both are counted twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from deployready.errors import LogError
from deployready.monitoring.profiles.bookkeeping import FileWrite
from deployready.monitoring.profiles.frame import COLUMNS, Layout, merge, normalized
from deployready.monitoring.profiles.histogram import EDGES
from deployready.monitoring.profiles.store import ProfileStore, SourceRow

__all__ = [
    "IMPORTED_PREFIX",
    "ImportedSource",
    "by_source",
    "import_profiles",
    "is_imported",
    "read_job_output",
]

#: How the store names a source loaded from a job's output.
IMPORTED_PREFIX = "cluster:"
EXPECTED = ("the Parquet long form a deployready Spark job wrote (columns source, "
            + ", ".join(COLUMNS) + ")")
MEASURES = frozenset({"rows", "error", "with_id", "latency", "latency_sum_us", "first_us",
                      "last_us", "prediction", "feature"})
TEXT = ("source", "version", "package_sha256", "measure", "key")
INTEGER = ("hour", "bucket", "value")

ImportedSource = tuple[str, pd.DataFrame]


def is_imported(path: str) -> bool:
    """Whether a store source came from a job's output (not a local log file)."""
    return path.startswith(IMPORTED_PREFIX)


def _fail(directory: Path, message: str, row: int | None = None,
          column: str | None = None) -> LogError:
    where = [f"row {row + 1} of the long form"] if row is not None else []
    where += [f"column {column}"] if column is not None else []
    return LogError(message, source=directory, location=", ".join(where) or None,
                    expected=EXPECTED)


def _read(directory: Path) -> pd.DataFrame:
    try:
        table = pq.read_table(str(directory))
    except (OSError, pa.ArrowException) as exc:
        raise _fail(directory, f"cannot read the job output: {exc}") from exc
    missing = [c for c in ("source", *COLUMNS) if c not in table.column_names]
    if missing:
        raise _fail(directory, f"no column {missing[0]!r}", column=missing[0])
    for name in TEXT:
        if not pa.types.is_string(table[name].type) and not pa.types.is_large_string(
                table[name].type):
            raise _fail(directory, f"{name!r} is {table[name].type}, not text", column=name)
    for name in INTEGER:
        if not pa.types.is_integer(table[name].type):
            raise _fail(directory, f"{name!r} is {table[name].type}, not integers",
                        column=name)
    return table.select(["source", *COLUMNS]).to_pandas()


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _check_cells(directory: Path, frame: pd.DataFrame) -> None:
    for name in frame.columns:
        nulls = frame[name].isna().to_numpy()
        if nulls.any():
            raise _fail(directory, "empty cell", _first(nulls), name)
    measure = frame["measure"].to_numpy(dtype=object)
    unknown = ~np.isin(measure, list(MEASURES))
    if unknown.any():
        i = _first(unknown)
        raise _fail(directory, f"unknown measure {measure[i]!r}", i, "measure")
    negative = frame["value"].to_numpy() < 0
    if negative.any():
        raise _fail(directory, "a negative count", _first(negative), "value")
    off_hour = frame["hour"].to_numpy() % 3600 != 0
    if off_hour.any():
        raise _fail(directory, "not the start of a UTC hour (epoch seconds)",
                    _first(off_hour), "hour")
    latency = measure == "latency"
    bucket = frame["bucket"].to_numpy()
    outside = latency & ((bucket < 0) | (bucket > EDGES.size))
    if outside.any():
        raise _fail(directory, f"latency bucket outside 0..{EDGES.size}", _first(outside),
                    "bucket")


def _bin_width(layout: Layout, measure: str, key: str) -> int | None:
    spec = (layout.profile.get("prediction") if measure == "prediction"
            else layout.profile.get("features", {}).get(key))
    if spec is None:
        return None
    values = spec["edges"] if spec.get("kind", "numeric") == "numeric" else spec["categories"]
    return len(values) + 2


def _check_bins(directory: Path, frame: pd.DataFrame, layouts: Mapping[str, Layout]) -> None:
    binned = frame["measure"].isin(["prediction", "feature"]).to_numpy()
    for (version, sha, measure, key), part in frame[binned].groupby(
            ["version", "package_sha256", "measure", "key"], sort=True):
        row = int(part.index[0])
        layout = layouts.get(str(version))
        if layout is None or layout.package_sha256 != sha:
            now = "no package" if layout is None else f"package {layout.package_sha256[:12]}"
            raise _fail(directory, f"{version} was binned against package {str(sha)[:12]}, "
                        f"but this workspace has {now}: run the job with this workspace's "
                        "models/", row, "package_sha256")
        width = _bin_width(layout, str(measure), str(key))
        if width is None:
            raise _fail(directory, f"{key!r} is not a feature of {version}'s reference "
                        "profile", row, "key")
        bucket = part["bucket"].to_numpy()
        outside = (bucket < 0) | (bucket >= width)
        if outside.any():
            i = int(part.index[_first(outside)])
            raise _fail(directory, f"bin outside 0..{width - 1} of {measure} {key!r}", i,
                        "bucket")


def read_job_output(directory: str | Path, layouts: Mapping[str, Layout]
                    ) -> list[ImportedSource]:
    """The checked long form of each source in a job's output folder (see the module)."""
    folder = Path(directory)
    if not folder.exists():
        raise _fail(folder, "no such file or folder")
    frame = _read(folder)
    _check_cells(folder, frame)
    _check_bins(folder, frame, layouts)
    return by_source(frame)


def by_source(frame: pd.DataFrame) -> list[ImportedSource]:
    """One merged long form per ``source`` of a job's output frame."""
    return [(str(source), merge(normalized(part.drop(columns=["source"]))))
            for source, part in frame.groupby("source", sort=True)]


def _fingerprint(profile: pd.DataFrame) -> str:
    digest = hashlib.sha256(pd.util.hash_pandas_object(profile, index=False).to_numpy())
    return digest.hexdigest()


def _write(source: str, profile: pd.DataFrame, fingerprint: str, known: SourceRow | None,
           stamp: str) -> FileWrite:
    rows = int(profile.loc[profile["measure"] == "rows", "value"].sum())
    layouts = {str(v): str(s) for v, s in
               profile[["version", "package_sha256"]].drop_duplicates().itertuples(index=False)}
    row = SourceRow(path=IMPORTED_PREFIX + source, size=0, mtime_ns=0, bytes=0, rows=rows,
                    fingerprint=fingerprint, layouts=layouts, engine="spark-job",
                    ingested_at=stamp)
    return FileWrite(row, profile, (0, rows, 0, 0), replace=True, expected=known)


def import_profiles(store: ProfileStore, directory: str | Path,
                    layouts: Mapping[str, Layout], *, now: datetime | None = None
                    ) -> tuple[list[str], list[str], int]:
    """Load a job's output into ``store``: (sources stored, sources already identical,
    rows the stored ones hold).
    Raises :class:`LogError` (nothing written) when the output is not valid."""
    sources = read_job_output(directory, layouts)
    stamp = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    stored: list[str] = []
    same: list[str] = []
    rows = 0
    known = store.sources()
    for source, profile in sources:
        current, fingerprint = known.get(IMPORTED_PREFIX + source), _fingerprint(profile)
        if current is not None and current.fingerprint == fingerprint:
            same.append(source)
            continue
        write = _write(source, profile, fingerprint, current, stamp)
        if not store.write_file(write):
            raise LogError("imported by another process meanwhile; run it again",
                           source=Path(directory), expected=EXPECTED)
        stored.append(source)
        rows += write.source.rows
    return stored, same, rows
