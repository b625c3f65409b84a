import { ISettingRegistry } from '@jupyterlab/settingregistry';

import type { Precision } from '../engine';

/**
 * The user settings of the extension, as declared in schema/plugin.json.
 */
export interface IWebtrtSettings {
  readonly precision: Precision;
  readonly workspaceMiB: number;
  readonly minimumSegmentSize: number;
  readonly maximumCachedEngines: number;
  readonly powerPreference: GPUPowerPreference;
}

/**
 * Reads the settings of the extension from the registry.
 */
export function readSettings(settings: ISettingRegistry.ISettings): IWebtrtSettings {
  // The registry validates the composite against schema/plugin.json and fills in its
  // defaults, so every field is present and of the declared type.
  return settings.composite as unknown as IWebtrtSettings;
}
