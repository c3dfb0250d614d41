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
echo "== ruff" >&2
ruff check deployready dashboard pages app.py tests bench
echo "== mypy" >&2
mypy deployready dashboard pages app.py
echo "== pytest" >&2
exec python -m pytest "$@"
