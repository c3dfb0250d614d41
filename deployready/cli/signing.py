"""``deployready sign``: a package signed with a private key (OpenSSF Model Signing)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from deployready.cli.common import add_json_arg, print_json
from deployready.errors import InputError


def add_password_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--password-env", metavar="VAR", default=None,
                        help="environment variable holding the private key's password "
                        "(never on the command line)")


def key_password(args: argparse.Namespace) -> str | None:
    """The private key's password from the variable ``--password-env`` names."""
    if args.password_env is None:
        return None
    value = os.environ.get(args.password_env)
    if value is None:
        raise InputError(f"${args.password_env} is not set", location="--password-env",
                         expected="the variable holding the key's password")
    return value


def register(sub: Any) -> None:
    p = sub.add_parser(
        "sign",
        help="sign a package folder with a private key (writes models/vX.Y/model.sig)",
        description="Sign every file of a package folder (the manifest included) with an "
        "elliptic-curve private key in the OpenSSF Model Signing format (no network, no "
        "transparency log). Workspaces trust the matching public key by listing it in "
        "[signing] trusted_keys. Exit 0 signed, 2 the key or folder could not be used.",
    )
    p.add_argument("path", type=Path, help="the package folder, e.g. models/v1.2")
    p.add_argument("--key", type=Path, required=True, help="PEM private key (P-256/384/521)")
    add_password_arg(p)
    add_json_arg(p)
    p.set_defaults(handler=cmd_sign)


def cmd_sign(args: argparse.Namespace) -> int:
    from deployready.package.signing import sign_package

    result = sign_package(args.path, args.key, password=key_password(args))
    if args.json:
        print_json({"path": str(args.path), **result.as_dict()})
    else:
        print(f"{args.path}: {result.message}; {len(result.files)} files signed "
              f"-> {args.path / 'model.sig'}")
        print(f"trust it with: [signing] trusted_keys = [\"keys/{args.key.stem}.pub\"] "
              "(the public half of this key)")
    return 0
