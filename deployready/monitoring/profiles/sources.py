"""What every profile engine decides the same way about a source, before and after it
reads the rows.

- Which feature columns of a file are read: the union of the layouts' features that the
  file's header has (:func:`file_features`), each with its kind in the first layout that
  lists it.
- A file holding rows of a version whose package lists a feature the file has no column
  for is refused, naming the column (:func:`check_columns`) — as the log loaders refuse
  a file of a version without its schema's columns.
- An error found in the file an engine read names the log file it came from and the row
  counted in that file (:func:`~.engine.renamed_error`: a grown CSV's new lines
  are read from a copy, ``row_offset`` rows in).
- The float64 numbers an engine compares against, written so that SQL reads back the
  very same double (:func:`double_literal`).
- The layouts of a folder of packages (:func:`layouts_in`), for a job away from the
  workspace.
"""

from __future__ import annotations

import math
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

__all__ = ["check_columns", "double_literal", "file_features", "layouts_in"]


def file_features(names: Iterable[str], layouts: Mapping[str, Layout]) -> dict[str, Kind]:
    """The features of any layout that the file has a column for, in layout order; a
    feature two layouts give different kinds is read as text (as the pandas engine
    reads it), and each package bins it by its own rule."""
    present = set(names)
    out: dict[str, Kind] = {}
    for layout in layouts.values():
        for name, spec in layout.profile.get("features", {}).items():
            if name not in present or name in REQUIRED_COLUMNS:
                continue
            kind: Kind = "numeric" if spec["kind"] == "numeric" else "categorical"
            out[name] = kind if out.get(name, kind) == kind else "categorical"
    return out


def check_columns(source: Source, names: Iterable[str], versions: Iterable[str],
                  layouts: Mapping[str, Layout]) -> None:
    """Refuse a file with rows of a version whose package's features it lacks (worded
    as the pandas engine words it)."""
    present = set(names)
    for version in sorted(versions):
        layout = layouts.get(version)
        if layout is None:
            continue
        missing = [f for f in layout.profile.get("features", {}) if f not in present]
        if missing:
            raise LogError(
                f"missing column(s) {', '.join(missing)}",
                source=source.path,
                location="header",
                expected=f"the feature columns of {version}, whose rows the file holds",
            )


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
