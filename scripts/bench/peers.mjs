#!/usr/bin/env node
// The onnxruntime-web peer of `webtrt exec`: its WebGPU execution provider on Dawn in Node,
// timed as exec times an engine, end to end with host I/O (input tensors from host memory,
// outputs read back to it), and its times written in exec's --exportTimes form.
//
// Usage: node scripts/bench/peers.mjs --model m.onnx [--loadInputs name:x.npy,...]
//          [--iterations 50] [--warmUp 200] [--exportTimes times.json]
//
// The first run is session creation (setup) plus the first inference, as trtexec reports a
// build beside the first run. lib/bench/harness.mjs comes from scripts/bench/prepare.sh.
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { latencySummary, parseNpy } from '../../lib/bench/harness.mjs';
import { loadOrtWebGpu } from './ort-web-node.mjs';

const { values: flags } = parseArgs({
  options: {
    model: { type: 'string' },
    loadInputs: { type: 'string', multiple: true, default: [] },
    iterations: { type: 'string', default: '50' },
    warmUp: { type: 'string', default: '200' },
    exportTimes: { type: 'string' }
  }
});
if (!flags.model) {
  throw new Error('peers.mjs: give the model with --model m.onnx');
}

/** name:file.npy items, comma separated or repeated (the name ends at the last colon). */
function loadInputs(specs) {
  const items = specs.flatMap(spec => spec.split(',')).filter(item => item);
  return Object.fromEntries(
    items.map(item => {
      const split = item.lastIndexOf(':');
      const file = item.slice(split + 1);
      return [item.slice(0, split), parseNpy(new Uint8Array(readFileSync(file)), file)];
    })
  );
}

const ort = await loadOrtWebGpu();
// One wasm thread: the WebGPU provider runs the layers on the GPU, and Node would otherwise
// start worker threads for the few CPU kernels.
ort.env.wasm.numThreads = 1;

const started = performance.now();
const session = await ort.InferenceSession.create(readFileSync(flags.model), {
  executionProviders: ['webgpu']
});
const setupMs = performance.now() - started;
const given = loadInputs(flags.loadInputs);
const missing = session.inputNames.filter(name => !(name in given));
if (missing.length > 0) {
  throw new Error(`peers.mjs: no --loadInputs for ${missing.join(', ')}`);
}

/** One execution with host I/O: tensors made from host memory, every output read back. */
async function execute() {
  const feeds = Object.fromEntries(
    session.inputNames.map(name => {
      const { dtype, shape, data } = given[name];
      return [name, new ort.Tensor(dtype, data, shape)];
    })
  );
  const outputs = await session.run(feeds);
  for (const output of Object.values(outputs)) {
    await output.getData();
  }
}

const firstStart = performance.now();
await execute();
const firstRunMs = performance.now() - firstStart;
while (performance.now() - firstStart < Number(flags.warmUp)) {
  await execute();
}
const executions = [];
const timedStart = performance.now();
let now = timedStart;
while (executions.length < Number(flags.iterations)) {
  const begin = now;
  await execute();
  now = performance.now();
  executions.push({ startMs: begin - timedStart, latencyMs: now - begin });
}

const times = { setup: { label: 'Session create', ms: setupMs }, firstRunMs, executions };
if (flags.exportTimes) {
  writeFileSync(flags.exportTimes, `${JSON.stringify(times, null, 2)}\n`);
}
const latency = latencySummary(executions.map(execution => execution.latencyMs));
process.stdout.write(
  `onnxruntime-web ${ort.env.versions.web} WebGPU: session ${setupMs.toFixed(1)} ms, ` +
    `first run ${firstRunMs.toFixed(1)} ms, median ${latency.median.toFixed(3)} ms, ` +
    `p90 ${latency.p90.toFixed(3)} ms over ${executions.length} runs\n`
);
await session.release();
// Dawn's instance keeps the event loop alive.
process.exit(0);
