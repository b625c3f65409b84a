/**
 * The views of webtrt's reports, drawn once as markup (markup.ts): the live renderers turn it
 * into DOM (dom.ts), the saved notebook keeps it as `text/html` and, for the reports whose
 * main part is a picture, as `image/svg+xml` for frontends that show no HTML.
 */
import type { Report } from '../../engine';
import { accuracyView } from './accuracy';
import { benchView } from './bench';
import { calibrationView } from './calibration';
import { conversionView } from './conversion';
import { deviceView } from './device';
import { engineView } from './engine';
import { findElement, IMarkup, markupToString } from './markup';
import { modelView } from './model';
import { profileView } from './profile';
import { runView } from './run';

export function reportView(report: Report): IMarkup {
  switch (report.kind) {
    case 'device':
      return deviceView(report);
    case 'model':
      return modelView(report);
    case 'engine':
      return engineView(report);
    case 'conversion':
      return conversionView(report);
    case 'calibration':
      return calibrationView(report);
    case 'accuracy':
      return accuracyView(report);
    case 'run':
      return runView(report);
    case 'profile':
      return profileView(report);
    case 'bench':
      return benchView(report);
  }
}

/** The picture that stands for a whole report where HTML is not shown. */
const MAIN_PICTURE: Partial<Record<Report['kind'], string>> = {
  model: 'jp-webtrt-graph',
  engine: 'jp-webtrt-graph',
  conversion: 'jp-webtrt-graph',
  profile: 'jp-webtrt-timeline',
  bench: 'jp-webtrt-bench-chart',
  accuracy: 'jp-webtrt-accuracy-chart'
};

export interface IReportPictures {
  'text/html': string;
  'image/svg+xml'?: string;
}

/** A report's static forms for the saved notebook and frontends without webtrt's renderers. */
export function reportPicture(report: Report): IReportPictures {
  const view = reportView(report);
  const pictureClass = MAIN_PICTURE[report.kind];
  const picture =
    pictureClass &&
    findElement(
      view,
      element =>
        element.tag === 'svg' && String(element.attrs.class).split(' ').includes(pictureClass)
    );
  return {
    'text/html': markupToString(view),
    ...(picture ? { 'image/svg+xml': markupToString(picture) } : {})
  };
}

export { progressView } from './progress';
export type { IMarkup } from './markup';
