#!/usr/bin/env bash
# Set up and run the whole test suite: lint, types, unit, page (AppTest) and browser tests.
# Extra arguments go to pytest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" requirements-dev.txt
# Browser tests drive Debian's chromium; install it when we can (root with apt-get).
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing chromium for the browser tests (apt-get)" >&2
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null
fi
# The Spark profile engine's tests need a Java runtime (Spark 4 runs on Java 17+): install
# Debian's headless JRE when we can. Without Java they skip, saying why — never under CI=true.
if ! command -v java >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing a Java runtime for the Spark tests (apt-get)" >&2
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi
# The peer servers (MLServer, MLflow, BentoML) run in their own venvs, built once and cached
# (scripts/peers.sh); build any missing one in the background while lint and types run.
# A venv that cannot be built makes its tests skip, saying why — never under CI=true.
peers_log=$(mktemp -t deployready-peers.XXXXXX)
bash scripts/peers.sh >"$peers_log" 2>&1 &
peers_pid=$!
echo "== ruff" >&2
ruff check deployready dashboard pages app.py tests bench
echo "== mypy" >&2
mypy deployready dashboard pages app.py
echo "== peer venvs" >&2
wait "$peers_pid" || echo "some peer venv could not be built:" >&2
cat "$peers_log" >&2
echo "== pytest" >&2
exec python -m pytest "$@"
