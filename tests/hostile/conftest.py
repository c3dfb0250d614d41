"""Fixtures of the hostile-input suite: one small workspace, built once, copied per test.

The master workspace holds the default policy, a certification history of one retrain
run (``record_run`` with a LogisticRegression on 600 demo rows), package ``v1.0``
(``export_package`` with the default preprocessor), three days of production logs
(``write_demo_logs``, 40 rows a day) and one stored daily check — so that every test has
real evidence that a failed operation must not lose.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployready.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
LOG_DAY = "2026-03-10"
VERSION = "v1.0"


def build_master(root: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    from deployready.certification.training import record_run
    from deployready.demo.data import make_dataset
    from deployready.demo.logs import write_demo_logs
    from deployready.monitoring.daily import run_daily
    from deployready.package.export import export_package
    from deployready.policy import write_policy

    root.mkdir(parents=True, exist_ok=True)
    ws = Workspace.open(root)
    write_policy(root)
    data = make_dataset(600, "2026-01-01", "2026-03-01", seed=1)
    run = record_run(
        ws.certification_dir / "history.csv",
        LogisticRegression(max_iter=200),
        data,
        target="target",
        time_column="event_time",
        policy=ws.policy(),
        trained_at="2026-03-02T06:00:00+00:00",
        n_jobs=1,
    )
    info = export_package(
        ws,
        model=run.model,
        scaler=run.scaler,
        train=run.train,
        features=run.features,
        target_column="target",
        holdout=run.test[[*run.features, "target"]].head(20),
        run_id=run.run_id,
        shap_max_rows=30,
        shap_time_budget_s=2.0,
        created_at="2026-03-02T12:00:00+00:00",
    )
    write_demo_logs(
        ws,
        info.path,
        days=3,
        end_date=LOG_DAY,
        rows_per_day=40,
        spike_day=None,
        error_spike_day=None,
    )
    run_daily(ws, VERSION, LOG_DAY, deliver=False)


@pytest.fixture(scope="session")
def hostile_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile-master") / "ws"
    build_master(root)
    return root


@pytest.fixture
def hws(hostile_master: Path, tmp_path: Path) -> Workspace:
    """A private copy of the master workspace."""
    target = tmp_path / "ws"
    shutil.copytree(hostile_master, target)
    return Workspace.open(target)


# --------------------------------------------------------------------------- invariants

STORE_TABLES = ("daily_checks", "alerts", "loadtest_runs", "rollout_events", "signoffs")
#: The profile store (``data/profiles.db``): a failed ingest of a file stores nothing of it.
PROFILE_TABLES = ("profile_sources", "profile_segments", "profile_hours", "profile_days")
SQLITE_FILES = ("data/deployready.db", "data/profiles.db")
#: Values kept across processes (``deployready.memo.CACHE_DIR``): computed from the files,
#: keyed on them and recomputed when stale or corrupt — not evidence a failure could lose
#: (a read that fails later may still have kept the log index it built).
CACHE_FILES = (".deployready-cache/",)


def _rows(db: Path, tables: tuple[str, ...]) -> dict[str, list[tuple[object, ...]]]:
    rows: dict[str, list[tuple[object, ...]]] = {}
    if not db.exists():
        return rows
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        for table in tables:
            try:
                rows[table] = sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
            except sqlite3.OperationalError:
                rows[table] = []
    finally:
        conn.close()
    return rows


def snapshot(ws: Workspace) -> dict[str, object]:
    """Every file's bytes (the SQLite files excepted), every store and profile row."""
    files: dict[str, bytes] = {}
    for path in sorted(ws.root.rglob("*")):
        rel = path.relative_to(ws.root).as_posix()
        if path.is_file() and not rel.startswith(SQLITE_FILES + CACHE_FILES):
            files[rel] = path.read_bytes()
    rows = _rows(ws.store_path, STORE_TABLES)
    rows.update(_rows(ws.data_dir / "profiles.db", PROFILE_TABLES))
    return {"files": files, "rows": rows, "profiled": _profiled(ws)}


def _profiled(ws: Workspace) -> dict[str, list[object]]:
    """Per log file in the profile store: its bookkeeping row, segments and counts."""
    db = ws.data_dir / "profiles.db"
    if not db.exists():
        return {}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        out: dict[str, list[object]] = {}
        for (path,) in conn.execute("SELECT path FROM profile_sources").fetchall():
            out[path] = [
                conn.execute("SELECT * FROM profile_sources WHERE path = ?", (path,)).fetchall(),
                conn.execute("SELECT h.* FROM profile_hours h JOIN profile_segments s "
                             "ON h.segment = s.id WHERE s.path = ? ORDER BY h.rowid",
                             (path,)).fetchall(),
            ]
        return out
    except sqlite3.OperationalError:
        return {}
    finally:
        conn.close()


def leftovers(ws: Workspace) -> list[str]:
    """Temporary files or folders a failed write could have left behind."""
    return sorted(
        p.relative_to(ws.root).as_posix()
        for p in ws.root.rglob("*")
        if ".tmp" in p.name
    )


def assert_untouched(before: dict[str, object], ws: Workspace) -> None:
    after = snapshot(ws)
    before_files = before["files"]
    after_files = after["files"]
    assert isinstance(before_files, dict) and isinstance(after_files, dict)
    changed = sorted(
        k for k in set(before_files) | set(after_files) if before_files.get(k) != after_files.get(k)
    )
    assert not changed, f"files changed by a failed operation: {changed}"
    before_profiled, after_profiled = before["profiled"], after["profiled"]
    assert isinstance(before_profiled, dict) and isinstance(after_profiled, dict)
    moved = {p for p in before_profiled.keys() | after_profiled.keys()
             if before_profiled.get(p) != after_profiled.get(p)}
    for path in moved:  # only a faithful profile of a good log file as it is now
        assert path in after_profiled or not (ws.root / path).is_file(), path
        if path in after_profiled:
            source = after_profiled[path][0][0]
            st = (ws.root / path).stat()
            assert (source[1], source[2]) == (st.st_size, st.st_mtime_ns), path
    for rows in (before["rows"], after["rows"]) if moved else ():
        assert isinstance(rows, dict)
        for table in PROFILE_TABLES:
            rows.pop(table, None)
    assert after["rows"] == before["rows"], "store rows changed by a failed operation"
    assert not leftovers(ws), f"temporary files left behind: {leftovers(ws)}"


# --------------------------------------------------------------------------- the CLI


def run_cli(
    args: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "DO_NOT_TRACK": "1", **(env or {})}
    full_env.pop("DEPLOYREADY_WORKSPACE", None)
    return subprocess.run(
        [sys.executable, "-m", "deployready", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def marker_dir(tmp_path: Path) -> Iterator[Path]:
    """Where a hostile pickle would leave its marker if it were ever unpickled."""
    folder = tmp_path / "markers"
    folder.mkdir()
    yield folder
