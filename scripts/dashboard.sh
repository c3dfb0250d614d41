#!/usr/bin/env bash
# Set up, build the demo workspace (first time only) and start the dashboard on
# http://localhost:8501 , the engine imported before the server starts (dashboard/serve.py).
# Extra arguments go to `streamlit run`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" requirements.txt
deployready demo . --if-missing
echo "deployready dashboard: http://localhost:8501" >&2
exec python -m dashboard.serve "$@"
