"""Core commands: demo, score, validate, export."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

from deployready.checks import format_value, status_mark
from deployready.cli.common import (
    add_json_arg,
    add_workspace_arg,
    could_not_evaluate,
    print_json,
    require_folder,
    resolve_version,
    workspace_of,
)
from deployready.cli.signing import add_password_arg
from deployready.cli.stacks import add_mlflow_source_args, check_export_source, export_mlflow
from deployready.errors import InputError, require_file


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="build the demo workspace in DIR")
    p.add_argument("dir", type=Path, help="target folder (created if missing)")
    p.add_argument(
        "--if-missing", action="store_true", help="do nothing when DIR already holds model packages"
    )
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--end-date",
        default=None,
        metavar="YYYY-MM-DD",
        help="last day of the demo's production logs (default: yesterday, UTC)",
    )
    p.add_argument(
        "--no-loadtest",
        action="store_true",
        help="skip the deployed version's dry-deployment load test",
    )
    p.set_defaults(handler=cmd_demo)

    p = sub.add_parser(
        "score",
        help="readiness of a package version (exit 0 READY, 1 NOT READY, 2 unreadable evidence)",
    )
    add_workspace_arg(p)
    p.add_argument("--version", default=None, help="package version, e.g. v1.1 (default: newest)")
    add_json_arg(p)
    p.set_defaults(handler=cmd_score)

    p = sub.add_parser("validate", help="validate a package folder (exit 0 valid, 1 invalid)")
    p.add_argument("path", type=Path)
    p.add_argument(
        "--shallow", action="store_true", help="verify files and hashes only; unpickle nothing"
    )
    p.add_argument("--workspace", "-w", metavar="DIR", default=None,
                   help="the workspace whose policy lists the trusted keys ([signing]; "
                   "default: the folder above models/)")
    add_json_arg(p)
    p.set_defaults(handler=cmd_validate)

    _register_export(sub)


def _register_export(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "export",
        help="export a trained model and its data as a versioned package",
        description="Export a fitted model and its data as a new package version: from files "
        "(--model, --train) or from an MLflow registered model version (--from-mlflow). "
        "Exit 0 exported, 2 nothing written (the reason on stderr).",
    )
    add_workspace_arg(p)
    p.add_argument(
        "--model", type=Path, default=None,
        help="joblib/pickle file of the fitted model (required without --from-mlflow)",
    )
    p.add_argument(
        "--scaler",
        type=Path,
        default=None,
        help="joblib/pickle file of the fitted transformer (omit when --model is a whole "
        "fitted scikit-learn Pipeline: its last step is the model, the steps before it the "
        "scaler)",
    )
    p.add_argument("--train", type=Path, default=None,
                   help="training data (.csv or .parquet; required without --from-mlflow)")
    p.add_argument("--target", required=True, help="target column of the training data")
    p.add_argument(
        "--features", default=None, help="comma-separated feature columns (default: all but target)"
    )
    p.add_argument("--holdout", type=Path, default=None, help="holdout data (.csv or .parquet)")
    p.add_argument("--run-id", default="", help="the certification run this model came from")
    p.add_argument("--description", default="")
    p.add_argument("--sign-key", type=Path, default=None,
                   help="sign the new package with this PEM private key (see `sign`)")
    add_password_arg(p)
    add_mlflow_source_args(p)
    add_json_arg(p)
    p.set_defaults(handler=cmd_export)


def cmd_demo(args: argparse.Namespace) -> int:
    from deployready.demo.build import build_demo
    from deployready.workspace import Workspace

    require_folder(args.dir, "a folder for the demo workspace")
    if args.if_missing and Workspace.open(args.dir).versions():
        print(f"{args.dir}: demo workspace already present", file=sys.stderr)
        return 0
    start = time.perf_counter()
    end = _parse_day(args.end_date) if args.end_date else None
    summary = build_demo(
        args.dir,
        seed=args.seed,
        end_date=end,
        loadtest=not args.no_loadtest,
        progress=lambda m: print(m, file=sys.stderr),
    )
    print(
        f"demo workspace ready in {args.dir} ({time.perf_counter() - start:.1f} s)", file=sys.stderr
    )
    for line in summary:
        print(line)
    return 0


def _parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InputError(
            f"not a date: {text!r}", location="--end-date", expected="YYYY-MM-DD"
        ) from exc


def cmd_score(args: argparse.Namespace) -> int:
    from deployready.score import compute_score

    ws = workspace_of(args)
    version = resolve_version(ws, args.version)
    readiness = compute_score(ws, version)
    if args.json:
        print_json(readiness.as_dict())
    else:
        print(
            f"{readiness.version}  {readiness.status}  "
            f"score {readiness.score:.1f}/{readiness.max_score:g}"
        )
        print(f"package sha256 {readiness.package_sha256}")
        for cat in readiness.categories:
            print(
                f"\n{cat.label}  {cat.score:.1f}/{cat.weight:g}  ({cat.passed}/{cat.total} checks)"
            )
            for c in cat.checks:
                value = "" if c.value is None else f" = {format_value(c.value)}"
                print(f"  [{status_mark(c.status):7}] {c.name}{value}  {c.threshold}".rstrip())
                if not c.passed:
                    print(f"            {c.message}")
        if readiness.blockers:
            print("\nBlockers (gate order):")
            for i, c in enumerate(readiness.blockers, 1):
                print(f"  {i}. [{c.category}] {c.name}: {c.message}")
    if could_not_evaluate(readiness.errors):
        return 2
    return 0 if readiness.ready else 1


def cmd_validate(args: argparse.Namespace) -> int:
    from deployready.package.checks import package_signature, signature_counts
    from deployready.package.validate import validate_package
    from deployready.policy import load_policy

    if not args.path.is_dir():
        raise InputError("not a package folder", source=args.path, expected="a models/vX.Y folder")
    root = Path(args.workspace) if args.workspace else args.path.resolve().parent.parent
    signing = load_policy(root).signing
    signature = package_signature(args.path, signing, root)
    counts = signature_counts(signature, signing)
    # the signature first: nothing is unpickled from a package whose signature fails
    report = validate_package(args.path, deep=not args.shallow and (
        not counts or signature.verified))
    valid = report.valid and (not counts or signature.verified)
    if args.json:
        print_json({**report.as_dict(), "valid": valid, "signature": signature.as_dict(),
                    "signature_required": signing.required})
    else:
        print(f"{args.path}: {'VALID' if valid else 'INVALID'}  sha256 {report.sha256}")
        mark = "OK" if signature.verified else ("ERROR" if counts else "INFO")
        print(f"  {mark:7} signature: {signature.message}")
        for f in report.findings:
            print(f"  {f.severity.upper():7} {f.code}: {f.file}: {f.message}")
    return 0 if valid else 1


def _load_objects(args: argparse.Namespace) -> dict[str, Any]:
    """The saved ``--model`` and ``--scaler`` (None when not given), unpickled."""
    import joblib

    objects: dict[str, Any] = {"scaler": None}
    for name in ("model", "scaler"):
        path: Path | None = getattr(args, name)
        if path is None:
            continue
        require_file(path, expected=f"a saved {name}")
        try:
            objects[name] = joblib.load(path)
        except Exception as exc:  # unpickling a user's own file can fail in many ways
            raise InputError(
                f"cannot load: {exc}", source=path, expected="a joblib/pickle file"
            ) from exc
    return objects


def cmd_export(args: argparse.Namespace) -> int:
    from deployready.package.signing import key_fingerprint

    ws = workspace_of(args)
    features = (
        [f.strip() for f in args.features.split(",") if f.strip()] if args.features else None
    )
    check_export_source(args)
    if args.sign_key is not None:
        key_fingerprint(args.sign_key)  # a key that cannot sign is refused before exporting
    if args.from_mlflow:
        done = export_mlflow(ws, args, features)
        info, extra = done.package, {"mlflow": done.as_dict()}
    else:
        info, extra = _export_files(ws, args, features), {}
    _print_export(info, _sign_export(info.path, args), args.json, extra)
    return 0


def _export_files(ws: Any, args: argparse.Namespace, features: list[str] | None) -> Any:
    from deployready.package.export import export_package
    from deployready.package.inputs import frame_features, read_frame

    objects = _load_objects(args)
    train = read_frame(args.train)
    return export_package(
        ws,
        model=objects["model"],
        scaler=objects["scaler"],
        train=train,
        features=frame_features(train, args.target, features, args.train),
        target_column=args.target,
        holdout=read_frame(args.holdout) if args.holdout else None,
        run_id=args.run_id,
        description=args.description,
    )


def _sign_export(path: Path, args: argparse.Namespace) -> Any:
    from deployready.cli.signing import key_password
    from deployready.package.signing import sign_package

    if args.sign_key is None:
        return None
    return sign_package(path, args.sign_key, password=key_password(args))


def _print_export(info: Any, signed: Any, as_json: bool, extra: dict[str, Any]) -> None:
    if as_json:
        print_json(
            {
                "path": str(info.path),
                "version": info.version,
                "sha256": info.sha256,
                "bump": info.bump,
                "previous": info.previous,
                "signature": signed.as_dict() if signed else None,
                **extra,
            }
        )
    else:
        print(f"exported {info.version} ({info.bump}) to {info.path}\nsha256 {info.sha256}")
        if extra.get("mlflow"):
            link = extra["mlflow"]
            print(f"from MLflow {link['model_uri']} (run {link['run_id']}, history run "
                  f"{link['history_run']}{', imported' if link['imported'] else ''})")
        if signed:
            print(signed.message)
