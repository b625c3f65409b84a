import { rememberSubgroupMatrixConfigs } from '../kernels/int8-gemm';

/**
 * The features an engine can use, when the adapter has them: half precision, subgroup
 * reductions, GPU timestamps for per-layer profiles, and subgroup matrices (tensor cores).
 */
export const ENGINE_FEATURES = [
  'shader-f16',
  'subgroups',
  'timestamp-query',
  'chromium-experimental-subgroup-matrix'
] as const;

export type EngineFeature = (typeof ENGINE_FEATURES)[number];

/** The limits kernels are sized against: a device gets the adapter's best, not WebGPU's defaults. */
const ENGINE_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxStorageBuffersPerShaderStage'
] as const;

/**
 * A device for engines from `adapter`, in a browser or in Node: every feature of
 * ENGINE_FEATURES the adapter offers and the adapter's own limits, where a default device
 * would get WebGPU's minimums (128 MiB bindings, 16 KiB workgroup storage).
 */
export async function requestEngineDevice(
  adapter: GPUAdapter,
  label = 'webtrt'
): Promise<GPUDevice> {
  const requiredFeatures = ENGINE_FEATURES.filter(feature =>
    adapter.features.has(feature)
  ) as GPUFeatureName[];
  const requiredLimits: Record<string, number> = {};
  for (const name of ENGINE_LIMITS) {
    requiredLimits[name] = adapter.limits[name];
  }
  const device = await adapter.requestDevice({ label, requiredFeatures, requiredLimits });
  rememberSubgroupMatrixConfigs(device, adapter);
  return device;
}
