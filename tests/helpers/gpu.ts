import assert from 'node:assert/strict';
import { create } from 'webgpu';
import { requestNodeDevice } from '../../src/cli/gpu';

let device: Promise<GPUDevice> | undefined;

/** One Dawn device per test process, destroyed when the process has nothing left to do. */
export function testDevice(): Promise<GPUDevice> {
  if (!device) {
    device = requestNodeDevice();
    const held = device;
    process.once('beforeExit', () => held.then(d => d.destroy()));
  }
  return device;
}

/** A Dawn instance of its own, for a device made without optional features; kept alive. */
let plainGpu: GPU | undefined;

/**
 * A device without 'timestamp-query', as a browser gives one when the adapter lacks it.
 * The caller destroys it.
 */
export async function deviceWithoutTimestamps(): Promise<GPUDevice> {
  await testDevice(); // loads Dawn and installs its WebGPU globals
  plainGpu ??= create([]);
  const adapter = await plainGpu.requestAdapter();
  assert.ok(adapter);
  const plain = await adapter.requestDevice();
  assert.ok(!plain.features.has('timestamp-query'));
  return plain;
}

/**
 * Builder settings for tests that are not about tuning: on SwiftShader every candidate
 * tactic's shader is compiled and run on the CPU, which turns a model's build into minutes.
 */
export const UNTUNED = { optimizationLevel: 0 } as const;
