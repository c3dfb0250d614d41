"""The bookkeeping records of the profile store (:mod:`.store`): how far a log file is
ingested, the ranges each profile came from, and what one ingested file writes."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["FileWrite", "Segment", "SourceRow"]


@dataclass(frozen=True)
class SourceRow:
    """How far one log file is ingested (a ``profile_sources`` row)."""

    path: str
    size: int
    mtime_ns: int
    bytes: int
    rows: int
    fingerprint: str
    #: version -> package hash its rows were binned against ("" without a package)
    layouts: dict[str, str]
    engine: str
    ingested_at: str

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def of_row(cls, row: Sequence[Any]) -> SourceRow:
        """The record of a ``profile_sources`` row (its columns in table order)."""
        path, size, mtime_ns, length, rows, fingerprint, layouts, engine, at = row
        return cls(path, size, mtime_ns, length, rows, fingerprint,
                   dict(json.loads(layouts)), engine, at)


@dataclass(frozen=True)
class Segment:
    """Rows ``[row_start, row_end)`` and bytes ``[byte_start, byte_end)`` of a log file
    that one stored profile came from (rows 0-based, the header not counted)."""

    id: int
    path: str
    row_start: int
    row_end: int
    byte_start: int
    byte_end: int
    engine: str
    ingested_at: str


@dataclass(frozen=True)
class FileWrite:
    """What one ingested file changes, written in one transaction."""

    source: SourceRow
    #: the long form of the new rows (may be empty)
    profile: pd.DataFrame
    #: the new rows' range: (row_start, row_end, byte_start, byte_end)
    span: tuple[int, int, int, int]
    #: delete the file's earlier segments first (a re-profile)
    replace: bool
    #: the bookkeeping row the decision was made on: the write is refused (another
    #: ingest got there first) when the stored row is no longer this one
    expected: SourceRow | None = field(default=None)
