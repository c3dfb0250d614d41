"""The ingest: every new row of ``data/production`` into the profile store, once.

For each log file, compared with its bookkeeping row (:mod:`.store`):

- **unchanged** — same size and mtime, every version's package hash as recorded:
  skipped without reading (a stat per file);
- **new** — profiled whole;
- **grown** — a CSV longer than its profiled prefix, that prefix unchanged (the same
  fingerprint, ending at a line end): only the new complete lines are profiled, handed
  to the engine as a temporary file of the header and those lines, errors naming the
  log file and its own row numbers; a live writer's unfinished last line is left for
  later, as the log readers leave it;
- **re-profiled** — anything else (shrunk, rewritten, a Parquet file changed, the package
  of a version it holds rebuilt with another hash): its segments are replaced;
- **removed** — a file that is gone: its segments are deleted.

Each file is written in one transaction, so a process killed at any point leaves each
file fully ingested or not at all, and a re-run picks up where it stopped; a file is
written only if its bookkeeping row is still the one the decision was made on, so two
ingests at once never count a row twice. A file read in place that changes while it is
read is left for the next ingest. A file with a bad row is an error carried as data
(naming file, row and column): nothing of it is stored and what was stored of it before
stays; the other files are still ingested. Rows of a version whose package is broken
(:mod:`.layouts`) are not profiled until it is fixed: the file's error says why.

``DEPLOYREADY_INGEST_PAUSE_S`` (seconds; for the crash tests) holds every file's
transaction open that long before it commits, saying so on stderr.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from deployready.errors import InputError, LogError, PackageError, require_file
from deployready.monitoring.logs_live import copy_ranges, file_state, writer_holds
from deployready.monitoring.logs_schema import SUFFIXES
from deployready.monitoring.profiles.engine import ProfileEngine, Source, get_engine
from deployready.monitoring.profiles.frame import empty_profile
from deployready.monitoring.profiles.imported import import_profiles, is_imported
from deployready.monitoring.profiles.layouts import (
    PackageLayouts,
    package_hashes,
    package_layouts,
)
from deployready.monitoring.profiles.store import (
    PROFILES_FILE,
    FileWrite,
    ProfileStore,
    SourceRow,
)
from deployready.monitoring.profiles.watch import UpToDate, watched
from deployready.workspace import Workspace

__all__ = [
    "PAUSE_ENV",
    "UP_TO_DATE",
    "IngestResult",
    "fingerprint",
    "ingest",
    "ingest_if_changed",
    "ingest_job_output",
    "profile_store",
]

PAUSE_ENV = "DEPLOYREADY_INGEST_PAUSE_S"
EDGE = 1 << 16  # bytes of each end of a prefix that go into its fingerprint
LOG_EXPECTED = "a prediction log file (.csv or .parquet)"

Action = Literal["read", "grown", "reprofiled"]


@dataclass
class IngestResult:
    """What one ingest did: files by what happened to them (paths relative to the
    workspace), rows profiled, seconds, and every file it could not ingest."""

    engine: str
    read: list[str] = field(default_factory=list)
    grown: list[str] = field(default_factory=list)
    reprofiled: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    rows: int = 0
    seconds: float = 0.0
    errors: list[InputError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def first_log_error(self) -> LogError | None:
        return next((e for e in self.errors if isinstance(e, LogError)), None)

    def summary(self) -> str:
        return (f"{len(self.read)} file(s) read, {len(self.grown)} grown, "
                f"{len(self.reprofiled)} re-profiled, {len(self.skipped)} skipped, "
                f"{len(self.removed)} removed; {self.rows} rows in {self.seconds:.2f} s")

    def as_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine, "read": self.read, "grown": self.grown,
            "reprofiled": self.reprofiled, "skipped": self.skipped, "removed": self.removed,
            "rows": self.rows, "seconds": self.seconds,
            "errors": [e.as_dict() for e in self.errors], "notes": self.notes,
        }


def profile_store(ws: Workspace) -> ProfileStore:
    """The workspace's profile store, ``data/profiles.db``."""
    return ProfileStore.open(ws.data_dir / PROFILES_FILE)


# --------------------------------------------------------------------------- files


def _listing(ws: Workspace) -> tuple[dict[str, Path], list[InputError]]:
    """Every log file by path relative to the workspace, and what is at a log file's
    name that is not one (a folder, a broken link, a FIFO)."""
    directory = ws.production_dir
    if not directory.is_dir():
        if directory.exists():
            return {}, [LogError("is a file, not a folder", source=directory,
                                 expected="a folder of prediction logs")]
        return {}, []
    files: dict[str, Path] = {}
    errors: list[InputError] = []
    for path in sorted(p for p in directory.rglob("*") if p.suffix.lower() in SUFFIXES):
        try:
            require_file(path, LogError, expected=LOG_EXPECTED)
        except LogError as exc:
            errors.append(exc)
            continue
        files[path.relative_to(ws.root).as_posix()] = path
    return files, errors


def fingerprint(path: Path, length: int) -> str:
    """sha256 of a prefix's length, its first and its last 64 KiB."""
    digest = hashlib.sha256(str(length).encode())
    with path.open("rb") as fh:
        digest.update(fh.read(min(EDGE, length)))
        fh.seek(max(0, length - EDGE))
        digest.update(fh.read(min(EDGE, length)))
    return digest.hexdigest()


def _ends_a_line(path: Path, length: int) -> bool:
    with path.open("rb") as fh:
        fh.seek(length - 1)
        return fh.read(1) == b"\n"


def _layouts_current(known: SourceRow, packages: PackageLayouts) -> bool:
    """Every version of the file is binned against its package as it is now (a broken
    package holds the file as it is)."""
    return all(packages.hash_of(v) in (None, sha) for v, sha in known.layouts.items())


def _unchanged(path: Path, st: os.stat_result, known: SourceRow | None) -> bool:
    if known is None or (st.st_size, st.st_mtime_ns) != (known.size, known.mtime_ns):
        return False
    # an unfinished last line whose writer is gone is read now (as the log readers do)
    return known.bytes >= st.st_size or writer_holds(path)


def _can_grow(path: Path, known: SourceRow, readable: int) -> bool:
    return (path.suffix.lower() == ".csv" and 0 < known.bytes < readable
            and _ends_a_line(path, known.bytes)
            and fingerprint(path, known.bytes) == known.fingerprint)


# --------------------------------------------------------------------------- one file


@dataclass(frozen=True)
class _Job:
    rel: str
    path: Path
    known: SourceRow | None
    action: Action
    row_start: int
    byte_start: int
    byte_end: int
    stat: tuple[int, int]


def _job(rel: str, path: Path, known: SourceRow | None, packages: PackageLayouts) -> _Job | None:
    """What to do with one file (None: nothing new in it)."""
    st = path.stat()
    stat = (st.st_size, st.st_mtime_ns)
    current = known is not None and _layouts_current(known, packages)
    if current and _unchanged(path, st, known):
        return None
    readable = file_state(path).readable
    if known is not None and current and _can_grow(path, known, readable):
        return _Job(rel, path, known, "grown", known.rows, known.bytes, readable, stat)
    if known is not None and current and known.bytes == readable and known.bytes > 0 \
            and fingerprint(path, known.bytes) == known.fingerprint:
        return None  # a live writer's unfinished line only
    return _Job(rel, path, known, "read" if known is None else "reprofiled", 0, 0, readable,
                stat)


def _source_for(job: _Job, scratch: Path) -> tuple[Source, bool]:
    """The Source an engine reads, and whether it is the log file itself (read in place:
    checked afterwards for a change while it was read)."""
    whole = job.byte_start == 0 and job.byte_end == job.stat[0]
    if whole and job.action != "grown":
        return Source(job.path), True
    target = scratch / f"rows{job.path.suffix.lower()}"
    ranges = [(job.byte_start, job.byte_end)]
    if job.action == "grown":
        with job.path.open("rb") as fh:  # the header line
            ranges.insert(0, (0, len(fh.readline())))
    copy_ranges(job.path, target, ranges)
    return Source(target, job.path, job.row_start), False


def _profile(job: _Job, engine: ProfileEngine, packages: PackageLayouts,
             scratch: Path) -> pd.DataFrame | None:
    """The long form of the job's rows (None: the file changed while it was read)."""
    if job.byte_end == 0:
        return empty_profile()
    source, in_place = _source_for(job, scratch)
    try:
        profile = engine.profile([source], packages.layouts)[source]
    finally:
        if not in_place:
            source.path.unlink(missing_ok=True)
    if in_place:
        st = job.path.stat()
        if (st.st_size, st.st_mtime_ns) != job.stat:
            return None
    held = sorted({str(v) for v in profile["version"].unique()} & set(packages.broken))
    if held:
        error = packages.broken[held[0]]
        raise PackageError(f"rows of {held[0]} not profiled: its package cannot be read "
                           f"({error})", source=job.path,
                           expected="a readable package of every version in the file")
    return profile


def _write_of(job: _Job, profile: pd.DataFrame, engine: str, now: str) -> FileWrite:
    rows = int(profile.loc[profile["measure"] == "rows", "value"].sum())
    layouts = dict(job.known.layouts) if job.action == "grown" and job.known else {}
    for version, sha in profile[["version", "package_sha256"]].drop_duplicates().itertuples(
            index=False):
        layouts[str(version)] = str(sha)
    source = SourceRow(
        path=job.rel, size=job.stat[0], mtime_ns=job.stat[1], bytes=job.byte_end,
        rows=job.row_start + rows, fingerprint=fingerprint(job.path, job.byte_end),
        layouts=layouts, engine=engine, ingested_at=now,
    )
    span = (job.row_start, job.row_start + rows, job.byte_start, job.byte_end)
    return FileWrite(source, profile, span, replace=job.action != "grown", expected=job.known)


def _pause(rel: str) -> Any:
    seconds = float(os.environ.get(PAUSE_ENV, "0") or 0)
    if seconds <= 0:
        return None

    def hold() -> None:
        print(f"ingest: holding the transaction of {rel}", file=sys.stderr, flush=True)
        time.sleep(seconds)

    return hold


# --------------------------------------------------------------------------- the ingest


def ingest(ws: Workspace, engine: str = "pandas", *, now: datetime | None = None) -> IngestResult:
    """Profile every new row of the workspace's production logs into ``data/profiles.db``
    (see the module docstring); errors of single files are carried in the result."""
    return _ingest(ws, engine, now, _listing(ws))


def _ingest(ws: Workspace, engine: str, now: datetime | None,
            listing: tuple[dict[str, Path], list[InputError]]) -> IngestResult:
    """:func:`ingest` of the log files of ``listing`` (:func:`_listing`, just taken)."""
    started = time.perf_counter()
    profiler = get_engine(engine)
    result = IngestResult(engine=profiler.name)
    store = profile_store(ws)
    stamp = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    files, result.errors = listing
    packages = package_layouts(ws)
    known = _local(store.sources())
    scratch = Path(tempfile.mkdtemp(prefix="deployready-ingest-"))
    try:
        for rel, path in files.items():
            _one(rel, path, known.get(rel), packages, profiler, store, stamp, scratch, result)
        listed = ws.production_dir.is_dir() or not os.path.lexists(ws.production_dir)
        for rel in sorted(set(known) - set(files)) if listed else ():
            if os.path.lexists(ws.root / rel):
                continue  # there, but not a readable file: its error is listed
            if store.remove_file(rel, known[rel], _pause(rel)):
                result.removed.append(rel)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        store.close()
    result.seconds = time.perf_counter() - started
    return result


def _one(rel: str, path: Path, known: SourceRow | None, packages: PackageLayouts,
         profiler: ProfileEngine, store: ProfileStore, stamp: str, scratch: Path,
         result: IngestResult) -> None:
    try:
        job = _job(rel, path, known, packages)
        if job is None:
            result.skipped.append(rel)
            return
        profile = _profile(job, profiler, packages, scratch)
    except (LogError, PackageError) as exc:
        result.errors.append(exc)
        return
    except OSError as exc:
        result.errors.append(LogError(f"cannot read: {exc}", source=path,
                                      expected=LOG_EXPECTED))
        return
    if profile is None:
        result.notes.append(f"{rel}: changed while it was read; left for the next ingest")
        return
    write = _write_of(job, profile, profiler.name, stamp)
    if not store.write_file(write, _pause(rel)):
        result.notes.append(f"{rel}: ingested by another process meanwhile")
        return
    getattr(result, job.action).append(rel)
    result.rows += write.span[1] - write.span[0]


def _local(sources: dict[str, SourceRow]) -> dict[str, SourceRow]:
    """The bookkeeping rows of local log files (not of imported job outputs)."""
    return {rel: row for rel, row in sources.items() if not is_imported(rel)}


def ingest_job_output(ws: Workspace, directory: str | Path, *,
                      now: datetime | None = None) -> IngestResult:
    """Load a Spark job's profile output (:mod:`.imported`) into ``data/profiles.db``: each
    source read counts as ``read``, one already stored identically as ``skipped``; an
    invalid output is the result's error (nothing written)."""
    started = time.perf_counter()
    result = IngestResult(engine="spark-job")
    store = profile_store(ws)
    try:
        layouts = package_layouts(ws).layouts
        result.read, result.skipped, result.rows = import_profiles(store, directory, layouts,
                                                                   now=now)
    except LogError as exc:
        result.errors.append(exc)
    finally:
        store.close()
    result.seconds = time.perf_counter() - started
    return result


#: the stat signatures under which each store was last found up to date (:mod:`.watch`)
UP_TO_DATE = UpToDate()


def ingest_if_changed(ws: Workspace, engine: str = "pandas") -> IngestResult | None:
    """:func:`ingest` (of the listing just taken) when a log file is new, changed or gone
    or a package hash changed; None when nothing did: a stat of each log file, manifest
    and the store when none moved since the last such answer (:mod:`.watch`), else a
    read of the store's bookkeeping and of each manifest."""
    store = ws.data_dir / PROFILES_FILE
    signature = watched(ws, store)
    if UP_TO_DATE.holds(store, signature):
        return None
    files, errors = listing = _listing(ws)
    known = _local(profile_store(ws).sources())
    if errors or set(files) != set(known):
        return _ingest(ws, engine, None, listing)
    hashes = package_hashes(ws)
    settled = True  # no unfinished last line held by a live writer
    for rel, path in files.items():
        row, st = known[rel], path.stat()
        stale = any(hashes.get(v, "") not in (None, sha) for v, sha in row.layouts.items())
        if stale or not _unchanged(path, st, row):
            return _ingest(ws, engine, None, listing)
        settled = settled and row.bytes >= st.st_size
    if settled:
        UP_TO_DATE.remember(store, signature)
    return None

