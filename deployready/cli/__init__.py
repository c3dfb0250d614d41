"""The ``deployready`` command line.

Each domain registers its subcommands from its own module (``register(subparsers)``);
handlers return the exit code, by one rule in every command:

- 0 — evaluated, and the answer is yes (READY, valid, allowed, no alerts, passed);
- 1 — evaluated, and the answer is no (NOT READY, invalid, refused, alerts, failed; an
  identity without a role allowing the action: refused and logged);
- 2 — could not evaluate: a wrong command line, or the policy or evidence the answer
  depends on (history, logs, store, reference profile, an input file) is unreadable or
  invalid. Any :class:`~deployready.errors.DeployReadyError` is printed on stderr with
  exit 2; evidence a verdict could not read (``Readiness.errors``, ``GateDecision.errors``)
  is printed on stderr after the verdict, also with exit 2.

A package's own broken files are what ``score`` and ``validate`` judge: a verdict (1).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from deployready.errors import AccessDenied, DeployReadyError

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    from deployready.cli import (
        core,
        ingest,
        labels,
        loadtest,
        monitor,
        performance,
        rollout,
        signing,
        stacks,
    )

    parser = argparse.ArgumentParser(
        prog="deployready",
        description="Can this model version go to production? Evidence-based readiness.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in (core, signing, loadtest, stacks, ingest, monitor, performance, labels,
                   rollout):  # help order
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except AccessDenied as exc:  # evaluated: the answer is no (and it was logged)
        print(f"deployready: {exc}", file=sys.stderr)
        return 1
    except DeployReadyError as exc:
        print(f"deployready: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("deployready: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # stdout closed early (e.g. piped into `head`): not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
