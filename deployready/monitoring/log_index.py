"""The narrow columns of every log file — (timestamp, version, prediction, ok, request id)
— kept across processes, for joins that need rows rather than profiles.

Joining labels to predictions needs the logged rows themselves: the predictions of the
period, and every successful request id (a label that matches none is reported). Reading
a year of daily files for that parses every feature column of every row again in each
fresh process. :func:`narrow_rows` answers from one index file in the workspace's cache
folder (``.deployready-cache/log-index.npz``, numpy arrays, loaded without pickle) whose
segments are keyed per log file on (path, size, modification time in ns, bytes read): a
file that is new, grew or was rewritten is read and validated again (a bad one raises
:class:`~deployready.errors.LogError` as a direct read does) and the index rewritten
atomically; a segment of a file no longer there is dropped. An index that is missing,
unreadable or of another format is rebuilt; a folder that cannot be written leaves the
rows computed but the index unchanged.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from deployready.memo import cache_path, write_atomic
from deployready.monitoring.logs_file import read_log_file
from deployready.monitoring.logs_live import FileState

__all__ = ["INDEX_NAME", "narrow_rows"]

INDEX_NAME = "log-index.npz"
#: bumped whenever the arrays' meaning changes: an index of another format is rebuilt
FORMAT = 1
COLUMNS = ("timestamp", "version", "prediction", "ok", "request_id")
_ARRAYS = ("ts", "version", "prediction", "ok", "request_id")

Segment = dict[str, np.ndarray]


def _key(path: Path, state: FileState) -> tuple[int, int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns, state.readable


def _segment(path: Path, state: FileState) -> Segment:
    """One file's rows, read and validated (base columns only)."""
    frame = read_log_file(path, {}, state)
    ts = frame["timestamp"].astype("datetime64[ns, UTC]")
    return {
        "ts": ts.dt.tz_localize(None).to_numpy().view("int64"),
        "version": frame["version"].to_numpy(dtype=str),
        "prediction": frame["prediction"].to_numpy(dtype=np.float64),
        "ok": (frame["error"] == "").to_numpy(dtype=bool),
        "request_id": frame["request_id"].fillna("").to_numpy(dtype=str),
    }


def _load(path: Path) -> dict[str, tuple[tuple[int, int, int], Segment]]:
    """The stored segments by file path; {} when absent, unreadable or stale in format."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if int(z["format"][0]) != FORMAT:
                return {}
            files, keys, offsets = z["files"], z["keys"], z["offsets"]
            arrays = {name: z[name] for name in _ARRAYS}
    except (OSError, ValueError, KeyError, IndexError, EOFError):
        return {}
    n = len(files)
    if keys.shape != (n, 3) or offsets.shape != (n + 1,) or any(
            len(a) != int(offsets[-1]) for a in arrays.values()):
        return {}
    return {
        str(files[i]): (
            (int(keys[i, 0]), int(keys[i, 1]), int(keys[i, 2])),
            {name: a[offsets[i]:offsets[i + 1]] for name, a in arrays.items()},
        )
        for i in range(n)
    }


def _save(path: Path, entries: list[tuple[str, tuple[int, int, int], Segment]]) -> None:
    lengths = [len(seg["ts"]) for _, _, seg in entries]
    arrays: dict[str, Any] = {
        name: (np.concatenate([seg[name] for _, _, seg in entries]) if entries
               else np.array([], dtype=np.float64))
        for name in _ARRAYS
    }
    arrays["format"] = np.array([FORMAT])
    arrays["files"] = np.array([p for p, _, _ in entries], dtype=str)
    arrays["keys"] = np.array([k for _, k, _ in entries], dtype=np.int64).reshape(-1, 3)
    arrays["offsets"] = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])

    def write(out: IO[bytes]) -> None:
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        out.write(buffer.getvalue())

    write_atomic(path, write)


def narrow_rows(files: list[Path], states: dict[Path, FileState], root: str | Path | None
                ) -> pd.DataFrame:
    """Every row of ``files`` (in file order, each in row order): columns timestamp
    (UTC, ns), version, prediction, ok (no error), request_id (NA when none). ``root``:
    the workspace whose cache folder keeps the index (None: no index)."""
    index = cache_path(root, INDEX_NAME) if root is not None else None
    stored = _load(index) if index is not None and index.exists() else {}
    entries: list[tuple[str, tuple[int, int, int], Segment]] = []
    changed = len(stored) != len(files)
    for path in files:
        key = _key(path, states[path])
        hit = stored.get(str(path))
        if hit is not None and hit[0] == key:
            entries.append((str(path), key, hit[1]))
            continue
        entries.append((str(path), key, _segment(path, states[path])))
        changed = True
    if index is not None and changed:
        _save(index, entries)
    return _frame([seg for _, _, seg in entries])


def _frame(segments: list[Segment]) -> pd.DataFrame:
    def column(name: str, dtype: Any) -> np.ndarray:
        return (np.concatenate([s[name] for s in segments]) if segments
                else np.array([], dtype=dtype))

    rid = column("request_id", str)
    ids = rid.astype(object)
    ids[rid == ""] = None
    return pd.DataFrame({
        "timestamp": pd.to_datetime(column("ts", np.int64), unit="ns", utc=True),
        "version": column("version", str).astype(object),
        "prediction": column("prediction", np.float64).astype(np.float64),
        "ok": column("ok", bool).astype(bool),
        "request_id": pd.array(ids, dtype="string"),
    })[list(COLUMNS)]
