/**
 * The text form of every report: what the command line prints and what a notebook output
 * carries as text/plain, so a saved notebook reads well in any frontend.
 */
import type { LayerInfo } from '../runtime/engine';
import { describeAdapter } from '../runtime/fingerprint';
import { LatencySummary, profileTable } from '../runtime/stats';
import { columns, counted, field, formatBytes, formatCount, formatMs, formatValue } from './format';
import { PROFILE_CLOCKS } from './profile';
import type {
  AccuracyReport,
  BenchReport,
  ErrorStats,
  CalibrationReport,
  ConversionReport,
  DeviceReport,
  EngineReport,
  ModelReport,
  OutputSummary,
  PartitionGraph,
  ProfileReport,
  SegmentValue,
  Report,
  RunReport,
  ValueSummary
} from './types';

/** The report as lines of plain text (no trailing newline). */
export function reportText(report: Report): string {
  return textLines(report).join('\n');
}

function textLines(report: Report): string[] {
  switch (report.kind) {
    case 'device':
      return deviceLines(report);
    case 'model':
      return modelLines(report);
    case 'engine':
      return engineLines(report);
    case 'conversion':
      return conversionLines(report);
    case 'calibration':
      return calibrationLines(report);
    case 'accuracy':
      return accuracyLines(report);
    case 'run':
      return runLines(report);
    case 'profile':
      return profileLines(report);
    case 'bench':
      return benchLines(report);
  }
}

/** Limits measured in bytes, shown with their size in KiB / MiB / GiB as well. */
const BYTE_LIMIT = /(BufferBindingSize|BufferSize|StorageSize|Alignment)$/;

function deviceLines(report: DeviceReport): string[] {
  const id = report.device ? `, device ${report.device}` : '';
  return [
    field('adapter', `${describeAdapter(report)}${id}`),
    'capabilities',
    ...columns(
      report.capabilities.map(({ feature, meaning, present }) => [
        feature,
        present ? 'yes' : 'no',
        meaning
      ])
    ),
    field('features', report.features.join(', ') || 'none'),
    'limits',
    ...columns(
      Object.entries(report.limits).map(([name, value]) => [
        name,
        formatCount(value),
        BYTE_LIMIT.test(name) && value >= 1024 ? `(${formatBytes(value)})` : ''
      ])
    )
  ];
}

function modelLines(report: ModelReport): string[] {
  const opsets = Object.entries(report.opsets)
    .map(([domain, version]) => `${domain || 'ai.onnx'} ${version}`)
    .join(', ');
  const { elements, bytes, tensors } = report.parameters;
  const unsupported = report.ops.filter(entry => entry.support === 'unsupported').length;
  const countWidth = Math.max(0, ...report.ops.map(entry => formatCount(entry.count).length));
  return [
    field(
      'model',
      `${report.path} (${formatBytes(report.bytes)}), imported in ${formatMs(report.importMs)}`
    ),
    field('producer', report.producer || 'unknown'),
    field('graph', report.graphName || '(unnamed)'),
    field('opsets', opsets || 'none'),
    field('nodes', `${formatCount(report.nodes)} (Constant nodes folded into initializers)`),
    field(
      'parameters',
      `${formatCount(elements)} in ${formatCount(tensors)} initializers, ${formatBytes(bytes)}`
    ),
    ...valueLines('inputs', report.inputs),
    ...valueLines('outputs', report.outputs),
    `ops (${counted(report.ops.length, 'type')}${unsupported ? `, ${unsupported} not supported` : ''})`,
    ...columns(
      report.ops.map(entry => [
        entry.op,
        formatCount(entry.count).padStart(countWidth),
        OP_SUPPORT[entry.support]
      ])
    ),
    ...partitionLines(report.partitions)
  ];
}

const OP_SUPPORT: Record<ModelReport['ops'][number]['support'], string> = {
  webgpu: '',
  cpu: 'CPU only',
  unsupported: 'not supported'
};

/** "inputs (2)" and a row per value: name, dtype, shape. */
function valueLines(title: string, values: readonly ValueSummary[]): string[] {
  return [
    `${title} (${values.length})`,
    ...columns(values.map(value => [value.name, value.dtype, shapeText(value.shape)]))
  ];
}

function shapeText(shape: ValueSummary['shape']): string {
  return shape ? `[${shape.join(', ')}]` : '?';
}

/** "partitions 1 engine (33 nodes)", then a row per segment with its reason to fall back. */
function partitionLines(partitions: PartitionGraph): string[] {
  const { segments } = partitions;
  const summary = (['engine', 'fallback'] as const)
    .map(kind => {
      const ofKind = segments.filter(segment => segment.kind === kind);
      const nodes = ofKind.reduce((sum, segment) => sum + segment.nodes, 0);
      return ofKind.length ? `${counted(ofKind.length, kind)} (${counted(nodes, 'node')})` : '';
    })
    .filter(part => part)
    .join(', ');
  return [
    field('partitions', summary || 'none: the graph has no nodes'),
    ...columns(
      segments.map(segment => [segment.id, counted(segment.nodes, 'node'), segment.reason ?? ''])
    )
  ];
}

/**
 * The build summary and the engine inspector: the adapter, build time and precision, the
 * shapes it runs at, what each pass changed, the layers, the memory plan, the weights and the
 * partitions.
 */
function engineLines(report: EngineReport): string[] {
  const { layers, memory, weights, onnxNodes, plan } = report;
  const dispatches = layers.reduce((sum, layer) => sum + layer.dispatches, 0);
  const fromNodes = onnxNodes === undefined ? '' : ` from ${counted(onnxNodes, 'ONNX node')}`;
  return [
    field('source', report.source),
    field('device', report.device),
    field(
      'build',
      `${formatMs(report.buildTimeMs)}, precision ${report.precision} (${layerPrecisionCounts(layers)})`
    ),
    ...valueLines('inputs', report.inputs),
    ...valueLines('outputs', report.outputs),
    'passes',
    ...columns(report.passes.map(({ pass, changes }) => [pass, counted(changes.length, 'change')])),
    field(
      'layers',
      `${counted(layers.length, 'layer')}${fromNodes}, ${counted(dispatches, 'dispatch', 'dispatches')} per run`
    ),
    ...columns(
      layers.map(layer => {
        const unfused = layer.fusedNodes.length === 1 && layer.fusedNodes[0] === layer.name;
        return [
          layer.name,
          layer.opType,
          layer.precision,
          layer.tactic ?? '',
          unfused ? '' : `fused ${layer.fusedNodes.join(' + ')}`
        ];
      })
    ),
    field(
      'memory',
      `arenas ${formatBytes(memory.arenaBytes)} (${memory.arenas.length}), ` +
        `sum of tensors ${formatBytes(memory.sumBytes)}, peak live ${formatBytes(memory.peakLiveBytes)}`
    ),
    field('weights', `${formatBytes(weights.bytes)} in ${counted(weights.tensors, 'tensor')}`),
    ...partitionLines(report.partitions),
    ...(plan ? [field('plan', `${plan.path}: ${formatBytes(plan.bytes)}`)] : [])
  ];
}

/** How many layers run in each precision: '12 int8, 3 fp16, 1 fp32 layers'. */
function layerPrecisionCounts(layers: readonly LayerInfo[]): string {
  const counts = (['int8', 'fp16', 'fp32'] as const).flatMap(precision => {
    const count = layers.filter(layer => layer.precision === precision).length;
    return count > 0 ? [`${count} ${precision}`] : [];
  });
  return `${counts.join(', ') || 'no'} layer${layers.length === 1 ? '' : 's'}`;
}

/**
 * TF-TRT's converter.summary(): a row per engine with its nodes, inputs and outputs (dtypes
 * and shapes) and the op types inside, the number of engines, the share of nodes converted
 * and the op types left out with why; then each engine's cache.
 */
function conversionLines(report: ConversionReport): string[] {
  const { engines, converted, unconverted } = report;
  const percent = converted.total ? (100 * converted.nodes) / converted.total : 100;
  const dtypes = (values: readonly SegmentValue[]) =>
    [...new Set(values.map(value => value.dtype ?? '?'))].join(', ');
  const [header, ...rows] = columns(
    [
      ['engine', '# nodes', '# inputs', '# outputs', 'input dtypes', 'output dtypes'],
      ...engines.map(engine => [
        engine.segment,
        String(engine.nodes),
        String(engine.inputs.length),
        String(engine.outputs.length),
        dtypes(engine.inputs),
        dtypes(engine.outputs)
      ])
    ],
    ''
  );
  const rule = '='.repeat(header.length);
  const borderRows = (values: readonly SegmentValue[], title: string) =>
    values.map((value, i) => [
      i === 0 ? title : '',
      value.name,
      value.dtype ?? '?',
      shapeText(value.shape)
    ]);
  const shapesText = (shapes: Record<string, number[]>) =>
    Object.entries(shapes)
      .map(([name, shape]) => `${name} ${shapeText(shape)}`)
      .join(', ');
  const cacheLines = engines.flatMap(({ segment, cache }) =>
    cache
      ? [
          `  ${segment}: ${counted(cache.entries.length, 'engine')} of ${cache.capacity}, ` +
            `${counted(cache.hits, 'hit')}, ${counted(cache.misses, 'miss', 'misses')}, ` +
            `${counted(cache.evictions, 'eviction')}, built in ${formatMs(cache.buildTimeMs)}`,
          ...columns(
            cache.entries.map(entry => [
              shapesText(entry.shapes),
              counted(entry.hits, 'hit'),
              `built in ${formatMs(entry.buildTimeMs)}`
            ]),
            '    '
          ),
          ...cache.failures.map(
            ({ shapes, reason }) =>
              `    ${shapesText(shapes)}: runs on the CPU, no engine builds: ${reason}`
          )
        ]
      : []
  );
  return [
    field('source', report.source),
    ...(report.device ? [field('device', report.device)] : []),
    field(
      'params',
      `precision ${report.precision}, minimum_segment_size ${report.minimumSegmentSize}, ` +
        `maximum_cached_engines ${report.maximumCachedEngines}` +
        (report.denyOps.length ? `, denyOps ${report.denyOps.join(',')}` : '')
    ),
    header,
    rule,
    ...engines.flatMap((engine, i) => [
      rows[i],
      ...columns(
        [...borderRows(engine.inputs, 'inputs'), ...borderRows(engine.outputs, 'outputs')],
        '    '
      ),
      ...engine.ops.map(({ op, count }) => `    - ${op}: ${count}x`)
    ]),
    rule,
    `[*] Total number of engines: ${engines.length}`,
    `[*] % of ops converted: ${percent.toFixed(2)}% [${converted.nodes}/${converted.total}]`,
    ...(unconverted.length
      ? [
          '[*] Ops not converted, with why:',
          ...unconverted.map(
            ({ op, count, reasons }) => `    - ${op}: ${count}x (${reasons.join('; ')})`
          )
        ]
      : []),
    ...(cacheLines.length ? ['engine caches', ...cacheLines] : []),
    ...(report.plan
      ? [field('plan', `${report.plan.path}: ${formatBytes(report.plan.bytes)}`)]
      : [])
  ];
}

/**
 * The calibrator and the data, then a row per tensor: its range over the data, the amax the
 * calibrator chose (with how much of the range it keeps) and the INT8 scale.
 */
function calibrationLines(report: CalibrationReport): string[] {
  const clipped = report.tensors.filter(t => t.amax < Math.max(-t.min, t.max)).length;
  return [
    field('source', report.source),
    field('device', report.device),
    field('calibrator', `${report.calibrator} over ${counted(report.batches, 'batch', 'batches')}`),
    field(
      'tensors',
      `${counted(report.tensors.length, 'tensor')}, ${formatCount(clipped)} clipped below their largest value`
    ),
    ...columns([
      ['tensor', 'min', 'max', 'amax', 'kept', 'scale'],
      ...report.tensors.map(t => {
        const largest = Math.max(-t.min, t.max);
        return [
          t.name,
          formatValue(t.min),
          formatValue(t.max),
          formatValue(t.amax),
          largest > 0 ? `${Math.min(100, (100 * t.amax) / largest).toFixed(1)}%` : '',
          formatValue(t.scale)
        ];
      })
    ]),
    ...(report.cache
      ? [field('cache', `${report.cache.path}: ${formatBytes(report.cache.bytes)}`)]
      : [])
  ];
}

function runLines(report: RunReport): string[] {
  return [
    field('source', report.source),
    field('device', report.device),
    `inputs (${report.inputs.length})`,
    ...columns(
      report.inputs.map(input => [input.name, input.dtype, shapeText(input.shape), input.from])
    ),
    field('latency', latencyText(report.latency)),
    `outputs (${report.outputs.length})`,
    ...outputSummaryLines(report.outputs)
  ];
}

/** "median 1.20 ms of 10 runs (min 1.10 ms, p90 1.30 ms, max 1.50 ms)". */
function latencyText(latency: LatencySummary): string {
  const { count, median, min, p90, max } = latency;
  const spread =
    count > 1 ? ` (min ${formatMs(min)}, p90 ${formatMs(p90)}, max ${formatMs(max)})` : '';
  return `median ${formatMs(median)} of ${counted(count, 'run')}${spread}`;
}

/**
 * A row per output: name, dtype, shape, statistics, first values and the file it was written
 * to; under a classifier-like output, its top scores ("top 5: #3 0.91, #7 0.05, ...").
 */
export function outputSummaryLines(outputs: readonly OutputSummary[]): string[] {
  const rows = columns(
    outputs.map(output => [
      output.name,
      output.dtype,
      shapeText(output.shape),
      statsText(output.stats),
      headText(output),
      output.file === undefined ? '' : `-> ${output.file}`
    ])
  );
  return rows.flatMap((row, i) => {
    const { topK } = outputs[i];
    if (!topK?.length) {
      return [row];
    }
    const scores = topK.map(({ index, score }) => `#${index} ${formatValue(score)}`);
    return [row, `    top ${topK.length}: ${scores.join(', ')}`];
  });
}

function statsText(stats: OutputSummary['stats']): string {
  const parts = [
    `min ${formatValue(stats.min)}`,
    `max ${formatValue(stats.max)}`,
    `mean ${formatValue(stats.mean)}`,
    `std ${formatValue(stats.std)}`
  ];
  if (stats.nonFinite) {
    parts.push(`${formatCount(stats.nonFinite)} non-finite`);
  }
  return parts.join('  ');
}

/** The first values: "[0.1, 0.2, 0.3, ...]", the dots when there are more. */
function headText(output: OutputSummary): string {
  const size = output.shape.reduce((product, dim) => product * dim, 1);
  const more = size > output.head.length ? ', ...' : '';
  return `[${output.head.map(formatValue).join(', ')}${more}]`;
}

/** trtexec's --dumpProfile table, under what was profiled and how it was timed. */
function profileLines(report: ProfileReport): string[] {
  const trace = report.trace ? [field('trace', report.trace)] : [];
  if (report.iterations === 0 || report.layers.length === 0) {
    return [field('profile', `${report.source}: no layer was timed`), ...trace];
  }
  return [
    field(
      'profile',
      `${report.source}: ${counted(report.layers.length, 'layer')}, ` +
        counted(report.iterations, 'iteration')
    ),
    field('device', report.device),
    profileTable(report.layers).trimEnd(),
    `Layer times: ${PROFILE_CLOCKS[report.clock]}`,
    ...trace
  ];
}

/**
 * The tutorials' table: a row per mode and batch with its build time, first run, median and
 * p90 latency, throughput and speed-up over native at the same batch; then what was skipped.
 */
function benchLines(report: BenchReport): string[] {
  const nativeMedian = new Map(
    report.rows.filter(row => row.mode === 'native').map(row => [row.batch, row.latency.median])
  );
  const header = [
    'mode',
    'batch',
    'build',
    'first run',
    'median',
    'p90',
    'throughput',
    'vs native'
  ];
  const rows = report.rows.map(row => {
    const native = nativeMedian.get(row.batch);
    return [
      row.mode,
      String(row.batch),
      row.buildMs === undefined ? '-' : formatMs(row.buildMs),
      formatMs(row.firstRunMs),
      formatMs(row.latency.median),
      formatMs(row.latency.p90),
      `${formatValue(Number(row.throughput.toPrecision(4)))}/s`,
      native === undefined ? '' : `${(native / row.latency.median).toFixed(2)}x`
    ];
  });
  const skipped = report.skipped.map(({ mode, batch, reason }) => [
    mode,
    batch === undefined ? reason : `batch ${batch}: ${reason}`
  ]);
  return [
    field(
      'bench',
      `${report.source}, ${counted(report.iterations, 'timed run')} per mode and batch`
    ),
    field('device', report.device),
    ...(rows.length ? columns([header, ...rows]) : ['  nothing was measured']),
    ...(skipped.length ? ['skipped', ...columns(skipped)] : [])
  ];
}

/**
 * Polygraphy's comparison: what was compared on which inputs, a row per output with its
 * errors and PASSED / FAILED against the tolerances, the tolerances each would pass at and
 * the top-1 / top-5 agreement of classifier outputs; then the layers, worst first.
 */
function accuracyLines(report: AccuracyReport): string[] {
  const { atol, rtol } = report.tolerances;
  const relative = (value: number | null) => (value === null ? 'inf' : formatValue(value));
  const errorCells = (error: ErrorStats) => [
    formatValue(error.maxAbsolute),
    formatValue(error.meanAbsolute),
    relative(error.maxRelative),
    relative(error.meanRelative)
  ];
  const failed = report.outputs.filter(output => output.error.mismatches > 0);
  const outputRows = columns([
    ['output', 'shape', 'max abs', 'mean abs', 'max rel', 'mean rel', 'mismatches', ''],
    ...report.outputs.map(({ name, shape, error }) => [
      name,
      shapeText(shape),
      ...errorCells(error),
      `${formatCount(error.mismatches)} of ${formatCount(error.elements)}`,
      error.mismatches > 0 ? 'FAILED' : 'PASSED'
    ])
  ]);
  return [
    field('source', report.source),
    field('device', report.device),
    field('compare', `${report.candidate} against ${report.reference}`),
    field('inputs', `${counted(report.iterations, 'iteration')} of ${report.inputs}`),
    field(
      'tolerance',
      `atol ${formatValue(atol)}, rtol ${formatValue(rtol)}: |a - b| <= atol + rtol * |b|, b the reference`
    ),
    `outputs (${report.outputs.length})`,
    outputRows[0],
    ...report.outputs.flatMap(({ error, agreement }, i) => [
      outputRows[i + 1],
      error.nonFinite > 0
        ? `    ${counted(error.nonFinite, 'element')} NaN, or infinite on one side only: no tolerance passes`
        : `    passes at atol ${formatValue(error.maxAbsolute)} (rtol 0) or rtol ${relative(error.maxRelative)} (atol 0)`,
      ...(agreement
        ? [
            `    top-1 agreement ${percentText(agreement.top1)}, top-5 ${percentText(agreement.top5)} of ${counted(agreement.rows, 'row')}`
          ]
        : [])
    ]),
    ...(report.layers.length
      ? [
          `layers (${counted(report.layers.length, 'tensor')} both compute, worst first by relative L2 error; added: an INT8 layer's own, from the reference's inputs)`,
          ...columns([
            [
              'layer',
              'op',
              'precision',
              'tensor',
              'rel L2',
              'added',
              'max abs',
              'mean abs',
              'max rel',
              'mean rel'
            ],
            ...report.layers.map(row => [
              row.layer,
              row.opType,
              row.precision,
              row.tensor,
              relative(row.error.relativeL2),
              row.addedError ? relative(row.addedError.relativeL2) : '',
              ...errorCells(row.error)
            ])
          ])
        ]
      : []),
    field(
      'result',
      failed.length
        ? `FAILED: ${failed.map(output => `'${output.name}'`).join(', ')} outside the tolerance`
        : 'PASSED: every output within the tolerance'
    )
  ];
}

function percentText(share: number): string {
  return `${(100 * share).toFixed(1)}%`;
}
