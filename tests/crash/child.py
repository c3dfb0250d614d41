"""Child processes of the crash suite (``python -m crash.child MODE ARGS``), killed with -9.

Modes (each bounded in count and time, each line flushed as soon as it is true):

- ``export MODELS_DIR N DELAY_S``: N exports of a slow-predicting model, "done <version>"
  after each returns;
- ``lock MODELS_DIR`` / ``claim MODELS_DIR``: take the export lock, or claim an export's
  temporary folder, print "locked" / "claimed <name>" and stay alive;
- ``writes WORKSPACE HISTORY FIRST N``: N times, a daily record (with its two alerts, one
  transaction) through :func:`deployready.monitoring.daily.store_record`, "committed day <date>",
  then a run through :func:`deployready.certification.history.append_run`, "committed run <run_id>";
- ``loadtest WORKSPACE MODE REQUESTS RATE``: starts a load test through a
  :class:`~deployready.loadtest.JobRegistry`, prints "started <run_id> <worker pid>" and
  stays alive (owning the registry and the worker) for at most ``HOLD_S``;
- ``start WORKSPACE GO_FILE``: waits for ``GO_FILE``, then calls ``JobRegistry.start``
  once and prints "start <run_id> <created>", then stays alive for at most ``HOLD_S``;
- ``atomic PATH``: :func:`deployready.memo.write_atomic` of ``PATH`` whose writer writes a
  little, prints "writing" and stays alive (holding its open temporary file) for at most
  ``HOLD_S``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

HOLD_S = 120.0


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def export_loop(models_dir: Path, n: int, delay_s: float) -> None:
    from crash.slow_model import SlowProba
    from crash.support import dataset, export, fitted

    frame, features = dataset()
    for i in range(n):
        model, scaler = fitted(frame, features, c=1.0 / (i + 2))  # a new model: minor bump
        say(f"begin {i}")
        info = export(models_dir, SlowProba(model, delay_s), scaler, frame, features)
        say(f"done {info.version}")


def lock(models_dir: Path) -> None:
    from deployready.package.staging import export_lock

    models_dir.mkdir(parents=True, exist_ok=True)
    with export_lock(models_dir):
        say("locked")
        hold()


def claim(models_dir: Path) -> None:
    from deployready.package.staging import claim_tmp

    models_dir.mkdir(parents=True, exist_ok=True)
    tmp, _fd = claim_tmp(models_dir)  # as an export does before it builds the package
    say(f"claimed {tmp.name}")
    hold()


def write_loop(root: Path, history: Path, first: int, n: int) -> None:
    from crash.support import daily_record, history_row
    from deployready.certification.history import append_run
    from deployready.monitoring.daily import store_record
    from deployready.workspace import Workspace

    ws = Workspace(root)
    for i in range(first, first + n):
        record = store_record(ws, daily_record(i), deliver=False)
        say(f"committed day {record.date}")
        append_run(history, history_row(i + 1))
        say(f"committed run run-{i + 1}")


def hold() -> None:
    deadline = time.monotonic() + HOLD_S
    while time.monotonic() < deadline:
        time.sleep(0.2)


def loadtest(root: Path, mode: str, requests: int, rate: float) -> None:
    from deployready.loadtest import JobRegistry, LoadTestConfig
    from deployready.workspace import Workspace

    ws = Workspace(root)
    config = LoadTestConfig.from_policy(ws.versions()[-1], ws.policy().load_test,
                                        mode=mode, requests=requests, rate=rate)
    registry = JobRegistry()
    job, created = registry.start(ws, config)
    assert job.proc is not None and created
    say(f"started {job.run_id} {job.proc.pid}")
    hold()


def start_once(root: Path, go_file: Path) -> None:
    from deployready.loadtest import JobRegistry, LoadTestConfig
    from deployready.workspace import Workspace

    ws = Workspace(root)
    config = LoadTestConfig.from_policy(ws.versions()[-1], ws.policy().load_test,
                                        mode="open", requests=5000, rate=50.0)
    registry = JobRegistry()
    say("ready")
    deadline = time.monotonic() + 60.0
    while not go_file.exists() and time.monotonic() < deadline:
        time.sleep(0.001)
    job, created = registry.start(ws, config)
    say(f"start {job.run_id} {int(created)}")
    hold()


def atomic(path: Path) -> None:
    from typing import IO

    from deployready.memo import write_atomic

    def write(out: IO[bytes]) -> None:
        out.write(b"half of a value")
        out.flush()
        say("writing")
        hold()

    write_atomic(path, write)


def main(argv: list[str]) -> int:
    mode, args = argv[0], argv[1:]
    if mode == "export":
        export_loop(Path(args[0]), int(args[1]), float(args[2]))
    elif mode == "lock":
        lock(Path(args[0]))
    elif mode == "claim":
        claim(Path(args[0]))
    elif mode == "writes":
        write_loop(Path(args[0]), Path(args[1]), int(args[2]), int(args[3]))
    elif mode == "loadtest":
        loadtest(Path(args[0]), args[1], int(args[2]), float(args[3]))
    elif mode == "start":
        start_once(Path(args[0]), Path(args[1]))
    elif mode == "atomic":
        atomic(Path(args[0]))
    else:
        say(f"unknown mode {mode}")
        return 2
    say("finished")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
