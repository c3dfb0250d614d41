"""The pandas profile engine: each file read and validated by the log loader
(:func:`~deployready.monitoring.logs_file.read_log_file`), then profiled by the vectorized
:func:`~deployready.monitoring.profiles.frame.profile_rows`.

The columns read are the features of every layout that the file's header holds. A file
holding rows of a version whose package has features the file lacks is an error naming
the column, as the loaders rule (a file another version's schema wrote is fine as long
as it holds no rows of this one). A feature that two packages give different kinds is
read as text and binned by each package's own rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from deployready.errors import LogError
from deployready.monitoring.logs_file import read_log_file
from deployready.monitoring.logs_live import FileState
from deployready.monitoring.logs_schema import Kind, read_header
from deployready.monitoring.profiles.engine import EngineName, FileEngine, Source, renamed_error
from deployready.monitoring.profiles.frame import Layout, profile_rows

__all__ = ["PandasEngine", "renamed_error"]

def _wanted(path: Path, layouts: Mapping[str, Layout]) -> dict[str, Kind]:
    """The features of every layout that the file's header holds, with their kind
    (text when two layouts disagree)."""
    names = {name for name, _ in read_header(path)}
    kinds: dict[str, Kind] = {}
    for layout in layouts.values():
        for name, spec in layout.profile.get("features", {}).items():
            if name not in names:
                continue
            kind: Kind = "numeric" if spec["kind"] == "numeric" else "categorical"
            kinds[name] = kind if kinds.get(name, kind) == kind else "categorical"
    return kinds


def _check_versions(path: Path, frame: pd.DataFrame, layouts: Mapping[str, Layout]) -> None:
    """A version's rows in a file without that version's feature columns: an error."""
    for version in sorted(str(v) for v in frame["version"].unique()):
        layout = layouts.get(version)
        if layout is None:
            continue
        missing = [f for f in layout.profile.get("features", {}) if f not in frame.columns]
        if missing:
            raise LogError(
                f"missing column(s) {', '.join(missing)}",
                source=path,
                location="header",
                expected=f"the feature columns of {version}, whose rows the file holds",
            )


class PandasEngine(FileEngine):
    """Profiles files one at a time in this process (see the module docstring)."""

    name: EngineName = "pandas"

    def _profile(
        self, source: Source, state: FileState, layouts: Mapping[str, Layout]
    ) -> pd.DataFrame:
        frame = read_log_file(source.path, _wanted(source.path, layouts), state)
        _check_versions(source.path, frame, layouts)
        return profile_rows(frame, layouts)
