// INT8 convolution benchmark: every tactic of webtrt::Int8Conv's kernels (kernels/int8-gemm.ts)
// against every tactic of the FP16 FusedConv kernels (kernels/conv.ts) on ResNet-50's conv
// shapes at batch 8, as an FP16 engine stores them (native f16 activations, int8 weights as
// the INT8 kernels take them), timed with GPU timestamps around each dispatch's pass.
//
// Here, through tsx:     npx tsx scripts/bench/int8.ts [--quick] [--all] [--only 3x3]
// Bundled for a machine without the sources or tsx:
//   npx esbuild scripts/bench/int8.ts --bundle --platform=node --format=esm \
//     --external:webgpu --outfile=lib/bench/int8.mjs
//   node lib/bench/int8.mjs
import { parseArgs } from 'node:util';
import { requestNodeDevice } from '../../src/cli/gpu';
import { numberToFloat16Bits } from '../../src/engine/ir/dtype';
import {
  ConvGeometry,
  ConvKernel,
  convKernels,
  convTacticName,
  convTactics,
  StoredTensor
} from '../../src/engine/kernels/conv';
import { ConvolutionAxis } from '../../src/engine/kernels/gemm';
import {
  Int8GemmKernel,
  int8GemmKernels,
  int8GemmTacticName,
  int8GemmTactics,
  subgroupMatrixSupport
} from '../../src/engine/kernels/int8-gemm';
import { seededRandom } from '../../src/engine/io/random';
import { describeAdapter } from '../../src/engine/runtime/fingerprint';
import { withPrelude } from '../../src/engine/kernels/wgsl';

const { values: options } = parseArgs({
  options: {
    // Runs per timed pass, and timed passes.
    runs: { type: 'string', default: '50' },
    passes: { type: 'string', default: '5' },
    // Only the shapes whose label contains this.
    only: { type: 'string', default: '' },
    // Every tactic's time, not only each shape's best per precision.
    all: { type: 'boolean', default: false },
    // Small shapes, for trying the script on a software adapter.
    quick: { type: 'boolean', default: false }
  }
});
const runs = Number(options.runs);
const passes = Number(options.passes);

interface Layer {
  label: string;
  inChannels: number;
  outChannels: number;
  size: number;
  kernel: number;
  stride: number;
}

/** ResNet-50's convolutions at batch 8 (224x224 input), one of each kind. */
const LAYERS: Layer[] = [
  ['1x1 64->64 56x56', 64, 64, 56, 1, 1],
  ['1x1 64->256 56x56', 64, 256, 56, 1, 1],
  ['1x1 256->64 56x56', 256, 64, 56, 1, 1],
  ['3x3 64->64 56x56', 64, 64, 56, 3, 1],
  ['3x3 128->128 28x28', 128, 128, 28, 3, 1],
  ['3x3 256->256 14x14', 256, 256, 14, 3, 1],
  ['1x1 1024->256 14x14', 1024, 256, 14, 1, 1],
  ['3x3 512->512 7x7', 512, 512, 7, 3, 1],
  ['1x1 512->2048 7x7', 512, 2048, 7, 1, 1],
  ['7x7/2 3->64 224x224', 3, 64, 224, 7, 2]
].map(([label, inChannels, outChannels, size, kernel, stride]) => ({
  label: label as string,
  inChannels: inChannels as number,
  outChannels: outChannels as number,
  size: size as number,
  kernel: kernel as number,
  stride: stride as number
}));

const QUICK_LAYERS: Layer[] = [
  { label: 'quick 3x3 16->32 8x8', inChannels: 16, outChannels: 32, size: 8, kernel: 3, stride: 1 }
];

const IMAGES = options.quick ? 1 : 8;

function geometryOf(layer: Layer): ConvGeometry {
  const padBegin = Math.floor(layer.kernel / 2);
  const output = Math.floor((layer.size + 2 * padBegin - layer.kernel) / layer.stride) + 1;
  const axis: ConvolutionAxis = {
    input: layer.size,
    output,
    kernel: layer.kernel,
    stride: layer.stride,
    dilation: 1,
    padBegin
  };
  return {
    batch: IMAGES,
    inChannels: layer.inChannels,
    outChannels: layer.outChannels,
    group: 1,
    axes: [axis, axis]
  };
}

/** Activations and FP16 weights: native f16 where the device has it (f32 on SwiftShader). */
let HALF: StoredTensor = { dtype: 'float16', storage: 'f16' };
const INT8: StoredTensor = { dtype: 'int8' };
const FLOAT: StoredTensor = { dtype: 'float32' };

/** A buffer of `elements` random values of `tensor`'s storage (int8 weights as stored). */
function randomBuffer(
  device: GPUDevice,
  elements: number,
  tensor: StoredTensor,
  seed: number
): GPUBuffer {
  const next = seededRandom(seed);
  const padded = Math.ceil(elements / 4) * 4;
  const half = tensor.storage === 'f16';
  const integer = tensor.dtype === 'int8';
  const data = half
    ? new Uint16Array(padded)
    : integer
      ? new Int32Array(padded)
      : new Float32Array(padded);
  for (let i = 0; i < elements; i++) {
    const v = 2 * next() - 1;
    data[i] = half ? numberToFloat16Bits(v) : integer ? Math.round(v * 127) : v;
  }
  const buffer = device.createBuffer({
    size: Math.max(16, data.byteLength),
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST
  });
  device.queue.writeBuffer(buffer, 0, data);
  return buffer;
}

type Kernel = ConvKernel | Int8GemmKernel;

const median = (sorted: number[]) => sorted[Math.floor(sorted.length / 2)];

/**
 * Seconds per run of a layer's kernels (dispatched in order): the median over `passes`
 * compute passes of `runs` runs each, timed by the timestamps around each pass, after one
 * untimed pass. Dawn quantizes timestamps (to 65.5 us on the H100), so single dispatches
 * cannot be timed; a pass of many runs, each run's dispatches ordered after the last's by
 * the storage they share, can.
 */
async function time(
  device: GPUDevice,
  kernels: Kernel[],
  bufferOf: (name: string, elements: number) => GPUBuffer
): Promise<number> {
  device.pushErrorScope('validation');
  const steps = await Promise.all(
    kernels.map(async kernel => {
      const pipeline = await device.createComputePipelineAsync({
        layout: 'auto',
        compute: {
          module: device.createShaderModule({ code: withPrelude(kernel.code) }),
          entryPoint: 'main'
        }
      });
      const bindGroup = device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: kernel.bindings.map(({ name, elements }, binding) => ({
          binding,
          resource: { buffer: bufferOf(name, elements) }
        }))
      });
      return { pipeline, bindGroup, workgroups: kernel.workgroups };
    })
  );
  const total = passes + 1;
  const querySet = device.createQuerySet({ type: 'timestamp', count: 2 * total });
  const bytes = 16 * total;
  const resolved = device.createBuffer({
    size: bytes,
    usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC
  });
  const readback = device.createBuffer({
    size: bytes,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST
  });
  const encoder = device.createCommandEncoder();
  for (let p = 0; p < total; p++) {
    const pass = encoder.beginComputePass({
      timestampWrites: {
        querySet,
        beginningOfPassWriteIndex: 2 * p,
        endOfPassWriteIndex: 2 * p + 1
      }
    });
    for (let run = 0; run < runs; run++) {
      for (const step of steps) {
        pass.setPipeline(step.pipeline);
        pass.setBindGroup(0, step.bindGroup);
        pass.dispatchWorkgroups(...step.workgroups);
      }
    }
    pass.end();
  }
  encoder.resolveQuerySet(querySet, 0, 2 * total, resolved, 0);
  encoder.copyBufferToBuffer(resolved, 0, readback, 0, bytes);
  device.queue.submit([encoder.finish()]);
  await readback.mapAsync(GPUMapMode.READ);
  const stamps = new BigUint64Array(readback.getMappedRange().slice(0));
  readback.unmap();
  [querySet, resolved, readback].forEach(r => r.destroy());
  const error = await device.popErrorScope();
  if (error) {
    throw new Error(error.message);
  }
  const seconds: number[] = [];
  for (let p = 1; p < total; p++) {
    seconds.push(Number(stamps[2 * p + 1] - stamps[2 * p]) / 1e9 / runs);
  }
  return median(seconds.sort((a, b) => a - b));
}

interface Timing {
  name: string;
  ms: number;
}

async function main(): Promise<void> {
  const device = await requestNodeDevice();
  if (!device.features.has('timestamp-query')) {
    throw new Error('the adapter has no timestamp-query: nothing to time the kernels with');
  }
  if (!device.features.has('shader-f16')) {
    HALF = { dtype: 'float32' };
  }
  const matrices = subgroupMatrixSupport(device);
  console.log(
    `# ${describeAdapter(device.adapterInfo)}; i8 subgroup matrices: ` +
      `${matrices ? matrices.shapes.map(s => `${s.M}x${s.N}x${s.K}`).join(', ') : 'none'}`
  );
  console.log(`# median of ${passes} passes of ${runs} runs each, GPU timestamps`);
  const layers = (options.quick ? QUICK_LAYERS : LAYERS).filter(l =>
    l.label.includes(options.only)
  );
  const summary: string[] = [];
  // The first layer twice, the first time untimed, while the GPU's clocks come up.
  for (const [i, layer] of [layers[0], ...layers].entries()) {
    const print = i > 0;
    const g = geometryOf(layer);
    const [axis] = g.axes;
    const points = axis.output * axis.output;
    const buffers = new Map<string, GPUBuffer>();
    const storage: Record<string, StoredTensor> = {
      x: HALF,
      bias: HALF,
      y: HALF,
      w: HALF,
      w_int8: INT8,
      w_scale: FLOAT,
      workspace: FLOAT
    };
    const bufferOf = (name: string, elements: number) => {
      const key = `${name}:${elements}`;
      let buffer = buffers.get(key);
      if (!buffer) {
        buffer = randomBuffer(device, elements, storage[name], buffers.size + 1);
        buffers.set(key, buffer);
      }
      return buffer;
    };
    const measure = async (label: string, tactics: [string, () => Kernel[]][]) => {
      const timings: Timing[] = [];
      for (const [name, kernels] of tactics) {
        try {
          timings.push({ name, ms: (await time(device, kernels(), bufferOf)) * 1e3 });
        } catch (error) {
          console.log(
            `| ${layer.label} | ${label} | ${name} | failed: ${(error as Error).message.split('\n')[0]} |`
          );
        }
      }
      timings.sort((a, b) => a.ms - b.ms);
      for (const t of options.all && print ? timings : []) {
        console.log(`| ${layer.label} | ${label} | ${t.name} | ${t.ms.toFixed(4)} |`);
      }
      return timings[0];
    };

    const fp16 = await measure(
      'fp16',
      convTactics(g, device.limits).map(tactic => [
        convTacticName(tactic),
        () =>
          convKernels({ geometry: g, tactic, tensors: { x: HALF, w: HALF, y: HALF, bias: HALF } })
      ])
    );
    const M = g.outChannels;
    const N = g.batch * points;
    const K = g.inChannels * axis.kernel * axis.kernel;
    const layout = {
      kind: 'convolution' as const,
      convolution: {
        images: g.batch,
        inChannels: g.inChannels,
        outChannels: g.outChannels,
        axes: g.axes
      }
    };
    const int8Tactics = int8GemmTactics(device.limits, { M, N, K, gathered: true }, matrices);
    const int8 = await measure(
      'int8',
      int8Tactics.map(tactic => [
        int8GemmTacticName(tactic),
        () =>
          int8GemmKernels({
            M,
            N,
            K,
            layout,
            inputScale: 0.02,
            tensors: { x: HALF, w: INT8, w_scale: FLOAT, bias: HALF, y: HALF },
            tactic
          }).map(kernel => ({
            ...kernel,
            // The int8 weights and the f16 ones of the same elements are different buffers.
            bindings: kernel.bindings.map(b => (b.name === 'w' ? { ...b, name: 'w_int8' } : b))
          })) as Kernel[]
      ])
    );
    buffers.forEach(b => b.destroy());
    if (fp16 && int8 && print) {
      summary.push(
        `| ${layer.label} | ${fp16.ms.toFixed(4)} | ${fp16.name} | ${int8.ms.toFixed(4)} | ` +
          `${int8.name} | ${(fp16.ms / int8.ms).toFixed(2)} |`
      );
    }
  }
  console.log('\n| layer (batch 8) | fp16 ms | fp16 tactic | int8 ms | int8 tactic | fp16/int8 |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  summary.forEach(line => console.log(line));
  device.destroy();
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
