/**
 * The build summary (`%trt convert`, `%trt inspect model.wtrt`): TensorRT's build log and
 * engine inspector in one view: the passes and what they changed, the layers, the
 * partitions and the memory plan.
 */
import type { EngineReport, LayerInfo } from '../../engine';
import { counted, formatBytes, formatMs, formatShape, truncate } from './format';
import { partitionsSection } from './graph';
import { code, facts, section, table, viewFrame } from './html';
import { h, IMarkup } from './markup';
import { memoryPlanPicture, memoryTotals } from './memory';
import { valuesTable } from './model';

export function engineView(report: EngineReport): IMarkup {
  return viewFrame(
    'engine',
    h('div', { class: 'jp-webtrt-headline' }, engineHeadline(report)),
    facts([
      [
        'plan',
        report.plan ? [code(report.plan.path), ` (${formatBytes(report.plan.bytes)})`] : 'not saved'
      ],
      [
        'weights',
        `${formatBytes(report.weights.bytes)} in ${counted(report.weights.tensors, 'tensor')}`
      ],
      ['activations', formatBytes(report.memory.arenaBytes)]
    ]),
    section('io', 'Inputs and outputs', valuesTable(report.inputs, report.outputs)),
    section('passes', 'Builder passes', passesTable(report)),
    section('layers', 'Layers', layersTable(report.layers)),
    partitionsSection(report.partitions),
    section(
      'memory',
      'Memory plan',
      memoryTotals(report.memory),
      h(
        'div',
        { class: 'jp-webtrt-memory-frame' },
        memoryPlanPicture(
          report.memory,
          report.layers.map(layer => layer.name)
        )
      )
    )
  );
}

/** "small_cnn.onnx on NVIDIA ...: fp16, built in 1.23 s, 12 layers from 33 ONNX nodes". */
function engineHeadline(report: EngineReport): IMarkup[] {
  const layers = counted(report.layers.length, 'layer');
  const from =
    report.onnxNodes === undefined ? '' : ` from ${counted(report.onnxNodes, 'ONNX node')}`;
  return [
    code(report.source),
    h(
      'span',
      {},
      ` on ${report.device}: ${report.precision}, built in ${formatMs(report.buildTimeMs)}, ${layers}${from}`
    )
  ];
}

function passesTable(report: EngineReport): IMarkup {
  return table(
    'passes-table',
    [{ label: 'pass', code: true }, { label: 'changes', numeric: true }, { label: 'what changed' }],
    report.passes.map(pass => [
      pass.pass,
      String(pass.changes.length),
      pass.changes.length > 0 &&
        h(
          'details',
          { class: 'jp-webtrt-changes' },
          h(
            'summary',
            {},
            truncate(pass.changes[0], 96) +
              (pass.changes.length > 1 ? ` (+${pass.changes.length - 1} more)` : '')
          ),
          h(
            'ul',
            {},
            pass.changes.map(change => h('li', {}, change))
          )
        )
    ]),
    i => ({ 'data-pass': report.passes[i].pass, 'data-changes': report.passes[i].changes.length })
  );
}

function layersTable(layers: readonly LayerInfo[]): IMarkup {
  return table(
    'layers-table',
    [
      { label: '#', numeric: true },
      { label: 'layer', code: true },
      { label: 'op' },
      { label: 'fused ONNX nodes', code: true },
      { label: 'precision' },
      { label: 'tactic', code: true },
      { label: 'dispatches', numeric: true },
      { label: 'output shape', code: true }
    ],
    layers.map((layer, i) => [
      String(i),
      layer.name,
      layer.opType,
      fusedNodes(layer.fusedNodes),
      layer.precision,
      layer.tactic ?? '',
      String(layer.dispatches),
      layer.outputs.map(output => formatShape(output.shape)).join(' ')
    ]),
    i => ({
      'data-layer': layers[i].name,
      'data-fused': layers[i].fusedNodes.length,
      'data-precision': layers[i].precision
    })
  );
}

/** A few fused nodes in full; more collapse behind their count. */
function fusedNodes(nodes: readonly string[]): IMarkup | string {
  if (nodes.length <= 3) {
    return nodes.join(', ');
  }
  return h('details', {}, h('summary', {}, `${nodes.length} nodes`), nodes.join(', '));
}
