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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import pandas as pd

from deployready.errors import InputError
from deployready.monitoring.profiles.frame import Layout

__all__ = ["ENGINES", "EngineName", "ProfileEngine", "Source", "get_engine"]

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
