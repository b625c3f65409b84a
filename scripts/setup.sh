#!/usr/bin/env bash
# Sets up a fresh Debian machine for webtrt: system packages (SwiftShader's Vulkan driver
# through Debian's chromium, the Vulkan loader, the ONNX conformance data), the npm
# packages, the build (engine, CLI, JupyterLab extension) and the Python package,
# installed into JupyterLab in .venv. Safe to run again: each step is quick when done.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(chromium libvulkan1 libonnx-testdata fonts-dejavu-core)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# onnxruntime-node (the test oracle) ships its CPU binary; its install script would only
# fetch GPU extras from outside the package registry. `npm install` rather than `npm ci`:
# the lock names optional platform builds of rspack that a registry mirror may not carry,
# which `npm ci` refuses and `npm install` skips, leaving the lock as it is.
ONNXRUNTIME_NODE_INSTALL=skip npm install --no-fund --no-audit

# JupyterLab and the Python package live in .venv, so nothing outside the checkout changes.
[ -x .venv/bin/python ] || python3 -m venv .venv
export PATH="$PWD/.venv/bin:$PATH"
# ipykernel and numpy: the browser tests run Python cells that read the .npy files %trt writes;
# pillow renders the text lines of scripts/data/text_lines.py.
python -m pip install -q --disable-pip-version-check "jupyterlab>=4.6,<5" ipykernel numpy pillow
npm run build
python -m pip install -q --disable-pip-version-check -e .
jupyter labextension develop . --overwrite >/dev/null
