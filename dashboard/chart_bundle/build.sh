#!/usr/bin/env bash
# Rebuild static/plotly-deployready.min.js from the pinned plotly.js (package-lock.json).
# Needs Node.js and npm with the npm registry; the dashboard itself never needs them.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here/package.json" "$here/package-lock.json" "$here/entry.js" "$work/"
cd "$work"
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
# The first line asks V8 (Chrome 136+; other browsers ignore it) to compile every function
# while the file streams in, off the main thread, instead of each on its first call during
# the page's first draws: this build holds little the figures do not use.
npx --no-install esbuild entry.js --bundle --minify --format=iife --global-name=Plotly \
  --banner:js='//# allFunctionsCalledOnLoad' \
  --define:global=window --define:define.amd=false --target=es2016 \
  --legal-comments=eof --log-level=warning --outfile=plotly-deployready.min.js
cp plotly-deployready.min.js "$root/static/plotly-deployready.min.js"
cp node_modules/plotly.js/LICENSE "$root/static/plotly-deployready.LICENSE.txt"
sha256sum plotly-deployready.min.js | cut -d' ' -f1 > "$here/bundle.sha256"
echo "static/plotly-deployready.min.js: $(wc -c < plotly-deployready.min.js) bytes, sha256 $(cat "$here/bundle.sha256")"
