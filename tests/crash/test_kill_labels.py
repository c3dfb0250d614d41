"""kill -9 during ``deployready labels import``: the whole label file or none of it.

A real ``python -m deployready labels import`` is killed with SIGKILL at random moments
of importing a file of a few megabytes (the validation, the copy, the fsync, the link);
afterwards the stored file is either absent or byte-for-byte the source, the label file
stored before is untouched, and the labels still load.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from crash.support import REPO, child_env
from deployready.performance.labels import load_labels

ATTEMPTS = 6
ROWS = 150_000


def _label_file(path: Path, rows: int, prefix: str) -> bytes:
    lines = ["request_id,label,labeled_at"]
    lines += [f"{prefix}{i:07d},{i % 2},2026-03-0{1 + i % 9}T12:00:00Z" for i in range(rows)]
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(data)
    return data


def test_a_killed_import_leaves_the_whole_file_or_nothing(tmp_path: Path) -> None:
    labels = tmp_path / "ws" / "data" / "labels"
    labels.mkdir(parents=True)
    existing = _label_file(labels / "earlier.csv", 10, "old-")
    src = tmp_path / "incoming.csv"
    data = _label_file(src, ROWS, "new-")
    rng = random.Random(11)
    outcomes = set()
    for attempt in range(ATTEMPTS):
        target = labels / "incoming.csv"
        if target.exists():
            target.unlink()
        proc = subprocess.Popen(
            [sys.executable, "-m", "deployready", "labels", "import", str(src),
             "-w", str(tmp_path / "ws")], cwd=REPO, env=child_env(),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            # the last attempt is never killed: the import itself must work
            delay = 120.0 if attempt == ATTEMPTS - 1 else rng.uniform(0.3, 2.5)
            try:
                proc.wait(delay)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(30)
        if proc.returncode == -signal.SIGKILL:
            outcomes.add("killed")
        else:
            assert proc.returncode == 0, proc.returncode
            outcomes.add("imported")
        if target.exists():
            assert target.read_bytes() == data, "a half-written label file"
        assert (labels / "earlier.csv").read_bytes() == existing
        loaded = load_labels(labels)  # leftovers of a kill are hidden: never read
        assert len(loaded.frame) == 10 + (ROWS if target.exists() else 0)
        time.sleep(0.05)
    assert outcomes == {"killed", "imported"}
