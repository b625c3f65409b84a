// GEMM kernel benchmark: TFLOP/s of every tactic gemmTactics offers, per shape and precision,
// from GPU timestamps (timestamp-query) where the device has them, wall time otherwise.
//
// Here, through tsx:     npx tsx scripts/bench/gemm.ts [--quick] [--runs 20]
// Bundled for a machine without the sources or tsx:
//   npx esbuild scripts/bench/gemm.ts --bundle --platform=node --format=esm \
//     --external:webgpu --outfile=lib/bench/gemm.mjs
//   node lib/bench/gemm.mjs
import { parseArgs } from 'node:util';
import { requestNodeDevice } from '../../src/cli/gpu';
import { numberToFloat16Bits } from '../../src/engine/ir/dtype';
import {
  GemmKernel,
  GemmSpec,
  GemmTactic,
  gemmKernel,
  gemmTactics
} from '../../src/engine/kernels/gemm';
import { seededRandom } from '../../src/engine/io/random';
import { describeAdapter } from '../../src/engine/runtime/fingerprint';

const { values: options } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '3' },
    // Small shapes, for trying the script on a software adapter.
    quick: { type: 'boolean', default: false }
  }
});
const runs = Number(options.runs);
const warmup = Number(options.warmup);

/** [label, M, N, K]: the square classic, then products of the peer models' layers. */
const SHAPES: [string, number, number, number][] = options.quick
  ? [['256^3', 256, 256, 256]]
  : [
      ['4096^3', 4096, 4096, 4096],
      ['BERT-base FFN up, 8x128 tokens', 1024, 3072, 768],
      ['BERT-base FFN down, 8x128 tokens', 1024, 768, 3072],
      ['ResNet-50 1x1 conv 64->256 at 56x56, batch 8 (NHWC)', 25088, 256, 64]
    ];

const PRECISIONS: {
  label: string;
  spec: Pick<GemmSpec, 'precision' | 'f16Storage' | 'accumulation'>;
}[] = [
  { label: 'f32', spec: { precision: 'f32' } },
  { label: 'f16 native, f32 accumulation', spec: { precision: 'f16', f16Storage: 'native' } },
  {
    label: 'f16 native, f16 accumulation',
    spec: { precision: 'f16', f16Storage: 'native', accumulation: 'f16' }
  },
  { label: 'f16 packed in u32, f32 arithmetic', spec: { precision: 'f16', f16Storage: 'packed' } }
];

function randomBuffer(device: GPUDevice, elements: number, half: boolean, seed: number): GPUBuffer {
  const next = seededRandom(seed);
  // Whole vec4s, and a multiple of 4 bytes.
  const padded = Math.ceil(elements / 4) * 4;
  const data = half ? new Uint16Array(padded) : new Float32Array(padded);
  for (let i = 0; i < elements; i++) {
    const v = 2 * next() - 1;
    data[i] = half ? numberToFloat16Bits(v) : v;
  }
  const buffer = device.createBuffer({
    size: data.byteLength,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST
  });
  device.queue.writeBuffer(buffer, 0, data);
  return buffer;
}

const median = (sorted: number[]) => sorted[Math.floor(sorted.length / 2)];

/** Times one compute pass on the GPU with a pair of timestamps. */
function passTimer(device: GPUDevice) {
  const querySet = device.createQuerySet({ type: 'timestamp', count: 2 });
  const resolved = device.createBuffer({
    size: 16,
    usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC
  });
  const readback = device.createBuffer({
    size: 16,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST
  });
  return {
    writes: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 },
    resolve(encoder: GPUCommandEncoder) {
      encoder.resolveQuerySet(querySet, 0, 2, resolved, 0);
      encoder.copyBufferToBuffer(resolved, 0, readback, 0, 16);
    },
    /** Seconds between the pass's timestamps, once the submitted work is done. */
    async read(): Promise<number> {
      await readback.mapAsync(GPUMapMode.READ);
      const [begin, end] = new BigUint64Array(readback.getMappedRange());
      readback.unmap();
      return Number(end - begin) / 1e9;
    },
    destroy() {
      querySet.destroy();
      resolved.destroy();
      readback.destroy();
    }
  };
}

/** Seconds per dispatch of one kernel: the median and p90 of `runs` timed passes. */
async function time(
  device: GPUDevice,
  kernel: GemmKernel,
  buffers: GPUBuffer[]
): Promise<{ median: number; p90: number }> {
  device.pushErrorScope('validation');
  const pipeline = await device.createComputePipelineAsync({
    layout: 'auto',
    compute: { module: device.createShaderModule({ code: kernel.code }), entryPoint: 'main' }
  });
  const bindGroup = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } }))
  });
  const timer = device.features.has('timestamp-query') ? passTimer(device) : undefined;
  const seconds: number[] = [];
  for (let run = -warmup; run < runs; run++) {
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass(timer ? { timestampWrites: timer.writes } : {});
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(...kernel.workgroups);
    pass.end();
    timer?.resolve(encoder);
    const start = performance.now();
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
    const wall = (performance.now() - start) / 1e3;
    const elapsed = timer ? await timer.read() : wall;
    if (run >= 0) {
      seconds.push(elapsed);
    }
  }
  timer?.destroy();
  const error = await device.popErrorScope();
  if (error) {
    throw new Error(error.message);
  }
  seconds.sort((a, b) => a - b);
  return { median: median(seconds), p90: seconds[Math.floor(seconds.length * 0.9)] };
}

async function main(): Promise<void> {
  const device = await requestNodeDevice();
  const clock = device.features.has('timestamp-query') ? 'GPU timestamps' : 'wall time';
  console.log(
    `# ${describeAdapter(device.adapterInfo)}; features: ${[...device.features].sort().join(', ')}`
  );
  console.log(`# median (p90) of ${runs} runs after ${warmup} warm-up runs, ${clock}\n`);
  console.log('| shape (M x N x K) | precision | tactic | ms | TFLOP/s |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const [label, M, N, K] of SHAPES) {
    for (const precision of PRECISIONS) {
      const half = precision.spec.precision === 'f16';
      if (precision.spec.f16Storage === 'native' && !device.features.has('shader-f16')) {
        console.log(`| ${label} | ${precision.label} | skipped: no shader-f16 | | |`);
        continue;
      }
      const specOf = (tactic: GemmTactic): GemmSpec => ({ ...precision.spec, M, N, K, tactic });
      const [first] = gemmTactics(device.limits, M, N, K);
      const buffers = gemmKernel(specOf(first)).bindings.map(({ elements }, i) =>
        randomBuffer(device, elements, half, i + 1)
      );
      for (const tactic of gemmTactics(device.limits, M, N, K)) {
        const { tileM, tileN, tileK, threadM, threadN, vector } = tactic;
        const name = `${tileM}x${tileN}x${tileK}, ${threadM}x${threadN}/thread, vec${vector}`;
        try {
          const { median: s, p90 } = await time(device, gemmKernel(specOf(tactic)), buffers);
          const tflops = (2 * M * N * K) / s / 1e12;
          console.log(
            `| ${label} (${M}x${N}x${K}) | ${precision.label} | ${name} | ` +
              `${(s * 1e3).toFixed(3)} (${(p90 * 1e3).toFixed(3)}) | ${tflops.toPrecision(3)} |`
          );
        } catch (error) {
          const message = (error as Error).message.split('\n')[0];
          console.log(`| ${label} | ${precision.label} | ${name} | failed: ${message} | |`);
        }
      }
      buffers.forEach(b => b.destroy());
    }
  }
  device.destroy();
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
