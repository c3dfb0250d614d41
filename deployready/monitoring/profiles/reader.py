"""The aggregates of :class:`~deployready.monitoring.logs.ProductionLogs` answered from a
workspace's profile store (``data/profiles.db``).

A question is answered from profiles when its bounds are whole UTC hours (or absent)
and, for latency windows, the window is a whole number of hours (``1h``, ``2h``, ``1D``…):
whole-day questions read the daily roll-up, the others the hourly profiles. Anything
finer — a window shorter than an hour (``15min``), a bound inside an hour — and bin counts
over a profile other than the version's package profile (the one its rows were binned
against) are answered from the raw rows instead: the methods return ``None`` and the
logs reader asks its raw engine. :func:`grain_for` is that one decision.

Counts are identical to the raw engines'; percentiles and the maximum come from the
merged latency histogram, within 0.5 % (:mod:`~deployready.monitoring.profiles.histogram`);
the mean within 1 µs (:mod:`~deployready.monitoring.profiles.aggregates`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from deployready.monitoring.logs_live import FileState
from deployready.monitoring.logs_schema import RAW_ENGINES, BinCounts, requested_engine
from deployready.monitoring.profiles import aggregates as agg
from deployready.monitoring.profiles.frame import Layout

if TYPE_CHECKING:
    from deployready.monitoring.profiles.store import ProfileStore

__all__ = ["HISTOGRAM_NOTE", "RAW_NOTE", "FileSpans", "Grain", "ProfileReader", "grain_for",
           "latency_note"]

Grain = Literal["hour", "day"]
_HOUR = pd.Timedelta(hours=1)
_DAY = pd.Timedelta(days=1)
_US = pd.Timedelta(microseconds=1)

#: version -> (first timestamp, a bound above the last) of one log file's rows
FileSpans = dict[str, tuple[pd.Timestamp, pd.Timestamp]]


def _at(micros: int) -> pd.Timestamp:
    return pd.Timestamp(micros, unit="us", tz="UTC")

#: What the latency figures of a profile answer are (the page, report and CLI say it).
HISTOGRAM_NOTE = ("percentiles and max from the profiles' latency histogram, within 0.5 % "
                  "of the exact figure; mean within 1 µs")
#: What they are when the raw rows answer.
RAW_NOTE = "exact percentiles from the raw log rows"


def _aligned(value: pd.Timestamp | None, unit: pd.Timedelta) -> bool:
    return value is None or value == value.floor(unit)


def grain_for(
    start: pd.Timestamp | None, end: pd.Timestamp | None, window: pd.Timedelta | None = None
) -> Grain | None:
    """The profile grain that answers [start, end) (in ``window``-long windows): ``day``
    when the bounds and the window are whole days, ``hour`` when they are whole hours,
    None when one falls inside an hour — then the raw rows answer."""
    if window is not None and (window < _HOUR or window % _HOUR):
        return None
    if not (_aligned(start, _HOUR) and _aligned(end, _HOUR)):
        return None
    whole_days = _aligned(start, _DAY) and _aligned(end, _DAY)
    return "day" if whole_days and (window is None or window % _DAY == pd.Timedelta(0)) \
        else "hour"


def latency_note(profiled: bool, window: pd.Timedelta, start: pd.Timestamp | None,
                 end: pd.Timestamp | None) -> str:
    """Where a latency report's percentiles come from, as the page, report and CLI say it
    (``profiled``: the logs are answered from profiles)."""
    if not profiled:
        return RAW_NOTE
    if grain_for(start, end) is None:
        return f"{RAW_NOTE} (a bound inside an hour)"
    if grain_for(start, end, window) is None:
        return (f"{HISTOGRAM_NOTE}; the windows shorter than an hour: {RAW_NOTE}")
    return HISTOGRAM_NOTE


class ProfileReader:
    """The monitoring aggregates of a profile store; ``layouts``: the package each
    version's rows were binned against."""

    def __init__(self, store: ProfileStore, layouts: Mapping[str, Layout],
                 root: Path | None = None) -> None:
        self.store = store
        self.layouts = dict(layouts)
        #: the workspace the store's log paths are relative to (for :meth:`file_spans`)
        self.root = root

    @classmethod
    def unless_raw(cls, ws: Any, engine: str = "auto") -> ProfileReader | None:
        """:meth:`for_workspace`, or None when a raw engine is asked for (``engine`` or
        ``$DEPLOYREADY_LOG_ENGINE``): the raw rows answer then, and nothing is kept."""
        return None if requested_engine(engine) in RAW_ENGINES else cls.for_workspace(ws)

    @classmethod
    def for_workspace(cls, ws: Any) -> ProfileReader | None:
        """The reader of ``ws``'s store, its profiles brought up to date first (a stat per
        log file when nothing changed). None when they cannot be: a log file (or a
        package) the ingest refuses — then the raw rows answer, exactly as before
        profiles, and their reader reports the error where a question needs that file."""
        from deployready.errors import DeployReadyError
        from deployready.monitoring.profiles.ingest import ingest_if_changed, profile_store
        from deployready.monitoring.profiles.layouts import layouts_of

        try:
            result = ingest_if_changed(ws)
        except DeployReadyError:
            return None
        if result is not None and result.errors:
            return None
        return cls(profile_store(ws), layouts_of(ws), Path(ws.root))

    def file_spans(self, states: Mapping[Path, FileState]) -> dict[Path, FileSpans]:
        """Per log file of ``states`` that is exactly as it was profiled (same size and
        mtime, the same bytes read), per version: its first and last timestamp — so a
        raw read of a time range skips the files that cannot hold a row of it. A file
        changed since its ingest is absent (read to find out)."""
        if self.root is None:
            return {}
        sources = self.store.sources()
        spans = self.store.spans()
        out: dict[Path, FileSpans] = {}
        for path, state in states.items():
            try:
                rel = path.relative_to(self.root).as_posix()
                st = path.stat()
            except (OSError, ValueError):
                continue
            known = sources.get(rel)
            if known is None or (known.size, known.mtime_ns, known.bytes) != (
                    st.st_size, st.st_mtime_ns, state.readable):
                continue
            out[path] = {v: (_at(first), _at(last) + _US)
                         for v, (first, last) in spans.get(rel, {}).items()}
        return out

    def generation(self) -> int:
        """Changes on every committed ingest (for caches)."""
        return int(self.store.generation())

    def _counts(self, version: str | None, start: pd.Timestamp | None,
                end: pd.Timestamp | None, measures: Sequence[str], grain: Grain) -> pd.DataFrame:
        return self.store.counts(version, start, end, measures=list(measures), grain=grain)

    def versions(self) -> dict[str, dict[str, Any]]:
        return agg.versions(self._counts(None, None, None, ("rows", "first_us", "last_us"),
                                         "day"))

    def day_counts(self, version: str | None, start: pd.Timestamp | None,
                   end: pd.Timestamp | None) -> pd.DataFrame | None:
        grain = grain_for(start, end)
        if grain is None:
            return None
        return agg.day_counts(self._counts(version, start, end, ("rows", "error"), grain))

    def id_counts(self, version: str | None, start: pd.Timestamp | None,
                  end: pd.Timestamp | None) -> pd.DataFrame | None:
        grain = grain_for(start, end)
        if grain is None:
            return None
        return agg.id_counts(self._counts(version, start, end, ("rows", "error", "with_id"),
                                          grain))

    def error_kinds(self, version: str | None, start: pd.Timestamp | None,
                    end: pd.Timestamp | None) -> dict[str, int] | None:
        grain = grain_for(start, end)
        if grain is None:
            return None
        return agg.error_kinds(self._counts(version, start, end, ("error",), grain))

    def latency_windows(self, version: str | None, window: pd.Timedelta,
                        start: pd.Timestamp | None,
                        end: pd.Timestamp | None) -> pd.DataFrame | None:
        grain = grain_for(start, end, window)
        if grain is None:
            return None
        measures = ("rows", "error", "latency", "latency_sum_us")
        return agg.latency_windows(self._counts(version, start, end, measures, grain), window)

    def latency_summary(self, version: str | None, start: pd.Timestamp | None,
                        end: pd.Timestamp | None) -> dict[str, Any] | None:
        grain = grain_for(start, end)
        if grain is None:
            return None
        measures = ("rows", "error", "latency", "latency_sum_us")
        return agg.latency_summary(self._counts(version, start, end, measures, grain))

    def bin_counts(self, profile: Mapping[str, Any], version: str | None,
                   start: pd.Timestamp | None,
                   end: pd.Timestamp | None) -> dict[date, BinCounts] | None:
        """None unless every row asked about was binned against ``profile`` (the
        version's package profile)."""
        grain = grain_for(start, end)
        layout = self.layouts.get(version) if version is not None else None
        if grain is None or layout is None or dict(layout.profile) != dict(profile):
            return None
        counts = self._counts(version, start, end, ("rows", "error", "feature", "prediction"),
                              grain)
        if (counts["package_sha256"] != layout.package_sha256).any():
            return None  # rows profiled before the package was (re)built: raw rows answer
        return agg.bin_counts(counts, profile)
