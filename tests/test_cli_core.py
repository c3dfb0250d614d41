"""The core CLI through subprocess: demo, score, validate, export — exit codes and output."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import joblib
import pandas as pd
import pytest

from deployready.package.load import load_package

REPO = Path(__file__).resolve().parent.parent


def cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deployready", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd or REPO,
        env=env,
    )


def test_score_json_contract_and_exit_code(demo_ws: Path) -> None:
    out = cli("score", "--workspace", str(demo_ws), "--json")
    assert out.returncode == 1, out.stderr  # the candidate v1.1 is NOT READY
    data = json.loads(out.stdout)
    assert set(data) >= {"status", "score", "version", "package_sha256", "categories", "blockers"}
    assert data["status"] == "NOT READY" and data["version"] == "v1.1"
    names = [c["name"] for c in data["categories"]]
    assert names == ["certification", "artifacts", "load_test", "latency"]
    assert [c["weight"] for c in data["categories"]] == [40, 20, 20, 20]
    for cat in data["categories"]:
        for check in cat["checks"]:
            assert set(check) >= {"name", "status", "value", "threshold", "evidence"}
    cert = data["categories"][0]
    assert cert["score"] == 40 and all(c["status"] == "pass" for c in cert["checks"])
    # no load test of v1.1 yet: the demo's run of v1.0 is stale evidence, never a pass
    assert all(c["status"] in {"pending", "stale"} for c in data["categories"][2]["checks"])
    assert data["blockers"] and data["blockers"][0]["category"] == "load_test"


def test_score_text_and_env_workspace(demo_ws: Path) -> None:
    import os

    env = {**os.environ, "DEPLOYREADY_WORKSPACE": str(demo_ws)}
    out = cli("score", "--version", "v1.1", env=env)
    assert out.returncode == 1
    assert "NOT READY" in out.stdout and "Blockers" in out.stdout


def test_score_errors_exit_2(demo_ws: Path, tmp_path: Path) -> None:
    out = cli("score", "--workspace", str(demo_ws), "--version", "v9.9")
    assert out.returncode == 2 and "no package v9.9" in out.stderr and "Traceback" not in out.stderr
    out = cli("score", "--workspace", str(tmp_path))
    assert out.returncode == 2 and "no model packages" in out.stderr
    (demo_ws / "deployready.toml").write_text("[latency]\np99_ms = 'fast'\n")
    out = cli("score", "--workspace", str(demo_ws))
    assert out.returncode == 2
    assert "deployready.toml" in out.stderr and "latency.p99_ms" in out.stderr


def test_validate(demo_ws: Path, tmp_path: Path) -> None:
    pkg = demo_ws / "models" / "v1.0"
    out = cli("validate", str(pkg), "--json")
    assert out.returncode == 0, out.stdout
    assert json.loads(out.stdout)["valid"] is True
    (pkg / "scaler.pkl").write_bytes((pkg / "scaler.pkl").read_bytes()[:100])
    out = cli("validate", str(pkg))
    assert out.returncode == 1
    assert "INVALID" in out.stdout and "scaler.pkl" in out.stdout
    out = cli("validate", str(tmp_path / "nope"))
    assert out.returncode == 2 and "not a package folder" in out.stderr


def test_export_from_saved_files(demo_ws: Path, tmp_path: Path) -> None:
    """A pipeline that saved its model and data exports the next version by CLI."""
    package = load_package(demo_ws / "models" / "v1.1")
    shutil.copy(demo_ws / "models" / "v1.1" / "model.pkl", tmp_path / "model.pkl")
    shutil.copy(demo_ws / "models" / "v1.1" / "scaler.pkl", tmp_path / "scaler.pkl")
    train = package.holdout.copy()
    train["target"] = (package.expected > 0.5).astype(int)
    train.to_parquet(tmp_path / "train.parquet")
    out = cli(
        "export",
        "--workspace",
        str(demo_ws),
        "--model",
        str(tmp_path / "model.pkl"),
        "--scaler",
        str(tmp_path / "scaler.pkl"),
        "--train",
        str(tmp_path / "train.parquet"),
        "--target",
        "target",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    # same schema and the very same model and scaler bytes: a patch release
    assert info["version"] == "v1.1.1" and info["bump"] == "patch" and info["previous"] == "v1.1"
    assert cli("validate", info["path"]).returncode == 0


def test_export_bad_input(demo_ws: Path, tmp_path: Path) -> None:
    pd.DataFrame({"a": [1, 2]}).to_csv(tmp_path / "train.csv", index=False)
    joblib.dump({"not": "a model"}, tmp_path / "model.pkl")
    out = cli(
        "export",
        "--workspace",
        str(demo_ws),
        "--model",
        str(tmp_path / "model.pkl"),
        "--scaler",
        str(tmp_path / "missing.pkl"),
        "--train",
        str(tmp_path / "train.csv"),
        "--target",
        "target",
    )
    assert out.returncode == 2 and "missing.pkl" in out.stderr and "file not found" in out.stderr
    joblib.dump({"not": "a scaler"}, tmp_path / "scaler.pkl")
    out = cli(
        "export",
        "--workspace",
        str(demo_ws),
        "--model",
        str(tmp_path / "model.pkl"),
        "--scaler",
        str(tmp_path / "scaler.pkl"),
        "--train",
        str(tmp_path / "train.csv"),
        "--target",
        "target",
    )
    assert out.returncode == 2 and "train.csv" in out.stderr and "'target'" in out.stderr
    assert (demo_ws / "models").is_dir() and sorted(
        p.name for p in (demo_ws / "models").iterdir() if p.name.startswith("v")
    ) == ["v1.0", "v1.1"]


@pytest.mark.slow
def test_demo_command_is_deterministic(tmp_path: Path) -> None:
    """Same end date and seed → the same history and the same package hashes."""
    for name in ("a", "b"):
        out = cli("demo", str(tmp_path / name), "--end-date", "2026-06-30", "--no-loadtest")
        assert out.returncode == 0, out.stderr
    ha = pd.read_csv(tmp_path / "a" / "data" / "certification" / "history.csv")
    hb = pd.read_csv(tmp_path / "b" / "data" / "certification" / "history.csv")
    pd.testing.assert_frame_equal(ha, hb)
    for version in ("v1.0", "v1.1"):
        ma = json.loads((tmp_path / "a" / "models" / version / "MANIFEST.json").read_text())
        mb = json.loads((tmp_path / "b" / "models" / version / "MANIFEST.json").read_text())

        # everything but the SHAP report (it records its own run time) is byte-identical
        def hashes(manifest: dict) -> dict[str, str]:
            return {
                k: v["sha256"]
                for k, v in manifest["files"].items()
                if k not in {"explainability_report.json", "README.md"}
            }

        assert hashes(ma) == hashes(mb)
        sa, sb = (
            json.loads(
                (tmp_path / n / "models" / version / "explainability_report.json").read_text()
            )
            for n in ("a", "b")
        )
        assert sa["global_importance"] == sb["global_importance"]
    again = cli("demo", str(tmp_path / "a"), "--if-missing")
    assert again.returncode == 0 and "already present" in again.stderr


def test_python_m_and_help() -> None:
    out = cli("--help")
    assert out.returncode == 0
    for command in (
        "demo",
        "score",
        "validate",
        "export",
        "serve",
        "loadtest",
        "daily",
        "gate",
        "report",
    ):
        assert command in out.stdout


def test_export_inputs_that_are_not_files(demo_ws: Path, tmp_path: Path) -> None:
    """A folder, a FIFO or a broken link given as a model or data file: exit 2 naming it
    (a FIFO would otherwise block the export forever)."""
    import os

    shutil.copy(demo_ws / "models" / "v1.1" / "scaler.pkl", tmp_path / "scaler.pkl")
    pd.DataFrame({"a": [1.0, 2.0], "target": [0, 1]}).to_csv(tmp_path / "train.csv", index=False)
    (tmp_path / "model.pkl").mkdir()
    os.mkfifo(tmp_path / "fifo.csv")
    (tmp_path / "gone.pkl").symlink_to(tmp_path / "nowhere.pkl")
    cases = [
        ("--model", tmp_path / "model.pkl", "is a folder, not a file"),
        ("--train", tmp_path / "fifo.csv", "is not a regular file (a named pipe)"),
        ("--scaler", tmp_path / "gone.pkl", "is a broken symbolic link"),
    ]
    for flag, path, says in cases:
        args = {"--model": str(tmp_path / "scaler.pkl"), "--scaler": str(tmp_path / "scaler.pkl"),
                "--train": str(tmp_path / "train.csv"), flag: str(path)}
        out = cli("export", "--workspace", str(demo_ws), "--target", "target",
                  *[item for pair in args.items() for item in pair])
        assert out.returncode == 2, (flag, out.stderr)
        assert f"deployready: error: {path}: {says}" in out.stderr, out.stderr
        assert "Traceback" not in out.stderr
    assert sorted(p.name for p in (demo_ws / "models").iterdir() if p.name.startswith("v")) == [
        "v1.0", "v1.1"]


# --------------------------------------------------------------------------- exit codes
#
# One rule in every command: 0 evaluated and good, 1 evaluated and the answer is no,
# 2 could not evaluate — the policy or evidence (history, logs, store, reference profile,
# an input file) is unreadable or invalid, or the command line is wrong. A package's own
# broken files are what `score` and `validate` judge: that is a verdict (1), not an error.


def _break_history(ws: Path) -> Path:
    """history.csv without the roc_auc column the policy asks for."""
    path = ws / "data" / "certification" / "history.csv"
    lines = path.read_text().splitlines()
    lines[0] = lines[0].replace("roc_auc", "rocauc", 1)
    path.write_text("\n".join(lines) + "\n")
    return path


def _break_last_log(ws: Path) -> Path:
    """The newest production-log file with a latency that is not a number."""
    path = sorted((ws / "data" / "production").glob("*.csv"))[-1]
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[3].split(",")
    cells[header.index("latency_ms")] = "fast"
    lines[3] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    return path


HISTORY_COMMANDS = [
    ("score", "--version", "v1.1"),
    ("score", "--version", "v1.1", "--json"),
    ("gate", "--version", "v1.1"),
    ("report", "--version", "v1.1", "--format", "md"),
    ("rollout", "status"),
    ("rollout", "promote", "--version", "v1.1", "--actor", "ci"),
]
LOG_COMMANDS = [
    ("score", "--version", "v1.0"),
    ("daily", "--version", "v1.0"),
    ("latency", "--version", "v1.0"),
    ("drift", "--version", "v1.0"),
    ("report", "--version", "v1.0", "--format", "json"),
]


def _assert_could_not_evaluate(out: subprocess.CompletedProcess[str], path: Path) -> None:
    assert out.returncode == 2, (out.returncode, out.stdout[-2000:], out.stderr)
    assert "Traceback" not in out.stderr, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("deployready: error: ")]
    assert errors and any(str(path) in line for line in errors), out.stderr


def _workspace_args(command: tuple[str, ...], ws: Path) -> list[str]:
    head = 2 if command[0] == "rollout" else 1
    return [*command[:head], "--workspace", str(ws), *command[head:]]


def test_unreadable_history_is_exit_2_in_every_command_that_reads_it(demo_ws: Path) -> None:
    path = _break_history(demo_ws)
    for command in HISTORY_COMMANDS:
        out = cli(*_workspace_args(command, demo_ws))
        _assert_could_not_evaluate(out, path)
        assert "column roc_auc" in out.stderr, (command, out.stderr)
    # what could be evaluated is still shown: the verdict, the check naming the file
    out = cli("score", "--workspace", str(demo_ws), "--version", "v1.1", "--json")
    data = json.loads(out.stdout)
    assert data["status"] == "NOT READY" and data["errors"]
    assert str(path) in data["errors"][0]


def test_unreadable_logs_are_exit_2_in_every_command_that_reads_them(demo_ws: Path) -> None:
    path = _break_last_log(demo_ws)
    for command in LOG_COMMANDS:
        out = cli(*_workspace_args(command, demo_ws))
        _assert_could_not_evaluate(out, path)
        assert "'fast'" in out.stderr, (command, out.stderr)


def test_exit_codes_of_verdicts_stay_0_and_1(demo_ws: Path) -> None:
    """Evidence that is only absent (pending) or a package that is broken is a verdict."""
    out = cli("score", "--workspace", str(demo_ws), "--version", "v1.1")
    assert out.returncode == 1 and out.stderr == ""  # no load test yet: pending, NOT READY
    out = cli("gate", "--workspace", str(demo_ws), "--version", "v1.1")
    assert out.returncode == 1 and json.loads(out.stdout)["allowed"] is False
    (demo_ws / "models" / "v1.1" / "README.md").unlink()
    out = cli("score", "--workspace", str(demo_ws), "--version", "v1.1")
    assert out.returncode == 1 and "README.md" in out.stdout
    out = cli("validate", str(demo_ws / "models" / "v1.1"))
    assert out.returncode == 1 and "README.md" in out.stdout
    out = cli("reviews", "--workspace", str(demo_ws))
    assert out.returncode in (0, 1) and "Traceback" not in out.stderr


def test_invalid_policy_is_exit_2_in_every_command(demo_ws: Path) -> None:
    """Every command that reads the policy (all but export, serve and rollout log; validate
    reads it for the trusted signing keys) refuses an out-of-range key, even one it never
    uses."""
    (demo_ws / "deployready.toml").write_text("[load_test]\ntimeout_ms = 0\n")
    commands = [
        ("score",), ("daily", "--version", "v1.0"), ("latency", "--version", "v1.0"),
        ("drift", "--version", "v1.0"), ("gate",), ("report",), ("rollout", "status"),
        ("reviews",), ("signoff", "--kind", "weekly", "--name", "x"),
        ("loadtest", "--version", "v1.1"), ("validate", str(demo_ws / "models" / "v1.1")),
    ]
    for command in commands:
        out = cli(*_workspace_args(command, demo_ws))
        assert out.returncode == 2, (command, out.stdout[-500:], out.stderr)
        assert "deployready.toml: load_test.timeout_ms: 0 is out of range" in out.stderr, (
            command, out.stderr)


def test_usage_errors_are_exit_2() -> None:
    out = cli("score", "--no-such-flag")
    assert out.returncode == 2 and "usage:" in out.stderr
    out = cli("nonsense")
    assert out.returncode == 2


def test_served_gate_answers_500_for_unreadable_evidence(demo_ws: Path) -> None:
    """/gate (judged on the status code) does not turn unreadable evidence into a 412
    refusal; /gate/status (judged on the JSON) answers 200 with the errors."""
    import threading
    import urllib.error
    import urllib.request
    from http.server import HTTPServer

    from deployready.cli.gate import make_gate_handler
    from deployready.workspace import Workspace

    path = _break_history(demo_ws)
    server = HTTPServer(("127.0.0.1", 0), make_gate_handler(Workspace.open(demo_ws)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"

    def get(url: str) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(base + url, timeout=120) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    try:
        code, data = get("/gate?version=v1.1")
        assert code == 500 and data["allowed"] is False and str(path) in data["error"]
        code, data = get("/gate/status?version=v1.1")
        assert code == 200 and data["allowed"] is False and str(path) in data["errors"][0]
        code, data = get("/gate?version=v1.0")  # at 100 %: nothing to promote, no score
        assert code == 412 and data["errors"] == [], data
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_workspace_or_demo_folder_that_is_a_file_is_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "not-a-folder"
    path.write_text("a file\n")
    for args in (("score", "--workspace", str(path)), ("reviews", "--workspace", str(path)),
                 ("demo", str(path), "--no-loadtest")):
        out = cli(*args)
        assert out.returncode == 2, (args, out.stderr)
        assert out.stderr.startswith(f"deployready: error: {path}: is a file, not a folder")
        assert "Traceback" not in out.stderr
