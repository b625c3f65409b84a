/**
 * INT8 calibration (`%trt calibrate`): the calibrator and its data, then each tensor's range
 * over the data, the magnitude the calibrator kept and the INT8 scale.
 */
import type { CalibrationReport } from '../../engine';
import { formatBytes, formatValue } from './format';
import { badge, code, facts, section, table, viewFrame } from './html';
import { h, IMarkup } from './markup';

export function calibrationView(report: CalibrationReport): IMarkup {
  return viewFrame(
    'calibration',
    h(
      'div',
      { class: 'jp-webtrt-headline' },
      code(report.source),
      ` on ${report.device}: ${report.calibrator}, ${report.tensors.length} tensors`
    ),
    facts([
      ['batches', String(report.batches)],
      [
        'cache',
        report.cache
          ? [code(report.cache.path), ` (${formatBytes(report.cache.bytes)})`]
          : 'not saved'
      ]
    ]),
    section(
      'tensors',
      'Tensors',
      table(
        'calibration-table',
        [
          { label: 'tensor', code: true },
          { label: 'min', numeric: true },
          { label: 'max', numeric: true },
          { label: 'amax', numeric: true },
          { label: 'kept', numeric: true },
          { label: 'scale', numeric: true }
        ],
        report.tensors.map(tensor => {
          const largest = Math.max(-tensor.min, tensor.max);
          const kept = largest > 0 ? Math.min(1, tensor.amax / largest) : 1;
          return [
            tensor.name,
            formatValue(tensor.min),
            formatValue(tensor.max),
            formatValue(tensor.amax),
            kept < 1 ? [badge('warn', 'clipped'), ` ${(100 * kept).toFixed(1)}%`] : '100%',
            formatValue(tensor.scale)
          ];
        }),
        i => ({ 'data-tensor': report.tensors[i].name, 'data-amax': report.tensors[i].amax })
      )
    )
  );
}
