import { ISignal, Signal } from '@lumino/signaling';

import { DeviceReport, deviceReport, ProfileReport, requestEngineDevice } from '../engine';
import { IEngineSession, isConverted, ISessionEngine, ISessionModel } from './magics/context';
import type { IWebtrtSettings } from './settings';

/** Where a session's device comes from: the browser's WebGPU, or Dawn in Node. */
export type DeviceSource = (powerPreference: GPUPowerPreference) => Promise<GPUDevice>;

/** A device for engines from the browser's WebGPU, or an error that says what is missing. */
export async function requestBrowserDevice(
  powerPreference: GPUPowerPreference
): Promise<GPUDevice> {
  if (typeof navigator === 'undefined' || !('gpu' in navigator)) {
    throw new Error(
      'this browser has no WebGPU (navigator.gpu): use a recent Chrome, Edge or Firefox, ' +
        'or Chromium with --enable-unsafe-webgpu'
    );
  }
  const adapter = await navigator.gpu.requestAdapter({ powerPreference });
  if (!adapter) {
    throw new Error('WebGPU is available but offers no adapter (is the GPU blocklisted?)');
  }
  return requestEngineDevice(adapter);
}

/**
 * The GPU device, the engines and the converted models of this browser tab: every
 * notebook's `%trt` cells build on the one device, and the sidebar inspector lists what they
 * built. A lost device (driver reset, another tab taking the GPU) drops the engines with it;
 * the next command asks for a new device.
 */
export class WebtrtSession implements IEngineSession {
  constructor(
    settings: IWebtrtSettings,
    private readonly deviceSource: DeviceSource = requestBrowserDevice
  ) {
    this._settings = settings;
  }

  /** The user's settings, as they are now: commands read them when they start. */
  get settings(): IWebtrtSettings {
    return this._settings;
  }

  set settings(settings: IWebtrtSettings) {
    this._settings = settings;
  }

  /**
   * Emitted when an engine or converted model is added, replaced, profiled or run, and when
   * the device changes.
   */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Engines and converted models, oldest first. */
  get models(): readonly ISessionModel[] {
    return [...this._models.values()];
  }

  get engines(): readonly ISessionEngine[] {
    return this.models.filter((entry): entry is ISessionEngine => !isConverted(entry));
  }

  /** The adapter of the current device; undefined until a command (or the sidebar) asks for it. */
  get deviceReport(): DeviceReport | undefined {
    return this._deviceReport;
  }

  /** Why the last request for a device failed, when it did. */
  get deviceError(): string | undefined {
    return this._deviceError;
  }

  device(): Promise<GPUDevice> {
    if (!this._device) {
      this._device = this.requestDevice();
      this._device.catch(() => {
        this._device = undefined;
      });
    }
    return this._device;
  }

  add(entry: ISessionModel): void {
    const replaced = this._models.get(entry.name);
    if (replaced && heldObject(replaced) !== heldObject(entry)) {
      heldObject(replaced).destroy();
    }
    // Re-inserting moves the entry to the end: the list reads oldest to newest.
    this._models.delete(entry.name);
    this._models.set(entry.name, entry);
    this._changed.emit();
  }

  find(name: string): ISessionModel | undefined {
    return this._models.get(name);
  }

  findEngine(name: string): ISessionEngine | undefined {
    const entry = this._models.get(name);
    return entry && !isConverted(entry) ? entry : undefined;
  }

  setProfile(name: string, profile: ProfileReport): void {
    const entry = this.findEngine(name);
    if (entry) {
      entry.profile = profile;
      this._changed.emit();
    }
  }

  private async requestDevice(): Promise<GPUDevice> {
    this._deviceError = undefined;
    try {
      const device = await this.deviceSource(this._settings.powerPreference);
      this._deviceReport = deviceReport(device);
      device.lost.then(info => this.onDeviceLost(device, info)).catch(() => undefined);
      this._changed.emit();
      return device;
    } catch (error) {
      this._deviceError = (error as Error).message;
      this._changed.emit();
      throw error;
    }
  }

  private async onDeviceLost(device: GPUDevice, info: GPUDeviceLostInfo): Promise<void> {
    if (this._device && (await this._device.catch(() => undefined)) === device) {
      this._device = undefined;
    }
    if (info.reason !== 'destroyed') {
      this._deviceError = `the GPU device was lost (${info.message || info.reason}); its engines are gone, the next command asks for a new device`;
    }
    this.releaseEngines();
  }

  /**
   * Destroys every engine and converted model of the tab, freeing their GPU memory; plans on
   * disk are untouched.
   */
  releaseEngines(): void {
    for (const entry of this._models.values()) {
      heldObject(entry).destroy();
    }
    this._models.clear();
    this._changed.emit();
  }

  private _settings: IWebtrtSettings;
  private _device: Promise<GPUDevice> | undefined;
  private _deviceReport: DeviceReport | undefined;
  private _deviceError: string | undefined;
  private readonly _models = new Map<string, ISessionModel>();
  private readonly _changed = new Signal<this, void>(this);
}

/** What an entry holds on the GPU. */
function heldObject(entry: ISessionModel): { destroy(): void } {
  return isConverted(entry) ? entry.converted : entry.engine;
}
