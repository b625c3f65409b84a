/** `%trt inspect model.onnx`: an imported model before any build. */
import type { ModelReport, ValueSummary } from '../../engine';
import { counted, formatBytes, formatCount, formatMs, formatShape } from './format';
import { partitionsSection } from './graph';
import { badge, code, facts, section, table, viewFrame } from './html';
import { h, IMarkup } from './markup';

export function modelView(report: ModelReport): IMarkup {
  const opsets = Object.entries(report.opsets)
    .map(([domain, version]) => `${domain || 'ai.onnx'} ${version}`)
    .join(', ');
  return viewFrame(
    'model',
    h(
      'div',
      { class: 'jp-webtrt-headline' },
      code(report.path),
      ` (${formatBytes(report.bytes)}): ${counted(report.nodes, 'ONNX node')}, imported in ${formatMs(report.importMs)}`
    ),
    facts([
      ['producer', report.producer || 'unknown'],
      ['graph', report.graphName || '(unnamed)'],
      ['opsets', opsets || 'none'],
      [
        'parameters',
        `${formatCount(report.parameters.elements)} in ${counted(report.parameters.tensors, 'tensor')} (${formatBytes(report.parameters.bytes)})`
      ]
    ]),
    section('io', 'Inputs and outputs', valuesTable(report.inputs, report.outputs)),
    section('ops', 'Ops', opsTable(report.ops)),
    partitionsSection(report.partitions)
  );
}

/** Inputs then outputs, one row each: the part every model view and engine view shows. */
export function valuesTable(
  inputs: readonly ValueSummary[],
  outputs: readonly ValueSummary[]
): IMarkup {
  const rows = [
    ...inputs.map(value => ({ direction: 'input', value })),
    ...outputs.map(value => ({ direction: 'output', value }))
  ];
  return table(
    'values',
    [
      { label: '' },
      { label: 'name', code: true },
      { label: 'type' },
      { label: 'shape', code: true }
    ],
    rows.map(({ direction, value }) => [
      direction,
      value.name,
      value.dtype,
      formatShape(value.shape)
    ]),
    i => ({ 'data-direction': rows[i].direction, 'data-name': rows[i].value.name })
  );
}

const SUPPORT: Record<ModelReport['ops'][number]['support'], IMarkup> = {
  webgpu: badge('ok', 'WebGPU'),
  cpu: badge('warn', 'CPU only'),
  unsupported: badge('error', 'not supported')
};

/** The op histogram: a bar per op type, its count and where webtrt can run it. */
function opsTable(ops: ModelReport['ops']): IMarkup {
  const most = Math.max(...ops.map(op => op.count), 1);
  return table(
    'op-histogram',
    [
      { label: 'op', code: true },
      { label: 'count', numeric: true },
      { label: '' },
      { label: 'runs on' }
    ],
    ops.map(op => [
      op.op,
      formatCount(op.count),
      h(
        'div',
        { class: 'jp-webtrt-bar-track' },
        h('div', {
          class: 'jp-webtrt-bar',
          style: `width:${((100 * op.count) / most).toFixed(1)}%`
        })
      ),
      SUPPORT[op.support]
    ]),
    i => ({ 'data-op': ops[i].op, 'data-support': ops[i].support })
  );
}
