import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { requestEngineDevice } from './engine';

/** SwiftShader, the CPU Vulkan driver in Debian's chromium package. */
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/**
 * Where the Vulkan loader looks for driver manifests by default, and where NVIDIA's
 * container toolkit mounts them.
 */
function icdDirectories(): string[] {
  const dataDirs = (process.env.XDG_DATA_DIRS || '/usr/local/share:/usr/share').split(':');
  return [
    '/etc/vulkan/icd.d',
    ...dataDirs.map(dir => join(dir, 'vulkan', 'icd.d')),
    '/usr/local/nvidia/share/vulkan/icd.d'
  ];
}

function hasNvidiaDriver(): boolean {
  return icdDirectories().some(dir => {
    try {
      return readdirSync(dir).some(file => /nvidia/i.test(file));
    } catch {
      return false;
    }
  });
}

/**
 * On a machine without an NVIDIA driver, points the Vulkan loader at SwiftShader unless
 * the caller already chose a driver. Without this the loader picks Mesa's lavapipe on
 * Debian, which is too old for Dawn, and no adapter is found. The loader reads these
 * variables when Dawn creates its Vulkan instance (in `create`), so setting them in
 * this process before that is enough.
 */
function defaultToSoftwareVulkan(): void {
  const env = process.env;
  const driverChosen = env.VK_ICD_FILENAMES || env.VK_DRIVER_FILES || env.VK_ADD_DRIVER_FILES;
  if (!driverChosen && existsSync(SWIFTSHADER_ICD) && !hasNvidiaDriver()) {
    env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  }
}

/**
 * Dawn rounds GPU timestamps down to multiples of 2^16 ns (about 65.5 µs on NVIDIA) unless
 * told not to: a browser hides fine timers from pages, but a command-line tool that times
 * 10–100 µs layers (the tuner, --dumpProfile, GPU compute) needs them whole.
 */
const TIMESTAMP_QUANTIZATION = 'timestamp_quantization';

/**
 * Flags for Dawn from WEBGPU_DAWN_FLAGS, separated by spaces or semicolons (a flag's own
 * value may hold commas), e.g. `enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia`;
 * timestamp quantization is disabled unless the flags enable it.
 */
export function dawnFlags(value = process.env.WEBGPU_DAWN_FLAGS ?? ''): string[] {
  const flags = value.split(/\s*;\s*|\s+/).filter(f => f);
  const toggles = (name: string) =>
    flags.filter(f => f.startsWith(`${name}=`)).flatMap(f => f.slice(name.length + 1).split(','));
  if (toggles('enable-dawn-features').includes(TIMESTAMP_QUANTIZATION)) {
    return flags;
  }
  const disabled = [...new Set([...toggles('disable-dawn-features'), TIMESTAMP_QUANTIZATION])];
  return [
    ...flags.filter(f => !f.startsWith('disable-dawn-features=')),
    `disable-dawn-features=${disabled.join(',')}`
  ];
}

let instance: GPU | undefined;
const adapters: GPUAdapter[] = [];

/**
 * Dawn's instance, made on first use. The `webgpu` package loads only then, so that the
 * command line works without it for what needs no GPU (inspect, --backend cpu).
 */
async function dawnInstance(): Promise<GPU> {
  if (!instance) {
    let webgpu: typeof import('webgpu');
    try {
      webgpu = await import('webgpu');
    } catch (error) {
      throw new Error(
        `WebGPU in Node needs the 'webgpu' package (Dawn), which did not load: ${(error as Error).message}`
      );
    }
    defaultToSoftwareVulkan();
    Object.assign(globalThis, webgpu.globals);
    // Dawn tears its instance down when the JavaScript object is collected, taking every
    // device made from it along (crashes inside the driver follow), so the instance and
    // adapters are kept for the life of the process.
    instance = webgpu.create(dawnFlags());
  }
  return instance;
}

/**
 * A GPUDevice from Dawn (the `webgpu` package), or a clear error when no adapter is
 * found. Without an NVIDIA driver it runs on SwiftShader when that is installed.
 */
export async function requestNodeDevice(): Promise<GPUDevice> {
  const gpu = await dawnInstance();
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    throw new Error(
      'no WebGPU adapter found (Dawn needs a Vulkan driver; without a GPU, install ' +
        "Debian's chromium and set VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json)"
    );
  }
  adapters.push(adapter);
  return requestEngineDevice(adapter);
}
