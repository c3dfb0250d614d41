#!/usr/bin/env bash
# Create the peer servers' virtualenvs (MLServer, MLflow, BentoML) once, in parallel, cached
# under $DEPLOYREADY_PEERS (default ~/.cache/deployready-peers) in folders keyed on the pins.
# Prints one line per peer: NAME PATH (ok) or NAME FAILED LOGFILE. Exit 0 when all are built.
# Usage: scripts/peers.sh [--print] [NAME...]   (--print: only print the paths, build nothing)
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec "${PYTHON:-python3}" "$here/tests/peers/venvs.py" "$@"
