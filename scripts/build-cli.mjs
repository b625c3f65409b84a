// Bundles the command line for Node: lib/cli/webtrt.cjs (the `webtrt` bin) and
// lib/cli/conformance.cjs (`npm run conformance`). Dawn (webgpu) and onnxruntime-node
// stay outside the bundle: they ship native addons found next to their own files.
import { build } from 'esbuild';
import { chmodSync } from 'node:fs';

const entries = {
  'lib/cli/webtrt.cjs': 'src/cli/main.ts',
  'lib/cli/conformance.cjs': 'src/cli/conformance.ts'
};

await Promise.all(
  Object.entries(entries).map(async ([outfile, entry]) => {
    await build({
      entryPoints: [entry],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      external: ['webgpu', 'onnxruntime-node'],
      banner: { js: '#!/usr/bin/env node' },
      logLevel: 'warning'
    });
    chmodSync(outfile, 0o755);
  })
);
