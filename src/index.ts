import { JupyterFrontEndPlugin } from '@jupyterlab/application';

import { executorPlugin, inspectorPlugin, sessionPlugin } from './lab/plugin';

/**
 * The plugins of the jupyterlab-webtrt extension.
 */
const plugins: JupyterFrontEndPlugin<unknown>[] = [sessionPlugin, executorPlugin, inspectorPlugin];

export default plugins;
