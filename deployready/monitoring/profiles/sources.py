"""What every profile engine decides the same way about a source, before and after it
reads the rows.

- Which feature columns of a file are read: the union of the layouts' features that the
  file's header has (:func:`file_features`), each with its kind in the first layout that
  lists it.
- A file holding rows of a version whose package lists a feature the file has no column
  for is refused, naming the column (:func:`check_columns`) — as the log loaders refuse
  a file of a version without its schema's columns.
- An error found in the file an engine read names the log file it came from and the row
  counted in that file (:func:`shifted`: a grown CSV's new lines are read from a copy,
  ``row_offset`` rows in).
- The float64 numbers an engine compares against, written so that SQL reads back the
  very same double (:func:`double_literal`).
- The layouts of a folder of packages (:func:`layouts_in`), for a job away from the
  workspace.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from deployready.errors import LogError
from deployready.monitoring.logs_schema import REQUIRED_COLUMNS, Kind
from deployready.monitoring.profiles.engine import Source
from deployready.monitoring.profiles.frame import Layout
from deployready.package.manifest import (
    MANIFEST_FILE,
    PROFILE_FILE,
    package_sha256,
    read_json_file,
)
from deployready.package.profile import check_profile

__all__ = ["check_columns", "double_literal", "file_features", "layouts_in", "shifted"]


def file_features(names: Iterable[str], layouts: Mapping[str, Layout]) -> dict[str, Kind]:
    """The features of any layout that the file has a column for, in layout order."""
    present = set(names)
    out: dict[str, Kind] = {}
    for layout in layouts.values():
        for name, spec in layout.profile.get("features", {}).items():
            if name in present and name not in out and name not in REQUIRED_COLUMNS:
                out[name] = spec["kind"]
    return out


def check_columns(source: Source, names: Iterable[str], versions: Iterable[str],
                  layouts: Mapping[str, Layout]) -> None:
    """Refuse a file with rows of a version whose package's features it lacks."""
    present = set(names)
    for version in sorted(versions):
        layout = layouts.get(version)
        if layout is None:
            continue
        wanted = list(layout.profile.get("features", {}))
        missing = [name for name in wanted if name not in present]
        if missing:
            raise LogError(
                f"rows of {version} without its feature column(s) {', '.join(missing)}",
                source=source.name,
                location="header",
                expected="columns " + ", ".join((*REQUIRED_COLUMNS, *wanted)),
            )


_ROW = re.compile(r"^row (\d+)")


def shifted(error: LogError, source: Source) -> LogError:
    """``error`` (about ``source.path``) about the log file ``source`` names, its row
    counted from the start of that file."""
    location = error.location
    if location is not None and source.row_offset:
        location = _ROW.sub(lambda m: f"row {int(m.group(1)) + source.row_offset}", location)
    message = error.message
    if source.shown is not None:
        message = message.replace(str(source.path), str(source.shown))
    return type(error)(message, source=source.name, location=location,
                       expected=error.expected)


def double_literal(value: Any) -> str:
    """``value`` as a SQL DOUBLE that parses back to the same float64: 18 significant
    digits (17 round-trip) with an exponent, so SQL reads it as a DOUBLE, never as a
    DECIMAL, and no text is cast per row."""
    number = float(value)
    if math.isnan(number):
        return "CAST('NaN' AS DOUBLE)"
    if math.isinf(number):
        return f"CAST('{'-' if number < 0 else ''}Infinity' AS DOUBLE)"
    return f"{number:.17e}"  # an exponent: a DOUBLE literal in DuckDB and Spark alike


def edges_of(spec: Mapping[str, Any]) -> Sequence[float]:
    """A numeric spec's edges as floats."""
    return [float(e) for e in spec.get("edges", [])]


def layouts_in(models: Path) -> dict[str, Layout]:
    """The layout of every package folder under ``models`` (``models/<version>/``): the
    hash of its ``MANIFEST.json`` and its checked ``reference_profile.json`` — nothing
    unpickled. A folder without a manifest is not a package; a package without a
    profile gets no bin counts."""
    out: dict[str, Layout] = {}
    folders = sorted(p for p in models.iterdir() if p.is_dir()) if models.is_dir() else []
    for folder in folders:
        if not (folder / MANIFEST_FILE).is_file() or not (folder / PROFILE_FILE).is_file():
            continue
        profile = check_profile(read_json_file(folder, PROFILE_FILE), folder / PROFILE_FILE)
        out[folder.name] = Layout(package_sha256(folder), profile)
    return out
