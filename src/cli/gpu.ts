import { create, globals } from 'webgpu';

/** Flags for Dawn from WEBGPU_DAWN_FLAGS (comma separated), e.g. to expose f16 on NVIDIA. */
function dawnFlags(): string[] {
  const flags = process.env.WEBGPU_DAWN_FLAGS;
  return flags ? flags.split(/\s*;\s*|\s+/).filter(f => f) : [];
}

/**
 * A GPUDevice from Dawn (the `webgpu` package), or a clear error when no adapter is
 * found. On machines without a GPU, set VK_ICD_FILENAMES to a software Vulkan driver.
 */
export async function requestNodeDevice(): Promise<GPUDevice> {
  Object.assign(globalThis, globals);
  const gpu = create(dawnFlags());
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    throw new Error(
      'no WebGPU adapter found (Dawn needs a Vulkan driver; without a GPU, install ' +
        "Debian's chromium and set VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json)"
    );
  }
  const wanted: GPUFeatureName[] = ['shader-f16', 'subgroups', 'timestamp-query'];
  const requiredFeatures = wanted.filter(f => adapter.features.has(f));
  const limits = adapter.limits;
  return adapter.requestDevice({
    requiredFeatures,
    requiredLimits: {
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
      maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupSizeY: limits.maxComputeWorkgroupSizeY,
      maxStorageBuffersPerShaderStage: limits.maxStorageBuffersPerShaderStage
    }
  });
}
