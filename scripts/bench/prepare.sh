#!/usr/bin/env bash
# Makes, where the repository's node_modules are, what scripts/bench/run.sh needs on a bare
# GPU machine: the CLI bundle (lib/cli), the benchmark's bundles (lib/bench: harness.mjs for
# peers.mjs, table.mjs, converted.mjs), and gpu-kit's .gpu-kit with node, Vulkan, Dawn and onnxruntime-web.
# Then carry .gpu-kit, lib/cli and lib/bench to the GPU machine (see run.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."

# onnxruntime-web is the peer the benchmark times, not a dependency of webtrt: fetched from the
# registry, at the version the published peer numbers used, only where it is missing.
ort_web_version=1.30.0
if [ ! -f node_modules/onnxruntime-web/package.json ]; then
  fetched=$(mktemp -d)
  (cd "$fetched" && npm pack --silent "onnxruntime-web@$ort_web_version" >/dev/null && tar xzf onnxruntime-web-*.tgz)
  mv "$fetched/package" node_modules/onnxruntime-web
  rm -rf "$fetched"
fi

npm run --silent build:cli
npx esbuild scripts/bench/harness.ts scripts/bench/table.ts scripts/bench/converted.ts --bundle \
  --platform=node --format=esm --target=node20 --outdir=lib/bench --out-extension:.js=.mjs \
  --external:webgpu --log-level=warning
gpu_kit=../shared/tools/gpu-kit/prepare
if [ -x "$gpu_kit" ]; then
  "$gpu_kit" --with-ort-web
else
  echo "prepare.sh: no $gpu_kit here: make .gpu-kit with gpu-kit's prepare --with-ort-web" >&2
fi
du -sh .gpu-kit lib/cli lib/bench 2>/dev/null
