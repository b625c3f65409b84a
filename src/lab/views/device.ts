/**
 * `%trt info`: the adapter, what it can do for an engine (the tutorials' "Tensor Core
 * present?" check) and the limits kernels are sized against.
 */
import type { DeviceReport } from '../../engine';
import { formatBytes, formatCount } from './format';
import { code, section, table, viewFrame } from './html';
import { h, IMarkup } from './markup';

export function deviceView(report: DeviceReport): IMarkup {
  const identity = [report.vendor, report.architecture, report.device].filter(Boolean).join(' ');
  return viewFrame(
    'device',
    h(
      'div',
      { class: 'jp-webtrt-headline' },
      h('span', { class: 'jp-webtrt-adapter' }, identity || 'unnamed adapter'),
      report.description && h('span', { class: 'jp-webtrt-muted' }, ` — ${report.description}`)
    ),
    section('capabilities', 'Capabilities', capabilityList(report)),
    section('limits', 'Limits', limitsTable(report.limits)),
    h(
      'details',
      { class: 'jp-webtrt-features' },
      h('summary', {}, `All ${report.features.length} device features`),
      h('div', { class: 'jp-webtrt-code' }, report.features.join(', ') || 'none')
    )
  );
}

function capabilityList(report: DeviceReport): IMarkup {
  const present = report.capabilities.filter(c => c.present).length;
  return h(
    'ul',
    {
      class: 'jp-webtrt-capabilities',
      'data-present': present,
      'data-absent': report.capabilities.length - present
    },
    report.capabilities.map(capability =>
      h(
        'li',
        {
          class: 'jp-webtrt-capability',
          'data-feature': capability.feature,
          'data-present': String(capability.present)
        },
        h(
          'span',
          { class: 'jp-webtrt-check', 'aria-label': capability.present ? 'present' : 'absent' },
          capability.present ? '✓' : '✗'
        ),
        ' ',
        code(capability.feature),
        ' ',
        h('span', { class: 'jp-webtrt-muted' }, capability.meaning)
      )
    )
  );
}

/** WebGPU names its byte-sized limits "...Size": those read better in KiB / MiB / GiB. */
function formatLimit(name: string, value: number): string {
  return /Size$/.test(name) && value >= 1024 ? formatBytes(value) : formatCount(value);
}

/** Two limits a row, so that some thirty of them take little room. */
function limitsTable(limits: Record<string, number>): IMarkup {
  const entries = Object.entries(limits).sort(([a], [b]) => a.localeCompare(b));
  const half = Math.ceil(entries.length / 2);
  const rows = entries.slice(0, half).map((left, i) => {
    const right = entries[half + i];
    return [
      code(left[0]),
      formatLimit(...left),
      right ? code(right[0]) : '',
      right ? formatLimit(...right) : ''
    ];
  });
  return table(
    'limits-table',
    [
      { label: 'limit' },
      { label: 'value', numeric: true },
      { label: 'limit' },
      { label: 'value', numeric: true }
    ],
    rows
  );
}
