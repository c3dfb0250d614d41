"""Serving stacks: ``package-export`` (a verified package for MLflow, MLServer or BentoML)
and ``import-mlflow`` (certification runs from an MLflow tracking store)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from deployready.cli.common import add_json_arg, add_workspace_arg, print_json, workspace_of


def register(sub: Any) -> None:
    from deployready.stacks.export import FORMATS

    p = sub.add_parser(
        "package-export",
        help="write a verified package as an MLflow model, MLServer model folder or "
        "BentoML service",
        description="Write package VERSION for a serving stack: its files copied byte for "
        "byte (hashed again after the copy) and a standalone loader that verifies "
        "MANIFEST.json before unpickling and predicts as the package does. Only a package "
        "that 'deployready validate' accepts is exported; OUT must not exist. Exit 0 "
        "exported, 2 not exported (the reason on stderr, nothing written).",
    )
    p.add_argument("version", help="package version, e.g. v1.1")
    p.add_argument("--format", required=True, choices=FORMATS, help="target serving stack")
    p.add_argument("--out", required=True, type=Path, help="folder to create")
    add_workspace_arg(p)
    add_json_arg(p)
    p.set_defaults(handler=cmd_package_export)
    register_import(sub)


def cmd_package_export(args: argparse.Namespace) -> int:
    from deployready.stacks.export import export_to_stack

    result = export_to_stack(workspace_of(args), args.version, args.format, args.out)
    if args.json:
        print_json(result.as_dict())
    else:
        print(f"exported {result.version} ({result.sha256[:12]}) as {result.format}: "
              f"{result.path}")
    return 0


def register_import(sub: Any) -> None:
    p = sub.add_parser(
        "import-mlflow",
        help="append an MLflow experiment's runs to the certification history",
        description="Read the runs of an MLflow experiment with MLflow's own client (run by "
        "--mlflow-python: deployready does not depend on MLflow) and append the runs the "
        "history does not have yet, oldest first, keeping mlflow_run_id and "
        "mlflow_model_uri. Every new run is mapped and validated before any is written. "
        "Exit 0 imported (or nothing new), 2 nothing written (the run and key on stderr).",
    )
    p.add_argument("--tracking-uri", required=True,
                   help="MLflow tracking URI: sqlite:///PATH, a folder, http://HOST:PORT, ...")
    p.add_argument("--experiment", required=True, help="experiment name")
    p.add_argument("--map", action="append", default=[], metavar="COLUMN=SOURCE",
                   help="where a history column comes from: metrics.NAME, params.NAME, "
                   "tags.NAME, artifacts.PATH, run.start_time or run.run_id (repeatable)")
    p.add_argument("--mlflow-python", default=None, metavar="PYTHON",
                   help="a Python with mlflow installed (default: this one)")
    add_workspace_arg(p)
    add_json_arg(p)
    p.set_defaults(handler=cmd_import_mlflow)


def cmd_import_mlflow(args: argparse.Namespace) -> int:
    from deployready.stacks.mlflow_import import import_mlflow, parse_map

    result = import_mlflow(workspace_of(args), args.tracking_uri, args.experiment,
                           parse_map(args.map), args.mlflow_python)
    if args.json:
        print_json(result.as_dict())
    else:
        print(f"import-mlflow: {len(result.imported)} run(s) appended to {result.history}, "
              f"{len(result.skipped)} already there")
    return 0
