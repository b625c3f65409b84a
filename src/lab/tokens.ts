import { Token } from '@lumino/coreutils';

import type { WebtrtSession } from './session';

/** The WebGPU device, engines and settings of this browser tab, shared by every notebook. */
export const IWebtrtSession = new Token<WebtrtSession>(
  'jupyterlab-webtrt:session',
  'The WebGPU device, the engines built in this browser tab and the settings of webtrt.'
);
