"""``deployready labels import``: a ground-truth label file validated, then stored."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

from deployready.cli.common import add_workspace_arg, require_folder, workspace_of
from deployready.errors import LabelError, read_file


def register(sub: Any) -> None:
    p = sub.add_parser(
        "labels",
        help="ground-truth labels: import a label file into data/labels",
        description="Ground-truth labels (request_id, label, labeled_at) joined to the "
        "logged predictions.")
    labels = p.add_subparsers(dest="labels_command", metavar="ACTION")
    labels.required = True
    q = labels.add_parser(
        "import", help="validate a label file and copy it into data/labels",
        description="Validate SRC (.csv, .parquet or .jsonl) with the label loader and "
        "copy it into data/labels under its own name, atomically: the whole file or "
        "nothing; an existing file of that name is never replaced. "
        "Exit 0 imported, 2 bad input.")
    q.add_argument("src", metavar="SRC", help="the label file")
    add_workspace_arg(q)
    q.set_defaults(handler=cmd_labels_import)


def import_labels(ws: Any, src: str | Path) -> Path:
    """Validate ``src`` and store it as ``ws.labels_dir / src.name``; the stored path.
    :class:`LabelError` for a bad file or a name already taken, nothing written then."""
    from deployready.performance.labels import FILE_EXPECTED, LABEL_SUFFIXES, read_label_file

    src = Path(src)
    if src.suffix.lower() not in LABEL_SUFFIXES:
        raise LabelError(f"unknown file type {src.suffix or '(none)'!r}", source=src,
                         expected=FILE_EXPECTED)
    data = read_file(src, LabelError, expected=FILE_EXPECTED)
    read_label_file(src)  # refused before anything is written
    directory = Path(ws.labels_dir)
    require_folder(directory, "a folder of label files")
    target: Path = directory / src.name
    taken = LabelError("a label file of this name is already stored", source=target,
                       expected="a new file name (stored label files are never replaced)")
    if os.path.lexists(target):
        raise taken
    directory.mkdir(parents=True, exist_ok=True)
    # the bytes stored are the bytes validated: the copy is validated again, then linked
    fd, tmp = tempfile.mkstemp(prefix=".import-", suffix=".tmp" + src.suffix, dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            read_label_file(tmp)
        except LabelError as exc:
            raise LabelError(exc.message, source=src, location=exc.location,
                             expected=exc.expected) from None
        os.link(tmp, target)  # fails when the name appeared meanwhile: never replaces
    except FileExistsError:
        raise taken from None
    finally:
        os.unlink(tmp)
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return target


def cmd_labels_import(args: argparse.Namespace) -> int:
    ws = workspace_of(args)
    target = import_labels(ws, args.src)
    print(f"imported {args.src} as {target}")
    return 0
