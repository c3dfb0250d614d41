"""What a profile engine is: log files in, one long form per file out.

An engine (``pandas``, ``duckdb``, ``spark``) reads each :class:`Source` with the same
validation as the log loaders and returns its long form
(:mod:`~deployready.monitoring.profiles.frame`). The ingest decides *which* rows are new
and hands the engine a file holding exactly those rows (a grown CSV's new lines behind
its header): engines only ever profile whole files.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import pandas as pd

from deployready.errors import InputError, LogError
from deployready.monitoring.logs_live import FileState, file_state
from deployready.monitoring.profiles.frame import Layout, empty_profile

__all__ = [
    "ENGINES", "EngineName", "FileEngine", "ProfileEngine", "Source", "get_engine",
    "renamed_error",
]

EngineName = Literal["pandas", "duckdb", "spark"]
ENGINES: tuple[EngineName, ...] = ("pandas", "duckdb", "spark")


@dataclass(frozen=True)
class Source:
    """A file to profile: ``path`` is read; errors name ``shown`` (the log file it came
    from, ``path`` itself by default) and rows counted from ``row_offset`` + 1."""

    path: Path
    shown: Path | None = None
    row_offset: int = 0

    @property
    def name(self) -> Path:
        return self.shown if self.shown is not None else self.path


class ProfileEngine(Protocol):
    name: EngineName

    def profile(
        self, sources: Sequence[Source], layouts: Mapping[str, Layout]
    ) -> dict[Source, pd.DataFrame]:
        """The long form of every source (validated as the log loaders validate; a bad
        row raises :class:`~deployready.errors.LogError` naming file, row and column)."""
        ...


#: Where each engine lives; the DuckDB and Spark engines are imported on first use only.
_MODULES: dict[str, tuple[str, str]] = {
    "pandas": ("deployready.monitoring.profiles.engine_pandas", "PandasEngine"),
    "duckdb": ("deployready.monitoring.profiles.engine_duckdb", "DuckEngine"),
    "spark": ("deployready.monitoring.profiles.engine_spark", "SparkEngine"),
}


_ROW = re.compile(r"\brow (\d+)\b")


def renamed_error(exc: LogError, source: Source) -> LogError:
    """``exc`` about ``source.path`` told about ``source.name``, rows counted from
    ``source.row_offset`` + 1 (a grown file's new lines are handed over on their own)."""
    if source.shown is None and source.row_offset == 0:
        return exc
    path, shown = str(source.path), str(source.name)

    def moved(text: str | None) -> str | None:
        if text is None:
            return None
        return _ROW.sub(lambda m: f"row {int(m.group(1)) + source.row_offset}",
                        text.replace(path, shown))

    return LogError(exc.message.replace(path, shown), source=shown,
                    location=moved(exc.location), expected=exc.expected)


class FileEngine:
    """What every engine shares: files profiled one at a time, a file without rows yet an
    empty profile, errors told about the log file (:func:`renamed_error`), a context
    manager. An engine writes :meth:`_profile`."""

    def profile(
        self, sources: Sequence[Source], layouts: Mapping[str, Layout]
    ) -> dict[Source, pd.DataFrame]:
        return {source: self.profile_file(source, layouts) for source in sources}

    def profile_file(self, source: Source, layouts: Mapping[str, Layout]) -> pd.DataFrame:
        """The long form of one file; LogError naming ``source.name``, row and column."""
        try:
            state = file_state(source.path)
            if state.blank:
                return empty_profile()
            return self._profile(source, state, layouts)
        except LogError as exc:
            raise renamed_error(exc, source) from exc

    def _profile(
        self, source: Source, state: FileState, layouts: Mapping[str, Layout]
    ) -> pd.DataFrame:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the engine holds (nothing by default)."""

    def __enter__(self) -> FileEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def get_engine(name: str) -> ProfileEngine:
    """The engine called ``name``; InputError naming the choices for any other name."""
    found = _MODULES.get(name)
    if found is None:
        raise InputError(f"unknown profile engine {name!r}", location="engine",
                         expected=", ".join(ENGINES))
    module, attr = found
    if importlib.util.find_spec(module) is None:
        raise InputError(f"the {name} profile engine is not part of this installation",
                         location="engine", expected=", ".join(ENGINES))
    engine: ProfileEngine = getattr(importlib.import_module(module), attr)()
    return engine
