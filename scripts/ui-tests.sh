#!/usr/bin/env bash
# Browser tests of the JupyterLab extension (ui-tests/): Galata starts JupyterLab from .venv and
# drives it in Debian's Chromium with WebGPU on SwiftShader. They test the extension as last
# built and installed (scripts/setup.sh, or `npm run build` after a change in src/).
# Arguments go to `playwright test`: a file or a -g pattern runs part of the suite.
# UPDATE_SCREENSHOTS=1 also refreshes the README tour's pictures in docs/images/.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
# Playwright's own browser build cannot be downloaded here; the tests launch /usr/bin/chromium.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

npx tsc --noEmit -p ui-tests
npx playwright test --config ui-tests/playwright.config.ts "$@"
