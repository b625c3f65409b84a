import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { readSettings } from './settings';

const PLUGIN_ID = 'jupyterlab-webtrt:plugin';

/**
 * Logs whether this browser offers a WebGPU adapter, the device every engine runs on.
 */
async function logWebGpuAdapter(powerPreference?: GPUPowerPreference): Promise<void> {
  if (!('gpu' in navigator)) {
    console.warn(`${PLUGIN_ID}: WebGPU is not available in this browser`);
    return;
  }
  const adapter = await navigator.gpu.requestAdapter({ powerPreference });
  if (adapter === null) {
    console.warn(`${PLUGIN_ID}: WebGPU is available but offers no adapter`);
    return;
  }
  const { vendor, architecture } = adapter.info;
  const halfPrecision = adapter.features.has('shader-f16') ? 'with' : 'without';
  console.log(
    `${PLUGIN_ID}: WebGPU adapter ${vendor} ${architecture}, ${halfPrecision} shader-f16`
  );
}

async function describeEnvironment(settingRegistry: ISettingRegistry | null): Promise<void> {
  const settings = settingRegistry ? readSettings(await settingRegistry.load(PLUGIN_ID)) : null;
  if (settings) {
    console.log(`${PLUGIN_ID}: settings`, settings);
  }
  await logWebGpuAdapter(settings?.powerPreference);
}

/**
 * The main plugin of the extension.
 */
export const webtrtPlugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: "TensorRT's convert, calibrate and run workflow in JupyterLab, on WebGPU.",
  autoStart: true,
  optional: [ISettingRegistry],
  activate: (app: JupyterFrontEnd, settingRegistry: ISettingRegistry | null): void => {
    console.log(`${PLUGIN_ID} is activated`);
    // Not awaited: JupyterLab's startup need not wait for the GPU adapter.
    describeEnvironment(settingRegistry).catch(reason => {
      console.error(`${PLUGIN_ID}: failed to read the settings or the WebGPU adapter`, reason);
    });
  }
};
