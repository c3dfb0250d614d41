"""Ground truth for the demo: chargebacks that arrive late, for part of the traffic.

``write_demo_labels`` takes the true label of every successful logged request
(:attr:`deployready.demo.logs.DemoLogs.truth`) and decides, from ``seed``, whether and
when its label arrives:

- :data:`NEVER` of the requests never get one (disputes that are never settled);
- of the others, most arrive 3 to 10 days after the prediction (uniform), a few
  (:data:`LATE`) 10 to 20 days after;
- a label is written only once it has arrived by ``now``, in the file of the UTC day it
  arrived on, ``data/labels/chargebacks-YYYY-MM-DD.csv`` (``request_id``, ``label``,
  ``labeled_at``) — the format ``deployready labels import`` takes.

So the last days of the logs have few or no labels yet: their realized performance is
pending or provisional, while the older days are judged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from deployready.workspace import Workspace

NEVER = 0.12
LATE = 0.08
DELAY_DAYS = (3.0, 10.0)
LATE_DAYS = (10.0, 20.0)


@dataclass(frozen=True)
class DemoLabels:
    files: list[Path]
    labels: int  # written (arrived by now)
    pending: int  # will arrive after now
    never: int


def write_demo_labels(
    ws: Workspace, truth: pd.DataFrame, now: datetime, *, seed: int = 7
) -> DemoLabels:
    """Write the labels of ``truth`` (request_id, timestamp, label) arrived by ``now``."""
    rng = np.random.default_rng(seed + 2)
    n = len(truth)
    never = rng.random(n) < NEVER
    late = rng.random(n) < LATE
    days = np.where(late, rng.uniform(*LATE_DAYS, n), rng.uniform(*DELAY_DAYS, n))
    labeled_at = truth["timestamp"].reset_index(drop=True) + pd.to_timedelta(days, unit="D")
    arrived = ~never & (labeled_at <= pd.Timestamp(now)).to_numpy()
    out = pd.DataFrame({
        "request_id": truth["request_id"].to_numpy()[arrived],
        "label": truth["label"].to_numpy()[arrived].astype(np.int64),
        "labeled_at": labeled_at[arrived].dt.strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy(),
        "day": labeled_at[arrived].dt.date.to_numpy(),
    }).sort_values("labeled_at", kind="stable")
    directory = Path(ws.labels_dir)
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for day, rows in out.groupby("day", sort=True):
        path = directory / f"chargebacks-{day.isoformat()}.csv"
        rows.drop(columns="day").to_csv(path, index=False)
        files.append(path)
    return DemoLabels(files, int(arrived.sum()), int((~never & ~arrived).sum()),
                      int(never.sum()))
