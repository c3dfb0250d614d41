"""Ground truth for a workspace's production logs, as a labelling process would deliver
it: request ids on the logged predictions, and label files whose labels arrive days
later (most within 3–10 days, some never), only those that have arrived by ``now``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from deployready.workspace import Workspace

NEVER = 0.1  # share of predictions whose label never comes


def add_request_ids(ws: Workspace) -> None:
    """Give every logged prediction a request id (logs written before ids had none)."""
    for path in sorted(ws.production_dir.glob("predictions-*.csv")):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        if "request_id" in frame.columns:
            continue
        frame.insert(5, "request_id", [f"{path.stem}-{i:05d}" for i in range(len(frame))])
        frame.to_csv(path, index=False)


def write_labels(ws: Workspace, now: datetime, *, seed: int = 5,
                 name: str = "chargebacks.csv") -> Path:
    """One label file: each successful prediction's label drawn from its score, known
    3–10 days after it (a tenth never), keeping those known by ``now``."""
    rng = np.random.default_rng(seed)
    parts = []
    for path in sorted(ws.production_dir.glob("predictions-*.csv")):
        log = pd.read_csv(path, usecols=["timestamp", "prediction", "error", "request_id"],
                          dtype={"error": str, "request_id": str}, keep_default_na=False,
                          na_values={"prediction": [""]})
        log = log[log["error"] == ""]
        ts = pd.to_datetime(log["timestamp"], utc=True)
        delay = pd.to_timedelta(rng.uniform(3, 10, len(log)), unit="D")
        known = (rng.random(len(log)) >= NEVER) & (ts + delay <= pd.Timestamp(now)).to_numpy()
        label = (rng.random(len(log)) < log["prediction"].to_numpy(float)).astype(int)
        parts.append(pd.DataFrame({
            "request_id": log["request_id"], "label": label,
            "labeled_at": (ts + delay).dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        })[known])
    ws.labels_dir.mkdir(parents=True, exist_ok=True)
    out = ws.labels_dir / name
    pd.concat(parts, ignore_index=True).to_csv(out, index=False)
    return out
