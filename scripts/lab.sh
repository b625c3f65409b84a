#!/usr/bin/env bash
# Opens JupyterLab (from .venv, with the extension, as scripts/setup.sh installed it) on
# examples/, at the tour notebook: %trt info, inspect, convert, run, bench and profile on the
# bundled small CNN. Arguments go to `jupyter lab` (e.g. --no-browser --port 8889).
set -euo pipefail
cd "$(dirname "$0")/../examples"
exec ../.venv/bin/jupyter lab tour.ipynb "$@"
