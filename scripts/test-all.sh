#!/usr/bin/env bash
# Every check a change must pass: lint and type checks, the test suites (kernels against the
# CPU reference, models against ONNX Runtime, the CLI), the ONNX conformance suite on both
# backends, the installed JupyterLab extension and its browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

npm run lint
npm test
report="${CONFORMANCE_REPORT:-$(mktemp -d)/conformance.md}"
node lib/cli/webtrt.cjs conformance --backend both --output "$report" --min-pass-rate 0.9
echo "conformance report: $report"

extensions=$(jupyter labextension list 2>&1)
if ! grep -Eq 'jupyterlab-webtrt v[0-9.]+ .*enabled.*OK' <<<"$extensions"; then
  echo "the JupyterLab extension is not installed and enabled:" >&2
  echo "$extensions" >&2
  exit 1
fi
echo "JupyterLab extension: jupyterlab-webtrt enabled OK"

scripts/ui-tests.sh
