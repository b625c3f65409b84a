/**
 * Notebook outputs of the %trt commands: every report goes out in three forms, so that a
 * saved notebook reopened shows the live views again (the webtrt MIME type, the report
 * itself), reads well as text, and shows tables and pictures in any other frontend.
 */
import { type Report, reportMimeType, reportText } from '../engine';
import type { IMimeBundle } from './magics/context';
import { reportPicture } from './views';

/** The MIME type of a progress update (transient: replaced by the command's outputs). */
export const PROGRESS_MIME_TYPE = 'application/vnd.webtrt.progress+json';

export function reportBundle(report: Report): IMimeBundle {
  return {
    [reportMimeType(report.kind)]: report,
    'text/plain': reportText(report),
    ...reportPicture(report)
  };
}
