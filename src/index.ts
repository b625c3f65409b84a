import { JupyterFrontEndPlugin } from '@jupyterlab/application';

import { webtrtPlugin } from './lab/plugin';

/**
 * The plugins of the jupyterlab-webtrt extension.
 */
const plugins: JupyterFrontEndPlugin<unknown>[] = [webtrtPlugin];

export default plugins;
