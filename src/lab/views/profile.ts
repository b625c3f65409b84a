/** `%trt profile`: the per-layer timeline and trtexec's --dumpProfile table. */
import { PROFILE_CLOCKS, type ProfileReport } from '../../engine';
import { counted } from './format';
import { code, facts, section, viewFrame } from './html';
import { h, IMarkup } from './markup';
import { profileTable, timelinePicture } from './timeline';

export function profileView(report: ProfileReport): IMarkup {
  return viewFrame(
    'profile',
    h(
      'div',
      { class: 'jp-webtrt-headline' },
      code(report.source),
      ` on ${report.device}: ${counted(report.layers.length, 'layer')}, ${counted(report.iterations, 'iteration')}`
    ),
    facts([
      ['clock', PROFILE_CLOCKS[report.clock]],
      ['trace', report.trace ? code(report.trace) : 'not saved']
    ]),
    section(
      'timeline-section',
      'Timeline',
      h('div', { class: 'jp-webtrt-timeline-frame' }, timelinePicture(report))
    ),
    section('layer-times', 'Layers by median time', profileTable(report))
  );
}
