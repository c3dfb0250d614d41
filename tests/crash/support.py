"""Helpers of the crash suite: small workspaces, child processes killed with SIGKILL.

Children run ``python -m crash.child MODE ...`` with ``tests/`` and the repository on
``PYTHONPATH`` and report progress as lines on stdout ("done v1.0", "committed 2026-01-03").
Every child is killed and reaped by its context manager, whatever happens in the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"
VERSION = "v1.0"
DAY0 = "2026-01-01"

# Lenient targets: the load tests here prove crash safety, not speed.
POLICY = """
[load_test]
concurrency = 10
requests = 200
p50_ms = 5000.0
p95_ms = 5000.0
p99_ms = 5000.0
timeout_ms = 5000.0
warmup_requests = 5
max_seconds = 120.0
"""


# --------------------------------------------------------------------------- data


def dataset(seed: int = 1, rows: int = 400) -> tuple[pd.DataFrame, list[str]]:
    from deployready.demo.data import make_dataset

    frame = make_dataset(rows, "2026-01-01", "2026-03-01", seed=seed)
    features = [c for c in frame.columns if c not in ("event_time", "target", "is_synthetic")]
    return frame, features


def fitted(frame: pd.DataFrame, features: list[str], c: float = 1.0) -> tuple[Any, Any]:
    """A LogisticRegression and the default preprocessor, fitted on ``frame``."""
    from sklearn.linear_model import LogisticRegression

    from deployready.certification.fitting import default_preprocessor

    scaler = default_preprocessor(frame, features)
    x = scaler.fit_transform(frame[features])
    model = LogisticRegression(max_iter=300, C=c).fit(x, frame["target"])
    return model, scaler


def export(models_dir: Path, model: Any, scaler: Any, frame: pd.DataFrame,
           features: list[str], *, shap_max_rows: int = 30) -> Any:
    from deployready.package.export import export_package

    return export_package(models_dir, model=model, scaler=scaler, train=frame,
                          features=features, target_column="target",
                          holdout=frame.tail(40), holdout_rows=40,
                          shap_max_rows=shap_max_rows, shap_time_budget_s=3.0)


def build_workspace(root: Path) -> Path:
    """A workspace with the lenient policy and one small package, v1.0."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "deployready.toml").write_text(POLICY)
    frame, features = dataset()
    model, scaler = fitted(frame, features)
    info = export(root / "models", model, scaler, frame, features)
    assert info.version == VERSION
    return root


def day(i: int) -> str:
    return (pd.Timestamp(DAY0) + pd.Timedelta(days=i)).strftime("%Y-%m-%d")


def daily_record(i: int) -> Any:
    """A realistic daily record for day ``i``: two failing checks (two alerts), a spike list."""
    from deployready.checks import Category, Check, Status
    from deployready.monitoring.daily import DailyRecord

    daily, fail, ok = Category.DAILY, Status.FAIL, Status.PASS
    checks = [
        Check("p99", daily, fail, 80.0 + i, "< 50 ms", "P99 above target"),
        Check("error_spike", daily, fail, 0.05, "<= 3x trailing", "error spike"),
        Check("prediction_psi", daily, ok, 0.01, "< 0.25", "ok"),
        Check("feature_psi", daily, ok, 0.02, "< 0.25", "ok"),
    ]
    spikes = [{"timestamp": f"{day(i)}T{h % 24:02d}:00:00+00:00", "latency_ms": 100.0 + h}
              for h in range(300)]
    return DailyRecord(
        date=day(i), version=VERSION, package_sha256="a" * 64, status="alert",
        created_at=f"{day(i)}T23:00:00+00:00", rows=1000 + i, errors=50,
        error_rate=0.05, trailing_error_rate=0.01, error_kinds={"timeout": 50},
        latency={"p50": 10.0, "p95": 40.0, "p99": 80.0 + i}, baseline={}, spikes=spikes,
        checks=checks, drift=None,
    )


def history_row(i: int) -> dict[str, Any]:
    folds = [{"train_start": "2024-01-01T00:00:00+00:00",
              "train_end": f"2024-02-{k * 3 + 1:02d}T00:00:00+00:00",
              "test_start": f"2024-02-{k * 3 + 2:02d}T00:00:00+00:00",
              "test_end": f"2024-02-{k * 3 + 3:02d}T00:00:00+00:00"} for k in range(5)]
    return {
        "run_id": f"run-{i}",
        "trained_at": (pd.Timestamp("2024-05-01T10:00:00+00:00")
                       + pd.Timedelta(hours=i)).isoformat(),
        "model_version": "",
        "roc_auc": 0.88, "average_precision": 0.7, "brier": 0.11, "ece": 0.02, "ks": 0.6,
        "cv_metric": "roc_auc",
        "cv_fold_scores": [0.85, 0.86, 0.84, 0.87, 0.85],
        "cv_folds": folds,
        "synthetic_ratio": 1.2, "noise": 0.01,
        "feature_entropy": {f"f{k}": 0.5 for k in range(40)},
        "n_train": 800, "n_test": 200, "n_real": 700, "n_synthetic": 100,
        "dataset_sha256": "ab" * 32, "notes": "x" * 200,
    }


# --------------------------------------------------------------------------- processes


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    parts = [str(TESTS), str(REPO), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in parts if p)
    env.setdefault("DO_NOT_TRACK", "1")
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Child:
    """A ``crash.child`` subprocess whose stdout lines are collected on a thread."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "crash.child", *args], stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=child_env(), cwd=REPO)
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self._queue.put(raw.decode("utf-8", "replace").rstrip("\n"))
        self._queue.put(None)

    def _drain(self, timeout: float) -> bool:
        """Collect the lines printed so far (waiting up to ``timeout`` for one); False at EOF."""
        try:
            line = self._queue.get(timeout=timeout)
        except queue.Empty:
            return True
        while True:
            if line is None:
                return False
            self.lines.append(line)
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                return True

    def wait_for(self, prefix: str, count: int = 1, timeout: float = 60.0) -> list[str]:
        """Wait until ``count`` lines start with ``prefix``; they are returned."""
        deadline = time.monotonic() + timeout
        while True:
            found = [ln for ln in self.lines if ln.startswith(prefix)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"no {count}x {prefix!r} within {timeout} s: {self.output}")
            if not self._drain(0.05) and self.proc.poll() is not None:
                found = [ln for ln in self.lines if ln.startswith(prefix)]
                if len(found) >= count:
                    return found
                raise AssertionError(f"child exited {self.proc.returncode}: {self.output}")

    def reported(self, prefix: str) -> list[str]:
        """Everything the child reported after ``prefix`` so far (all of it once it is dead)."""
        if self.proc.poll() is not None:
            self._reader.join(10)
        while self._drain(0.0):
            if self._queue.empty():
                break
        return [ln[len(prefix):].strip() for ln in self.lines if ln.startswith(prefix)]

    @property
    def output(self) -> str:
        return "\n".join(self.lines[-30:])

    def kill9(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill9()
        self._reader.join(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@contextlib.contextmanager
def child(*args: str) -> Iterator[Child]:
    proc = Child(*args)
    try:
        yield proc
    finally:
        proc.close()


def processes_under(root: Path) -> list[Any]:
    """Live processes (not zombies) whose command line names the workspace ``root``."""
    import psutil

    mark = str(root.resolve())
    out = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE or proc.pid == os.getpid():
                continue
            if any(mark in str(part) for part in proc.info["cmdline"] or ()):
                out.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return out


def kill_processes_under(root: Path) -> list[int]:
    """SIGKILL every process still running for the workspace ``root`` (test cleanup)."""
    import psutil

    killed = []
    for proc in processes_under(root):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            proc.kill()
            proc.wait(10)
            killed.append(proc.pid)
    return killed


def wait_gone(pid: int, timeout: float) -> bool:
    """True when ``pid`` exits (or is a zombie) within ``timeout`` seconds."""
    import psutil

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
