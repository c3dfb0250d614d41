"""``deployready ingest``: every new log row into the profile store, once."""

from __future__ import annotations

import argparse
from typing import Any

from deployready.cli.common import (
    add_json_arg,
    add_workspace_arg,
    could_not_evaluate,
    print_json,
    workspace_of,
)


def register(sub: Any) -> None:
    from deployready.monitoring.profiles.engine import ENGINES

    p = sub.add_parser(
        "ingest",
        help="profile every new production log row into data/profiles.db",
        description="Profile every new row of data/production into data/profiles.db: "
        "unchanged files are skipped, a grown file contributes its new lines only, a "
        "rewritten file or one whose package changed is profiled again, a deleted file's "
        "profiles go. Exit 0 ingested, 2 some file could not be ingested (named on stderr; "
        "nothing of it stored, the other files ingested).",
    )
    add_workspace_arg(p)
    p.add_argument("--engine", choices=ENGINES, default="pandas",
                   help="profile engine (default: pandas)")
    p.add_argument("--from-profiles", metavar="DIR", default=None,
                   help="load the profiles a Spark cluster job wrote (its --out folder, "
                   "Parquet) instead of reading data/production; the same output "
                   "again replaces, never adds")
    add_json_arg(p)
    p.set_defaults(handler=cmd_ingest)


def cmd_ingest(args: argparse.Namespace) -> int:
    from deployready.monitoring.profiles.ingest import ingest, ingest_job_output

    if args.from_profiles is not None:
        result = ingest_job_output(workspace_of(args), args.from_profiles)
    else:
        result = ingest(workspace_of(args), args.engine)
    if args.json:
        print_json(result.as_dict())
    else:
        print(f"ingest ({result.engine}): {result.summary()}")
        for note in result.notes:
            print(f"  {note}")
    return 2 if could_not_evaluate(str(e) for e in result.errors) else 0
