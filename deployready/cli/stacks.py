"""Serving stacks: ``package-export`` (a verified package for MLflow, MLServer or BentoML),
``import-mlflow`` (certification runs from an MLflow tracking store) and ``export``'s
``--from-mlflow`` options (a package from a registered model version)."""

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


# --------------------------------------------------------------------------- export --from-mlflow

#: ``export`` options that name files, and whether ``--from-mlflow`` replaces them.
FILE_OPTIONS: dict[str, bool] = {"model": True, "train": True, "scaler": False,
                                 "holdout": False, "run_id": False}


def add_mlflow_source_args(p: argparse.ArgumentParser) -> None:
    """``export``'s options for a package built from an MLflow registered model version."""
    from deployready.stacks.mlflow_source import HOLDOUT_ARTIFACT, TRAIN_ARTIFACT

    g = p.add_argument_group(
        "from MLflow",
        "build the package from a registered model version instead of files: the model "
        "(sklearn flavour, a Pipeline with predict_proba) and its source run's training and "
        "holdout artifacts, read by MLflow's own client in --mlflow-python; the run is added "
        "to the certification history when it is not there (mapped as import-mlflow maps)")
    g.add_argument("--from-mlflow", default=None, metavar="MODEL_URI",
                   help="models:/NAME/VERSION or models:/NAME@ALIAS")
    g.add_argument("--tracking-uri", default=None,
                   help="MLflow tracking URI: sqlite:///PATH, a folder, http://HOST:PORT, ...")
    g.add_argument("--mlflow-python", default=None, metavar="PYTHON",
                   help="a Python with mlflow installed (default: this one)")
    g.add_argument("--train-artifact", default=TRAIN_ARTIFACT, metavar="PATH",
                   help=f"the run's training data artifact (default {TRAIN_ARTIFACT})")
    g.add_argument("--holdout-artifact", default=HOLDOUT_ARTIFACT, metavar="PATH",
                   help=f"the run's holdout data artifact (default {HOLDOUT_ARTIFACT})")
    g.add_argument("--map", action="append", default=[], metavar="COLUMN=SOURCE",
                   help="where a history column comes from, as for import-mlflow (repeatable)")


def check_export_source(args: argparse.Namespace) -> None:
    """Files or ``--from-mlflow``, not both: an InputError naming the option otherwise."""
    from deployready.errors import InputError

    if args.from_mlflow is None:
        for name in ("model", "train"):
            if getattr(args, name) is None:
                raise InputError(f"--{name} is required", location=f"--{name}",
                                 expected=f"--{name} FILE, or --from-mlflow MODEL_URI")
        if args.tracking_uri or args.map or args.mlflow_python:
            raise InputError("MLflow options without --from-mlflow", location="--tracking-uri",
                             expected="--from-mlflow MODEL_URI with them")
        return
    given = [n for n in FILE_OPTIONS if getattr(args, n)]
    if given:
        option = "--" + given[0].replace("_", "-")
        raise InputError(f"{option} cannot be combined with --from-mlflow", location=option,
                         expected="the model, data and run from the registered model version "
                         "(--train-artifact, --holdout-artifact choose the data)")
    if not args.tracking_uri:
        raise InputError("--tracking-uri is required with --from-mlflow",
                         location="--tracking-uri", expected="the MLflow tracking URI")


def export_mlflow(ws: Any, args: argparse.Namespace, features: list[str] | None) -> Any:
    from deployready.stacks.mlflow_export import export_from_mlflow
    from deployready.stacks.mlflow_import import parse_map

    return export_from_mlflow(
        ws, args.from_mlflow, tracking_uri=args.tracking_uri, target=args.target,
        features=features, train_artifact=args.train_artifact,
        holdout_artifact=args.holdout_artifact, mapping=parse_map(args.map),
        python=args.mlflow_python, description=args.description)
