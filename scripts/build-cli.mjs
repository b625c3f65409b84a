// Bundles the command line for Node: webtrt.cjs (the `webtrt` bin) and conformance.cjs
// (`npm run conformance`) in lib/cli, or in the directory given as `--outdir dir`. Dawn
// (webgpu) and onnxruntime-node stay outside the bundle: they load native addons that
// sit next to their own files, and Node 20 can require() webgpu's ES module.
import { build } from 'esbuild';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { outdir: { type: 'string', default: 'lib/cli' } } });

const entries = {
  'webtrt.cjs': 'src/cli/main.ts',
  'conformance.cjs': 'src/cli/conformance.ts'
};

await Promise.all(
  Object.entries(entries).map(async ([name, entry]) => {
    const outfile = join(values.outdir, name);
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
