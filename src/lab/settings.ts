import { ISettingRegistry } from '@jupyterlab/settingregistry';

/**
 * Precisions the builder may choose from, in trtexec's words: `fp16` also allows half
 * precision, `best` allows every precision (FP32, FP16, INT8) and keeps the fastest.
 */
export type Precision = 'fp32' | 'fp16' | 'best';

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
