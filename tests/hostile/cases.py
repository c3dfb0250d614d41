"""The hostile-input corpus: malformed files and requests, one data-driven case each.

Categories (the inputs the product reads) and the number of cases in each — 131 in all:

- ``history``  — certification history (CSV, Parquet, JSON lines; reading and appending),
  values out of range, duplicated columns, numbers as times: 33
- ``policy``   — ``deployready.toml``: 10
- ``package``  — feature_schema.json, model_metadata.json, MANIFEST.json (malformed JSON,
  wrong types, ``../x`` and absolute names, missing entries), pickles (truncated,
  swapped, a hostile pickle that would create a marker file, with and without a
  rewritten manifest), signatures (a forged package — every hash rewritten to match a
  hostile pickle —, a missing signature, one by a key the policy does not trust),
  holdout.parquet, reference_profile.json, README.md, a folder
  that is not a version, an export that fails midway, symbolic links (inside the
  package, to another package, outside), a pipe or a folder where a file belongs: 29
- ``logs``     — production prediction logs, each case on both engines (pandas, DuckDB),
  including timestamps in the future, predictions outside [0, 1] and a half-written last
  line no writer will finish (a 0-byte, header-only or live file is not an error:
  ``test_files.py`` checks those are read as no rows yet): 22
- ``labels``   — ground-truth label files (CSV, JSON lines), each case on both engines:
  labels outside the classes, missing or unparseable values, two different labels for
  one request id, garbage, a folder, a broken link or a FIFO at a label file's name: 15
- ``http``     — requests to ``deployready serve``, listed in ``test_http.py``: 22

Each category also holds its "not a file" cases: every file its loaders open made a
folder, a broken symbolic link or a FIFO (unreadable files: ``test_not_a_file.py``).

Plus ``test_fuzz_loaders.py``: property-based fuzzing (hypothesis) of every loader.

Each file case names how the bad input is made (``mutate`` on a copy of the small master
workspace, see ``conftest.py``), the user-facing call that must refuse it (``action``),
the error class, and fragments the message must contain (the file, the row/column/key,
what was expected). ``cli`` runs the same input through ``python -m deployready`` for a
representative subset. Every case also checks that nothing stored was lost or
half-written (file bytes, store rows, no temporary leftovers).

To extend the corpus, append a :class:`Case` to the list of its category.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from deployready.errors import (
    DeployReadyError,
    HistoryError,
    IntegrityError,
    LabelError,
    LogError,
    PackageError,
    PolicyError,
)
from deployready.workspace import Workspace

VERSION = "v1.0"
LOG_DAY = "2026-03-10"
HISTORY = "data/certification/history.csv"
PKG = f"models/{VERSION}"
LOG_FILE = f"data/production/predictions-{LOG_DAY}.csv"

Mutate = Callable[[Path], None]
Action = Callable[[Workspace], Any]


@dataclass(frozen=True)
class Case:
    name: str
    category: str
    mutate: Mutate
    action: Action
    error: type[DeployReadyError]
    fragments: tuple[str, ...]
    #: CLI arguments ({ws} = workspace, {pkg} = package folder); None: API only
    cli: tuple[str, ...] | None = None
    cli_code: int = 2
    #: a reason when the case documents a known bug in a module this suite may not fix
    xfail: str | None = None
    #: per log engine xfail reasons (logs cases only)
    engine_xfail: dict[str, str] = field(default_factory=dict)
    #: package cases: file that validate_package(deep=True) must name in a finding
    finding_file: str | None = None

    def __str__(self) -> str:
        return self.name


# --------------------------------------------------------------------------- helpers


def write_bytes(rel: str, data: bytes) -> Mutate:
    def mutate(root: Path) -> None:
        (root / rel).write_bytes(data)

    return mutate


def write_text(rel: str, text: str) -> Mutate:
    return write_bytes(rel, text.encode("utf-8"))


def chain(*steps: Mutate) -> Mutate:
    def mutate(root: Path) -> None:
        for step in steps:
            step(root)

    return mutate


def edit_csv(rel: str, fn: Callable[[pd.DataFrame], pd.DataFrame | None]) -> Mutate:
    def mutate(root: Path) -> None:
        path = root / rel
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        out = fn(frame)
        (out if out is not None else frame).to_csv(path, index=False)

    return mutate


def set_cell(rel: str, column: str, value: str, row: int = 0) -> Mutate:
    def fn(frame: pd.DataFrame) -> None:
        frame.loc[row, column] = value

    return edit_csv(rel, fn)


def rehash(root: Path) -> None:
    """Rewrite MANIFEST.json so that it matches the (tampered) files again."""
    folder = root / PKG
    manifest = json.loads((folder / "MANIFEST.json").read_text(encoding="utf-8"))
    for name in manifest["files"]:
        data = (folder / name).read_bytes()
        manifest["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    (folder / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def edit_json(rel: str, fn: Callable[[Any], Any], *, rehashed: bool = False) -> Mutate:
    def mutate(root: Path) -> None:
        path = root / rel
        data = json.loads(path.read_text(encoding="utf-8"))
        out = fn(data)
        path.write_text(json.dumps(data if out is None else out, indent=2), encoding="utf-8")
        if rehashed:
            rehash(root)

    return mutate


def history_records(root: Path) -> list[dict[str, Any]]:
    """The master history as native JSON-lines records."""
    frame = pd.read_csv(root / HISTORY, dtype=str, keep_default_na=False)
    records = []
    for rec in frame.to_dict("records"):
        out: dict[str, Any] = dict(rec)
        for column in ("cv_fold_scores", "cv_folds", "feature_entropy"):
            out[column] = json.loads(rec[column])
        for column in ("roc_auc", "average_precision", "brier", "ece", "ks", "synthetic_ratio",
                       "noise"):
            out[column] = float(rec[column])
        for column in ("n_train", "n_test", "n_real", "n_synthetic"):
            out[column] = int(rec[column])
        records.append(out)
    return records


def as_jsonl(edit: Callable[[list[dict[str, Any]]], list[str]]) -> Mutate:
    """Replace history.csv by history.jsonl whose lines ``edit`` returns."""

    def mutate(root: Path) -> None:
        lines = edit(history_records(root))
        (root / HISTORY).unlink()
        text = "\n".join(lines) + "\n"
        (root / "data/certification/history.jsonl").write_text(text, encoding="utf-8")

    return mutate


def as_parquet(edit: Callable[[pd.DataFrame], pd.DataFrame]) -> Mutate:
    def mutate(root: Path) -> None:
        frame = edit(pd.read_csv(root / HISTORY, dtype=str, keep_default_na=False))
        (root / HISTORY).unlink()
        frame.to_parquet(root / "data/certification/history.parquet", index=False)

    return mutate


def duplicate_column(column: str, value: str) -> Mutate:
    """history.csv gets a second ``column`` holding ``value`` in every row."""

    def mutate(root: Path) -> None:
        lines = (root / HISTORY).read_text(encoding="utf-8").splitlines()
        lines = [lines[0] + f",{column}"] + [line + f",{value}" for line in lines[1:]]
        (root / HISTORY).write_text("\n".join(lines) + "\n", encoding="utf-8")

    return mutate


def parquet_duplicate(column: str) -> Mutate:
    """history.parquet gets a second copy of ``column``."""

    def mutate(root: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = root / "data/certification/history.parquet"
        table = pq.read_table(path)
        table = pa.Table.from_arrays([*table.columns, table.column(column)],
                                     names=[*table.column_names, column])
        pq.write_table(table, path)

    return mutate


def nothing(root: Path) -> None:
    """The input is the call itself (e.g. the row handed to ``append_run``)."""


class Hostile:
    """Unpickling this creates a marker file: proof that untrusted bytes were loaded."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (self.marker, "w"))


MARKER_ENV = "DEPLOYREADY_TEST_MARKER"


def hostile_pickle(*, rehashed: bool) -> Mutate:
    def mutate(root: Path) -> None:
        import joblib

        marker = os.environ[MARKER_ENV]
        joblib.dump(Hostile(marker), root / PKG / "model.pkl")
        if rehashed:
            rehash(root)

    return mutate


# --------------------------------------------------------------------------- actions


def history_path(ws: Workspace) -> Path:
    path = ws.history_path()
    assert path is not None
    return path


def load_history_action(ws: Workspace) -> Any:
    from deployready.certification.history import load_history

    return load_history(history_path(ws), ws.policy())


def new_run(ws: Workspace, **changes: Any) -> dict[str, Any]:
    row = history_records(ws.root)[0] if (ws.root / HISTORY).exists() else {}
    if not row:  # the history itself is broken: take the master's row shape
        row = {"run_id": "x", "trained_at": "2026-03-03T06:00:00+00:00"}
    row = {**row, "run_id": "run-new", "trained_at": "2026-03-03T06:00:00+00:00", **changes}
    return {k: v for k, v in row.items() if v is not DROP}


DROP = object()


def append_action(**changes: Any) -> Action:
    def action(ws: Workspace) -> Any:
        from deployready.certification.history import append_run

        return append_run(ws.certification_dir / "history.csv", new_run(ws, **changes), ws.policy())

    return action


def append_master_row(ws: Workspace) -> Any:
    """Append a well-formed run to a history that is itself broken."""
    from deployready.certification.history import append_run

    good = json.loads((ws.root / ".good_run.json").read_text(encoding="utf-8"))
    return append_run(ws.certification_dir / "history.csv", good, ws.policy())


def save_good_run(root: Path) -> None:
    rec = history_records(root)[0]
    rec.update(run_id="run-new", trained_at="2026-03-03T06:00:00+00:00")
    (root / ".good_run.json").write_text(json.dumps(rec), encoding="utf-8")


def rename_history_txt(root: Path) -> None:
    (root / HISTORY).rename(root / "data/certification/history.txt")


def load_txt_history(ws: Workspace) -> Any:
    from deployready.certification.history import load_history

    return load_history(ws.certification_dir / "history.txt")


def policy_action(ws: Workspace) -> Any:
    return ws.policy()


def load_package_action(ws: Workspace) -> Any:
    from deployready.package.load import load_package

    return load_package(ws.package_path(VERSION))


def daily_action(ws: Workspace) -> Any:
    from deployready.monitoring.daily import run_daily

    return run_daily(ws, VERSION, LOG_DAY, deliver=False)


def daily_unknown_version(ws: Workspace) -> Any:
    from deployready.monitoring.daily import run_daily

    return run_daily(ws, "v9.9", LOG_DAY, deliver=False)


class Unpredictable:
    """A 'model' whose predict_proba fails: the export must leave nothing behind."""

    classes_ = (0, 1)

    def fit(self, x: Any, y: Any) -> Unpredictable:
        return self

    def predict_proba(self, x: Any) -> Any:
        raise RuntimeError("model exploded")


def failed_export(ws: Workspace) -> Any:
    from deployready.demo.data import make_dataset
    from deployready.package.load import load_package

    loaded = load_package(ws.package_path(VERSION))
    data = make_dataset(80, "2026-01-01", "2026-02-01", seed=2)
    from deployready.package.export import export_package

    return export_package(
        ws,
        model=Unpredictable(),
        scaler=loaded.scaler,
        train=data,
        features=loaded.features,
        target_column="target",
        shap_max_rows=10,
    )


def load_renamed_package(ws: Workspace) -> Any:
    from deployready.package.load import load_package

    return load_package(ws.models_dir / "latest")


def copy_package_as(name: str) -> Mutate:
    def mutate(root: Path) -> None:
        shutil.copytree(root / PKG, root / "models" / name)

    return mutate


def rename_to(rel: str, new: str) -> Mutate:
    def mutate(root: Path) -> None:
        (root / rel).rename(root / new)

    return mutate


def remove(rel: str) -> Mutate:
    def mutate(root: Path) -> None:
        (root / rel).unlink()

    return mutate


def symlink(rel: str, target: str) -> Mutate:
    """``rel`` becomes a symbolic link to ``target`` (relative to its folder)."""

    def mutate(root: Path) -> None:
        (root / rel).symlink_to(target)

    return mutate


def copy_out(rel: str, to: str) -> Mutate:
    """A copy of a workspace file, the same bytes, at ``to`` outside the workspace."""

    def mutate(root: Path) -> None:
        target = root.parent / to
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / rel, target)

    return mutate


def fifo(rel: str) -> Mutate:
    def mutate(root: Path) -> None:
        os.mkfifo(root / rel)

    return mutate


def folder(rel: str) -> Mutate:
    def mutate(root: Path) -> None:
        (root / rel).mkdir()
        (root / rel / "notes.txt").write_text("not a package file", encoding="utf-8")

    return mutate


# --------------------------------------------------------------------------- history

SCORE = ("score", "-w", "{ws}", "--version", VERSION)
FINITE = "a finite number"

HISTORY_CASES: list[Case] = [
    Case("history-missing-column", "history",
         edit_csv(HISTORY, lambda f: f.drop(columns=["cv_metric"])),
         load_history_action, HistoryError,
         ("history.csv", "column cv_metric", "missing column"), cli=SCORE),
    Case("history-nan-metric", "history", set_cell(HISTORY, "roc_auc", "nan"),
         load_history_action, HistoryError, ("history.csv", "row 1, column roc_auc", FINITE),
         cli=SCORE),
    Case("history-inf-metric", "history", set_cell(HISTORY, "brier", "-inf"),
         load_history_action, HistoryError, ("history.csv", "row 1, column brier", FINITE)),
    Case("history-text-metric", "history", set_cell(HISTORY, "ks", "excellent"),
         load_history_action, HistoryError,
         ("history.csv", "row 1, column ks", "'excellent'", FINITE)),
    Case("history-bad-time", "history", set_cell(HISTORY, "trained_at", "last tuesday"),
         load_history_action, HistoryError,
         ("history.csv", "row 1, column trained_at", "ISO 8601")),
    Case("history-malformed-json-list", "history",
         set_cell(HISTORY, "cv_fold_scores", "[0.8, 0.9"), load_history_action, HistoryError,
         ("history.csv", "row 1, column cv_fold_scores", "malformed JSON",
          "a JSON list of numbers")),
    Case("history-fold-without-bound", "history",
         set_cell(HISTORY, "cv_folds", '[{"train_start": "2026-01-01"}]'), load_history_action,
         HistoryError, ("history.csv", "row 1, column cv_folds", "fold 1 has no train_end")),
    Case("history-duplicate-run-id", "history",
         edit_csv(HISTORY, lambda f: pd.concat([f, f], ignore_index=True)), load_history_action,
         HistoryError, ("history.csv", "row 2, column run_id", "duplicate run_id", "unique")),
    Case("history-empty", "history", write_bytes(HISTORY, b""), load_history_action,
         HistoryError, ("history.csv", "empty file", "a header and one row per retrain run")),
    Case("history-header-only", "history",
         edit_csv(HISTORY, lambda f: f.iloc[0:0]), load_history_action, HistoryError,
         ("history.csv", "no retrain runs", "one row per retrain run")),
    Case("history-binary-garbage", "history", write_bytes(HISTORY, bytes(range(256)) * 8),
         load_history_action, HistoryError, ("history.csv", "not readable as CSV")),
    Case("history-wrong-extension", "history", rename_history_txt, load_txt_history,
         HistoryError, ("history.txt", "unknown history format", "history.csv")),
    Case("history-parquet-garbage", "history",
         chain(lambda root: (root / HISTORY).unlink(),
               write_bytes("data/certification/history.parquet", b"PAR1 not parquet PAR1")),
         load_history_action, HistoryError, ("history.parquet", "not readable as Parquet")),
    Case("history-parquet-missing-time", "history",
         as_parquet(lambda f: f.assign(trained_at=pd.Series([pd.NaT] * len(f),
                                                            dtype="datetime64[ns, UTC]"))),
         load_history_action, HistoryError,
         ("history.parquet", "row 1, column trained_at", "ISO 8601")),
    Case("history-jsonl-malformed-line", "history",
         as_jsonl(lambda recs: [json.dumps(recs[0]), '{"run_id": "broken", ']),
         load_history_action, HistoryError, ("history.jsonl", "line 2", "malformed JSON")),
    Case("history-jsonl-huge-number", "history",
         as_jsonl(lambda recs: [json.dumps({**recs[0], "roc_auc": 10**400})]),
         load_history_action, HistoryError, ("history.jsonl", "row 1, column roc_auc", FINITE)),
    Case("history-append-onto-corrupt-file", "history",
         chain(save_good_run, set_cell(HISTORY, "noise", "loud")), append_master_row,
         HistoryError, ("history.csv", "row 1, column noise", FINITE)),
    Case("history-append-nan-metric", "history", nothing,
         append_action(roc_auc=float("nan")), HistoryError,
         ("history.csv", "new run 'run-new'", "column roc_auc", FINITE)),
    Case("history-append-missing-column", "history", nothing,
         append_action(cv_folds=DROP), HistoryError,
         ("history.csv", "new run 'run-new'", "column cv_folds", "a JSON list of objects")),
    Case("history-append-duplicate-run", "history", nothing,
         lambda ws: append_action(run_id=history_records(ws.root)[0]["run_id"])(ws),
         HistoryError, ("history.csv", "already recorded", "a new run id")),
    Case("history-metric-above-range", "history", set_cell(HISTORY, "roc_auc", "5"),
         load_history_action, HistoryError,
         ("history.csv", "row 1, column roc_auc", "out of range", "in [0, 1]"),
         cli=SCORE),
    Case("history-metric-below-range", "history", set_cell(HISTORY, "log_loss", "-0.2"),
         load_history_action, HistoryError,
         ("history.csv", "row 1, column log_loss", "out of range", ">= 0")),
    Case("history-negative-noise", "history", set_cell(HISTORY, "noise", "-0.5"),
         load_history_action, HistoryError,
         ("history.csv", "row 1, column noise", "out of range", ">= 0"), cli=SCORE),
    Case("history-ratio-below-one", "history", set_cell(HISTORY, "synthetic_ratio", "0.5"),
         load_history_action, HistoryError,
         ("history.csv", "row 1, column synthetic_ratio", "out of range", ">= 1")),
    Case("history-entropy-above-one", "history",
         set_cell(HISTORY, "feature_entropy", '{"amount": 1.5}'), load_history_action,
         HistoryError, ("history.csv", "row 1, column feature_entropy", "feature 'amount'",
                        "in [0, 1]")),
    Case("history-fold-score-out-of-range", "history",
         set_cell(HISTORY, "cv_fold_scores", "[0.8, 1.7, 0.8, 0.8, 0.8]"), load_history_action,
         HistoryError, ("history.csv", "row 1, column cv_fold_scores", "score 2",
                        "roc_auc scores in [0, 1]")),
    Case("history-duplicate-column-csv", "history", duplicate_column("noise", "0.0"),
         load_history_action, HistoryError,
         ("history.csv", "header", "duplicated column(s) noise", "each column once"),
         cli=SCORE),
    Case("history-duplicate-column-parquet", "history",
         chain(as_parquet(lambda f: f), parquet_duplicate("roc_auc")), load_history_action,
         HistoryError, ("history.parquet", "header", "duplicated column(s) roc_auc")),
    Case("history-duplicate-key-jsonl", "history",
         as_jsonl(lambda recs: [json.dumps(recs[0])[:-1] + ', "noise": 0.0}']),
         load_history_action, HistoryError,
         ("history.jsonl", "line 1", "duplicated key 'noise'")),
    Case("history-number-as-time-jsonl", "history",
         as_jsonl(lambda recs: [json.dumps({**recs[0], "trained_at": 1772431200})]),
         load_history_action, HistoryError,
         ("history.jsonl", "row 1, column trained_at", "a bare number is not a time",
          "ISO 8601")),
    Case("history-number-as-time-parquet", "history",
         as_parquet(lambda f: f.assign(trained_at=[1.7724312e18] * len(f))),
         load_history_action, HistoryError,
         ("history.parquet", "row 1, column trained_at", "a bare number is not a time")),
    Case("history-append-negative-noise", "history", nothing, append_action(noise=-0.01),
         HistoryError, ("history.csv", "new run 'run-new'", "column noise", "out of range")),
    Case("history-append-metric-above-range", "history", nothing,
         append_action(ks=1.5), HistoryError,
         ("history.csv", "new run 'run-new'", "column ks", "in [0, 1]")),
]


# --------------------------------------------------------------------------- policy

POLICY = "deployready.toml"
DAILY = ("daily", "-w", "{ws}", "--version", VERSION, "--date", LOG_DAY)


def policy_text(text: str) -> Mutate:
    return write_text(POLICY, text)


POLICY_CASES: list[Case] = [
    Case("policy-unknown-key", "policy", policy_text('colour = "green"\n'), policy_action,
         PolicyError, (POLICY, "colour", "unknown key", "certification"), cli=DAILY),
    Case("policy-unknown-nested-key", "policy", policy_text("[drift]\nbinz = 10\n"),
         policy_action, PolicyError, (POLICY, "drift.binz", "unknown key", "bins")),
    Case("policy-wrong-type", "policy", policy_text('[drift]\nbins = "ten"\n'), policy_action,
         PolicyError, (POLICY, "drift.bins", "wrong type", "an integer"), cli=SCORE),
    Case("policy-table-is-a-number", "policy", policy_text("certification = 5\n"),
         policy_action, PolicyError, (POLICY, "certification", "a table")),
    Case("policy-invalid-toml", "policy", policy_text("[drift\nbins = 10\n"), policy_action,
         PolicyError, (POLICY, "not valid TOML", "line 1"), cli=DAILY),
    Case("policy-not-utf8", "policy", write_bytes(POLICY, '[alerts]\nwebhook_url = "caf\xe9"\n'
                                                  .encode("latin-1")),
         policy_action, PolicyError, (POLICY, "not UTF-8")),
    Case("policy-infinite-threshold", "policy", policy_text("[latency]\np99_ms = inf\n"),
         policy_action, PolicyError, (POLICY, "latency.p99_ms", "not finite", "a number")),
    Case("policy-bad-window", "policy", policy_text('[latency]\nwindow = "7min"\n'),
         policy_action, PolicyError, (POLICY, "latency.window", "does not divide a day"),
         cli=("latency", "-w", "{ws}", "--version", VERSION)),
    Case("policy-bad-baseline-time", "policy",
         policy_text('[latency]\nbaseline = "window"\nbaseline_start = "soon"\n'
                     'baseline_end = "2026-03-01"\n'),
         policy_action, PolicyError, (POLICY, "latency.baseline_start", "ISO 8601")),
    Case("policy-unsorted-stages", "policy", policy_text("[rollout]\nstages = [25, 5, 100]\n"),
         policy_action, PolicyError, (POLICY, "rollout.stages", "strictly increasing")),
]


# --------------------------------------------------------------------------- package

VALIDATE = ("validate", "{pkg}")
SERVE = ("serve", "{pkg}", "--host", "127.0.0.1", "--port", "0", "--no-log")
SCHEMA = f"{PKG}/feature_schema.json"
META = f"{PKG}/model_metadata.json"
MANIFEST = f"{PKG}/MANIFEST.json"
PROFILE = f"{PKG}/reference_profile.json"


def manifest_edit(fn: Callable[[dict[str, Any]], None]) -> Mutate:
    return edit_json(MANIFEST, fn)


def swap_pickles(root: Path) -> None:
    model, scaler = root / PKG / "model.pkl", root / PKG / "scaler.pkl"
    a, b = model.read_bytes(), scaler.read_bytes()
    model.write_bytes(b)
    scaler.write_bytes(a)


def truncate(rel: str) -> Mutate:
    def mutate(root: Path) -> None:
        data = (root / rel).read_bytes()
        (root / rel).write_bytes(data[: len(data) // 2])

    return mutate


def _pop(d: dict[str, Any], key: str) -> None:
    d.pop(key)


PACKAGE_CASES: list[Case] = [
    Case("schema-malformed-json", "package", write_text(SCHEMA, '{"features": ['),
         load_package_action, IntegrityError, ("feature_schema.json", "manifest"),
         finding_file="feature_schema.json"),
    Case("schema-wrong-types", "package",
         edit_json(SCHEMA, lambda s: s.update(features="amount"), rehashed=True),
         load_package_action, PackageError, ("feature_schema.json", "no 'features' list"),
         finding_file="feature_schema.json"),
    Case("metadata-malformed-json", "package", write_text(META, "{'version': 'v1.0'}"),
         load_package_action, IntegrityError, ("model_metadata.json",),
         finding_file="model_metadata.json", cli=VALIDATE, cli_code=1),
    Case("metadata-wrong-types", "package",
         edit_json(META, lambda m: m.update(version=10, features="amount"), rehashed=True),
         load_package_action, PackageError, ("model_metadata.json", "version"),
         finding_file="model_metadata.json"),
    Case("manifest-malformed-json", "package", write_text(MANIFEST, '{"format": 1,'),
         load_package_action, PackageError, ("MANIFEST.json", "malformed JSON"),
         finding_file="MANIFEST.json", cli=SERVE),
    Case("manifest-path-traversal", "package",
         manifest_edit(lambda m: m["files"].update({"../x": m["files"]["model.pkl"]})),
         load_package_action, PackageError,
         ("MANIFEST.json", "files.../x", "a file name without a path"),
         finding_file="MANIFEST.json", cli=VALIDATE, cli_code=1),
    Case("manifest-absolute-path", "package",
         manifest_edit(lambda m: m["files"].update({"/etc/passwd": m["files"]["model.pkl"]})),
         load_package_action, PackageError, ("MANIFEST.json", "files./etc/passwd"),
         finding_file="MANIFEST.json"),
    Case("manifest-missing-entry", "package",
         manifest_edit(lambda m: _pop(m["files"], "model.pkl")), load_package_action,
         PackageError, ("model.pkl", "not listed in MANIFEST.json"), finding_file="model.pkl"),
    Case("manifest-wrong-size-type", "package",
         manifest_edit(lambda m: m["files"]["model.pkl"].update(size="1007")),
         load_package_action, PackageError,
         ("MANIFEST.json", "files.model.pkl.size", "a non-negative integer"),
         finding_file="MANIFEST.json"),
    Case("pickle-truncated", "package", truncate(f"{PKG}/model.pkl"), load_package_action,
         IntegrityError, ("model.pkl", "truncated"), finding_file="model.pkl",
         cli=VALIDATE, cli_code=1),
    Case("pickles-swapped", "package", swap_pickles, load_package_action, IntegrityError,
         ("model.pkl", "refused, nothing was unpickled"), finding_file="model.pkl"),
    Case("pickle-hostile", "package", hostile_pickle(rehashed=False), load_package_action,
         IntegrityError, ("model.pkl", "refused, nothing was unpickled"),
         finding_file="model.pkl", cli=SERVE),
    Case("pickle-hostile-manifest-rewritten", "package", hostile_pickle(rehashed=True),
         load_package_action, PackageError, ("model_metadata.json", "model_sha256"),
         finding_file="model_metadata.json", cli=VALIDATE, cli_code=1),
    Case("holdout-corrupted", "package",
         chain(write_bytes(f"{PKG}/holdout.parquet", b"PAR1\x00\x01garbagePAR1"), rehash),
         load_package_action, PackageError, ("holdout.parquet", "not readable Parquet"),
         finding_file="holdout.parquet"),
    Case("readme-missing", "package", lambda root: (root / PKG / "README.md").unlink(),
         load_package_action, PackageError, ("README.md", "missing"), finding_file="README.md"),
    Case("package-folder-not-a-version", "package", copy_package_as("latest"),
         load_renamed_package, PackageError, ("latest", "not a version"),
         finding_file="latest"),
    Case("profile-malformed-json", "package", write_text(PROFILE, '{"features": {'),
         daily_action, PackageError, ("reference_profile.json", "unreadable", "JSON"),
         cli=DAILY),
    Case("profile-missing-edges", "package",
         edit_json(PROFILE, lambda p: _pop(p["features"]["amount"], "edges")),
         daily_action, PackageError,
         ("reference_profile.json", "features.amount.edges", "sorted list of finite numbers")),
    Case("export-fails-midway", "package", nothing, failed_export, PackageError,
         ("models", "export failed, nothing was written", "model exploded")),
    Case("profile-repeated-category", "package",
         edit_json(PROFILE, lambda p: p["features"]["channel"].update(
             categories=["web", "web", *p["features"]["channel"]["categories"][2:]])),
         daily_action, PackageError,
         ("reference_profile.json", "features.channel.categories", "each category once"),
         cli=DAILY),
    Case("package-symlink-inside", "package",
         chain(rename_to(f"{PKG}/README.md", f"{PKG}/.card.md"),
               symlink(f"{PKG}/README.md", ".card.md")),
         load_package_action, PackageError,
         ("README.md", "a symbolic link to .card.md", "regular files only"),
         finding_file="README.md", cli=VALIDATE, cli_code=1),
    Case("package-symlink-to-other-package", "package",
         chain(copy_package_as("v0.9"), remove(f"{PKG}/holdout.parquet"),
               symlink(f"{PKG}/holdout.parquet", "../v0.9/holdout.parquet")),
         load_package_action, PackageError,
         ("holdout.parquet", "a symbolic link to ../v0.9/holdout.parquet", "regular files only"),
         finding_file="holdout.parquet", cli=VALIDATE, cli_code=1),
    Case("package-symlink-outside", "package",
         chain(copy_out(f"{PKG}/model.pkl", "outside/model.pkl"), remove(f"{PKG}/model.pkl"),
               symlink(f"{PKG}/model.pkl", "../../../outside/model.pkl")),
         load_package_action, PackageError,
         ("model.pkl", "a symbolic link to ../../../outside/model.pkl", "regular files only"),
         finding_file="model.pkl", cli=SERVE),
    Case("package-manifest-symlink", "package",
         chain(copy_out(f"{PKG}/MANIFEST.json", "outside/MANIFEST.json"),
               remove(f"{PKG}/MANIFEST.json"),
               symlink(f"{PKG}/MANIFEST.json", "../../../outside/MANIFEST.json")),
         load_package_action, PackageError, ("MANIFEST.json", "a symbolic link"),
         finding_file="MANIFEST.json"),
    Case("package-fifo-for-a-file", "package",
         chain(remove(f"{PKG}/README.md"), fifo(f"{PKG}/README.md")), load_package_action,
         PackageError, ("README.md", "not a regular file (a named pipe)", "regular files only"),
         finding_file="README.md", cli=VALIDATE, cli_code=1),
    Case("package-folder-for-a-file", "package",
         chain(remove(f"{PKG}/holdout_expected.json"), folder(f"{PKG}/holdout_expected.json")),
         load_package_action, PackageError,
         ("holdout_expected.json", "a folder", "regular files only"),
         finding_file="holdout_expected.json"),
    Case("package-extra-subfolder", "package", folder(f"{PKG}/extra"), load_package_action,
         PackageError, ("extra", "a folder", "regular files only"), finding_file="extra"),
]


# --------------------------------------------------------------------------- logs

LOG_NAME = f"predictions-{LOG_DAY}.csv"
HEADER_ONLY_NOTE = "a header and data rows"


def log_text(text: str) -> Mutate:
    return write_text(LOG_FILE, text)


def log_header(root: Path) -> str:
    return (root / LOG_FILE).read_text(encoding="utf-8").splitlines()[0]


def header_only(root: Path) -> None:
    (root / LOG_FILE).write_text(log_header(root) + "\n", encoding="utf-8")


def ragged(root: Path) -> None:
    lines = (root / LOG_FILE).read_text(encoding="utf-8").splitlines()
    lines[5] = "2026-03-10T01:00:00Z,v1.0,3.5"
    (root / LOG_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")


def trailing_fields(extra: str) -> Mutate:
    """Row 5 ends with ``extra`` (e.g. ``","``: one more, empty field)."""

    def mutate(root: Path) -> None:
        lines = (root / LOG_FILE).read_text(encoding="utf-8").splitlines()
        lines[5] += extra
        (root / LOG_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")

    return mutate


def duplicate_header(root: Path) -> None:
    lines = (root / LOG_FILE).read_text(encoding="utf-8").splitlines()
    lines = [lines[0] + ",amount"] + [line + ",1.0" for line in lines[1:]]
    (root / LOG_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")


def parquet_list_version(root: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = pd.read_csv(root / LOG_FILE)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    i = table.schema.get_field_index("version")
    table = table.set_column(i, "version", pa.array([["v1.0"]] * len(frame)))
    (root / LOG_FILE).unlink()
    pq.write_table(table, root / LOG_FILE.replace(".csv", ".parquet"))


def cell(column: str, value: str) -> Mutate:
    return set_cell(LOG_FILE, column, value, row=3)


def parquet_future_row(root: Path) -> None:
    """The day as Parquet with a stored timestamp column, row 4 twenty years ahead."""
    frame = pd.read_csv(root / LOG_FILE)
    stamps = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
    stamps.iloc[3] = pd.Timestamp("2036-03-10T00:00:00Z")
    frame["timestamp"] = stamps
    (root / LOG_FILE).unlink()
    frame.to_parquet(root / LOG_FILE.replace(".csv", ".parquet"), index=False)


def half_written_last_line(root: Path) -> None:
    """A writer that died mid-line (no one holds the file): rows 1-4, half of row 5."""
    lines = (root / LOG_FILE).read_text(encoding="utf-8").splitlines()
    text = "\n".join(lines[:5]) + "\n" + lines[5][: len(lines[5]) // 2]
    (root / LOG_FILE).write_text(text, encoding="utf-8")


LAT = "row 4, column latency_ms"
LOG_CASES: list[Case] = [
    Case("logs-latency-text", "logs", cell("latency_ms", "fast"), daily_action, LogError,
         (LOG_NAME, LAT, "not a number", "'fast'", "a latency in ms >= 0"), cli=DAILY),
    Case("logs-latency-negative", "logs", cell("latency_ms", "-3.5"), daily_action, LogError,
         (LOG_NAME, LAT, "negative latency", ">= 0"), cli=DAILY),
    Case("logs-latency-missing", "logs", cell("latency_ms", ""), daily_action, LogError,
         (LOG_NAME, LAT, "missing latency")),
    Case("logs-latency-nan", "logs", cell("latency_ms", "NaN"), daily_action, LogError,
         (LOG_NAME, LAT, "missing latency")),
    Case("logs-latency-huge", "logs", cell("latency_ms", "1e12"), daily_action, LogError,
         (LOG_NAME, LAT, "above one hour", "3600000 ms")),
    Case("logs-latency-infinite", "logs", cell("latency_ms", "inf"), daily_action, LogError,
         (LOG_NAME, LAT, "infinite latency")),
    Case("logs-bad-timestamp", "logs", cell("timestamp", "yesterday noon"), daily_action,
         LogError, (LOG_NAME, "row 4, column timestamp", "ISO 8601"), cli=DAILY),
    Case("logs-missing-column", "logs",
         edit_csv(LOG_FILE, lambda f: f.drop(columns=["latency_ms"])), daily_action, LogError,
         (LOG_NAME, "header", "missing column(s) latency_ms"), cli=DAILY),
    Case("logs-prediction-text", "logs", cell("prediction", "high"), daily_action, LogError,
         (LOG_NAME, "row 4, column prediction", "not a number")),
    Case("logs-feature-text", "logs", cell("amount", "lots"), daily_action, LogError,
         (LOG_NAME, "row 4, column amount", "not a number")),
    Case("logs-binary-garbage", "logs", write_bytes(LOG_FILE, bytes(range(256)) * 8),
         daily_action, LogError, (LOG_NAME, "cannot read")),
    Case("logs-ragged-row", "logs", ragged, daily_action, LogError,
         (LOG_NAME, "row 5", "cannot read", "as many fields as the header")),
    Case("logs-trailing-empty-field", "logs", trailing_fields(","), daily_action, LogError,
         (LOG_NAME, "row 5", "cannot read", "a row with", "as many fields as the header")),
    Case("logs-two-trailing-empty-fields", "logs", trailing_fields(",,"), daily_action,
         LogError, (LOG_NAME, "row 5", "cannot read", "as many fields as the header")),
    Case("logs-duplicate-column", "logs", duplicate_header, daily_action, LogError,
         (LOG_NAME, "header", "duplicated column(s) amount", "each column once")),
    Case("logs-parquet-nested-column", "logs", parquet_list_version, daily_action, LogError,
         (f"predictions-{LOG_DAY}.parquet", "column version", "nested column type",
          "a flat column")),
    Case("logs-unknown-version", "logs", cell("version", "v9.9"), daily_unknown_version,
         DeployReadyError, ("no package v9.9", "v1.0"),
         cli=("daily", "-w", "{ws}", "--version", "v9.9", "--date", LOG_DAY)),
    Case("logs-timestamp-years-ahead", "logs", cell("timestamp", "2031-03-10T00:00:00Z"),
         daily_action, LogError,
         (LOG_NAME, "row 4, column timestamp", "timestamp in the future: '2031-03-10T00:00:00Z'",
          "at most 24 h after the current time"), cli=DAILY),
    Case("logs-stored-timestamp-years-ahead", "logs", parquet_future_row, daily_action, LogError,
         (f"predictions-{LOG_DAY}.parquet", "row 4, column timestamp",
          "timestamp in the future: '2036-03-10T00:00:00.000000+00:00'")),
    Case("logs-prediction-above-one", "logs", cell("prediction", "1.5"), daily_action, LogError,
         (LOG_NAME, "row 4, column prediction", "prediction outside [0, 1]: '1.5'",
          "a probability in [0, 1]"), cli=DAILY),
    Case("logs-prediction-negative", "logs", cell("prediction", "-0.01"), daily_action,
         LogError, (LOG_NAME, "row 4, column prediction", "prediction outside [0, 1]")),
    Case("logs-half-written-last-line", "logs", half_written_last_line, daily_action,
         LogError, (LOG_NAME, "row 5", "cannot read", "as many fields as the header"),
         cli=DAILY),
]

# Out-of-range values are refused when the policy loads, whichever command reads it
# (every key: tests/test_policy.py, tests/hostile/test_fuzz_loaders.py).
POLICY_CASES += [
    Case("policy-negative-latency", "policy", policy_text("[latency]\np99_ms = -50\n"),
         policy_action, PolicyError, (POLICY, "latency.p99_ms", "out of range", "> 0"),
         cli=DAILY),
    Case("policy-psi-warn-above-alert", "policy", policy_text("[drift]\npsi_warn = 0.3\n"),
         policy_action, PolicyError, (POLICY, "drift.psi_warn", "drift.psi_alert")),
    Case("policy-probability-threshold", "policy",
         policy_text("[certification.metrics.ks]\ndirection = 'higher'\nthreshold = 1.5\n"),
         policy_action, PolicyError,
         (f"{POLICY}: certification.metrics.ks.threshold", "a number in [0, 1]"), cli=SCORE),
    Case("policy-unknown-metric", "policy",
         policy_text("[certification.metrics.gini]\ndirection = 'higher'\nthreshold = 0.5\n"),
         policy_action, PolicyError,
         (f"{POLICY}: certification.metrics.gini", "unknown metric", "roc_auc")),
    Case("policy-zero-timeout", "policy", policy_text("[load_test]\ntimeout_ms = 0\n"),
         policy_action, PolicyError, (f"{POLICY}: load_test.timeout_ms", "out of range"),
         cli=SCORE),
    Case("policy-negative-max-seconds", "policy", policy_text("[load_test]\nmax_seconds = -1\n"),
         policy_action, PolicyError, (f"{POLICY}: load_test.max_seconds", "(0, 86400]")),
]


# --------------------------------------------------------------------------- not a file
#
# Every file a loader opens, made a folder, a broken symbolic link or a FIFO: each loader
# refuses it with its own error naming the path — never a traceback, never a read that
# blocks forever, never silently ignored (unreadable files: ``test_not_a_file.py``).


def as_folder(rel: str) -> Mutate:
    def mutate(root: Path) -> None:
        path = root / rel
        path.unlink()
        path.mkdir()
        (path / "inside.txt").write_text("a folder where a file belongs\n", encoding="utf-8")

    return mutate


def as_broken_link(rel: str) -> Mutate:
    def mutate(root: Path) -> None:
        path = root / rel
        path.unlink()
        path.symlink_to(root / "gone" / path.name)

    return mutate


def as_fifo(rel: str) -> Mutate:
    def mutate(root: Path) -> None:
        path = root / rel
        path.unlink()
        os.mkfifo(path)

    return mutate


def folder_as_file(rel: str) -> Mutate:
    def mutate(root: Path) -> None:
        shutil.rmtree(root / rel)
        (root / rel).write_text("a file where a folder belongs\n", encoding="utf-8")

    return mutate


#: kind → (how the path is made that kind, what every loader's message says)
NOT_A_FILE: dict[str, tuple[Callable[[str], Mutate], str]] = {
    "folder": (as_folder, "is a folder, not a file"),
    "broken-link": (as_broken_link, "is a broken symbolic link"),
    "fifo": (as_fifo, "is not a regular file (a named pipe)"),
}


def score_history_action(ws: Workspace) -> Any:
    """What ``compute_score`` reads: the history found in the workspace, remembered."""
    from deployready.certification.checks import history_evaluations

    return history_evaluations(history_path(ws), ws.policy())



# --------------------------------------------------------------------------- signatures

TRUSTED_KEY = "keys/release-team"


def _new_key(root: Path, stem: str) -> Path:
    """A P-256 private key ``<stem>.pem`` and its public half ``<stem>.pub``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private = root / f"{stem}.pem"
    private.parent.mkdir(parents=True, exist_ok=True)
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    (root / f"{stem}.pub").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return private


def signed_by_the_team(root: Path) -> None:
    """The package signed by the team's key; the policy requires it and trusts that key."""
    from deployready.package.signing import sign_package
    from deployready.policy import SigningPolicy, load_policy, write_policy

    sign_package(root / PKG, _new_key(root, TRUSTED_KEY))
    policy = load_policy(root)
    write_policy(root, dataclasses.replace(policy, signing=SigningPolicy(
        required=True, trusted_keys=[f"{TRUSTED_KEY}.pub"])))


def forged(root: Path) -> None:
    """A hostile model.pkl with everything that vouches for it rewritten to match: the
    metadata's model hash and the manifest — a consistent package nobody trusted signed."""
    hostile_pickle(rehashed=False)(root)
    meta = json.loads((root / META).read_text(encoding="utf-8"))
    meta["model_sha256"] = hashlib.sha256((root / PKG / "model.pkl").read_bytes()).hexdigest()
    (root / META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    rehash(root)


def signed_by_an_intruder(root: Path) -> None:
    from deployready.package.signing import sign_package

    sign_package(root / PKG, _new_key(root / "outside", "intruder"))


def signed_load_action(ws: Workspace) -> Any:
    from deployready.package.load import load_package

    return load_package(ws.package_path(VERSION), ws.policy().signing, ws.root)


PACKAGE_CASES += [
    Case("signature-forged-package", "package", chain(signed_by_the_team, forged),
         signed_load_action, IntegrityError,
         ("does not match the files", "model.pkl", "model.sig", "not signed by a trusted key"),
         cli=VALIDATE, cli_code=1),
    Case("signature-missing", "package",
         chain(signed_by_the_team, remove(f"{PKG}/model.sig")), signed_load_action,
         IntegrityError, ("is not signed", "model.sig", "not signed by a trusted key"),
         cli=VALIDATE, cli_code=1),
    Case("signature-wrong-key", "package",
         chain(signed_by_the_team, forged, signed_by_an_intruder), signed_load_action,
         IntegrityError, ("a key the policy does not trust", "fingerprint", "model.sig"),
         cli=VALIDATE, cli_code=1),
]

for _kind, (_make, _says) in NOT_A_FILE.items():
    HISTORY_CASES += [
        Case(f"history-{_kind}", "history", _make(HISTORY), score_history_action, HistoryError,
             ("history.csv", _says), cli=SCORE),
        Case(f"history-append-onto-{_kind}", "history", chain(save_good_run, _make(HISTORY)),
             append_master_row, HistoryError, ("history.csv", _says)),
    ]
    POLICY_CASES.append(
        Case(f"policy-{_kind}", "policy", _make(POLICY), policy_action, PolicyError,
             (POLICY, _says), cli=SCORE))
    for _name in ("MANIFEST.json", "model.pkl", "scaler.pkl", "feature_schema.json",
                  "model_metadata.json", "explainability_report.json", "README.md",
                  "reference_profile.json", "holdout.parquet", "holdout_expected.json"):
        _cli: tuple[str, ...] | None = None
        if _name == "model.pkl":
            _cli = VALIDATE if _kind == "folder" else SERVE
        PACKAGE_CASES.append(
            Case(f"package-{_name}-{_kind}", "package", _make(f"{PKG}/{_name}"),
                 load_package_action, PackageError, (_name, _says), finding_file=_name,
                 cli=_cli, cli_code=1 if _cli == VALIDATE else 2))
    PACKAGE_CASES.append(
        Case(f"profile-{_kind}-daily", "package", _make(PROFILE), daily_action, PackageError,
             ("reference_profile.json", _says), cli=DAILY))
    LOG_CASES.append(
        Case(f"logs-{_kind}", "logs", _make(LOG_FILE), daily_action, LogError,
             (LOG_NAME, _says), cli=DAILY))

HISTORY_CASES.append(
    Case("history-folder-is-a-file", "history", folder_as_file("data/certification"),
         score_history_action, HistoryError,
         ("history.csv", "data/certification is a file, not a folder"), cli=SCORE))
LOG_CASES.append(
    Case("logs-folder-is-a-file", "logs", folder_as_file("data/production"), daily_action,
         LogError, ("data/production", "is a file, not a folder"), cli=DAILY))


# --------------------------------------------------------------------------- labels

LABELS = "data/labels/batch.csv"
LABEL_HEAD = "request_id,label,labeled_at\n"


def join_action(ws: Workspace) -> Any:
    from deployready.performance.join import joined_predictions

    return joined_predictions(ws, VERSION)


def label_rows(*rows: str, rel: str = LABELS) -> Mutate:
    return write_text(rel, LABEL_HEAD + "".join(r + "\n" for r in rows))


#: ``labels import`` of the bad file itself: refused before anything is stored
IMPORT = ("labels", "import", "{ws}/" + LABELS, "-w", "{ws}")
LABEL_CASES: list[Case] = [
    Case("labels-outside-classes", "labels", label_rows("a,1,2026-03-11", "b,2,2026-03-11"),
         join_action, LabelError, ("batch.csv", "row 2, column label",
                                   "outside the model's classes: '2'", "0 or 1"), cli=IMPORT),
    Case("labels-missing-label", "labels", label_rows("a,,2026-03-11"), join_action,
         LabelError, ("batch.csv", "row 1, column label", "missing label"), cli=IMPORT),
    Case("labels-nan-label", "labels", label_rows("a,NaN,2026-03-11"), join_action,
         LabelError, ("batch.csv", "row 1, column label", "outside the model's classes")),
    Case("labels-missing-id", "labels", label_rows("a,1,2026-03-11", ",0,2026-03-11"),
         join_action, LabelError, ("batch.csv", "row 2, column request_id",
                                   "missing request id")),
    Case("labels-bad-time", "labels", label_rows("a,1,last tuesday"), join_action,
         LabelError, ("batch.csv", "row 1, column labeled_at", "unparseable", "ISO 8601"),
         cli=IMPORT),
    Case("labels-epoch-time", "labels", label_rows("a,1,1773100800"), join_action,
         LabelError, ("batch.csv", "row 1, column labeled_at", "'1773100800'")),
    Case("labels-future-time", "labels", label_rows("a,1,2031-01-01T00:00:00Z"),
         join_action, LabelError, ("batch.csv", "row 1, column labeled_at",
                                   "labeled_at in the future")),
    Case("labels-missing-column", "labels", write_text(LABELS, "request_id,label\na,1\n"),
         join_action, LabelError, ("batch.csv", "header", "missing column(s) labeled_at"),
         cli=IMPORT),
    Case("labels-duplicate-column", "labels",
         write_text(LABELS, "request_id,label,labeled_at,LABEL\na,1,2026-03-11,1\n"),
         join_action, LabelError, ("batch.csv", "header", "duplicated column(s)")),
    Case("labels-conflict", "labels", chain(
        label_rows("a,1,2026-03-11"), label_rows("a,0,2026-03-12", rel="data/labels/z.csv")),
         join_action, LabelError, ("z.csv", "row 1, column label", "batch.csv row 1",
                                   "one label per request id")),
    Case("labels-jsonl-label", "labels", write_text(
        "data/labels/batch.jsonl", '{"request_id": "a", "label": "maybe", '
        '"labeled_at": "2026-03-11"}\n'), join_action, LabelError,
         ("batch.jsonl", "row 1, column label", "'maybe'")),
    Case("labels-binary-garbage", "labels", write_bytes(LABELS, bytes(range(256)) * 8),
         join_action, LabelError, ("batch.csv", "cannot read"), cli=IMPORT),
]
for _kind, _make, _says in (("folder", as_folder, "a folder"),
                            ("broken-link", as_broken_link, "broken symbolic link"),
                            ("fifo", as_fifo, "named pipe")):
    LABEL_CASES.append(Case(f"labels-{_kind}", "labels",
                            chain(label_rows("a,1,2026-03-11"), _make(LABELS)), join_action,
                            LabelError, ("batch.csv", _says)))


def _labels_folder(root: Path) -> None:
    (root / "data" / "labels").mkdir(parents=True, exist_ok=True)


LABEL_CASES = [dataclasses.replace(c, mutate=chain(_labels_folder, c.mutate))
               for c in LABEL_CASES]

FILE_CASES: list[Case] = [*HISTORY_CASES, *POLICY_CASES, *PACKAGE_CASES, *LOG_CASES,
                          *LABEL_CASES]
