/**
 * The adapter a plan was built on, as TensorRT ties a serialized engine to its GPU: identity,
 * features and the limits kernels are generated against. A plain JSON-able object, kept in the
 * plan's metadata and checked when the plan is loaded.
 */

export interface AdapterFingerprint {
  vendor: string;
  architecture: string;
  device: string;
  /** Shown in messages, never compared: it often carries the driver version, and a driver update keeps the same GPU. */
  description: string;
  /** Sorted. */
  features: string[];
  limits: KernelLimits;
}

/**
 * Which way a limit may move on another device and still run the plan's kernels: maxima may
 * grow, an alignment may shrink, and the range of subgroup sizes may narrow (kernels may size
 * their storage for the smallest subgroup and their loops for the largest).
 */
type Bound = 'at-least' | 'at-most';

const DEVICE_LIMITS = {
  maxComputeWorkgroupStorageSize: 'at-least',
  maxComputeInvocationsPerWorkgroup: 'at-least',
  maxComputeWorkgroupSizeX: 'at-least',
  maxComputeWorkgroupSizeY: 'at-least',
  maxComputeWorkgroupSizeZ: 'at-least',
  maxComputeWorkgroupsPerDimension: 'at-least',
  maxStorageBuffersPerShaderStage: 'at-least',
  maxStorageBufferBindingSize: 'at-least',
  maxBufferSize: 'at-least',
  minStorageBufferOffsetAlignment: 'at-most'
} as const satisfies Partial<Record<keyof GPUSupportedLimits, Bound>>;

/** Reported by adapters with the 'subgroups' feature. */
const SUBGROUP_SIZES = {
  subgroupMinSize: 'at-least',
  subgroupMaxSize: 'at-most'
} as const satisfies Partial<Record<keyof GPUAdapterInfo, Bound>>;

const LIMIT_BOUNDS: Record<KernelLimitName, Bound> = { ...DEVICE_LIMITS, ...SUBGROUP_SIZES };

type KernelLimitName = keyof typeof DEVICE_LIMITS | keyof typeof SUBGROUP_SIZES;
export type KernelLimits = Partial<Record<KernelLimitName, number>>;

const IDENTITY_FIELDS = ['vendor', 'architecture', 'device'] as const;

function keysOf<T extends object>(object: T): (keyof T)[] {
  return Object.keys(object) as (keyof T)[];
}

export function adapterFingerprint(device: GPUDevice): AdapterFingerprint {
  const info = device.adapterInfo;
  const limits: KernelLimits = {};
  for (const name of keysOf(DEVICE_LIMITS)) {
    limits[name] = device.limits[name];
  }
  for (const name of keysOf(SUBGROUP_SIZES)) {
    const size = info[name];
    if (size !== undefined) {
      limits[name] = size;
    }
  }
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    features: Array.from(device.features).sort(),
    limits
  };
}

/**
 * An adapter in one line, "nvidia hopper (NVIDIA H100 80GB HBM3)", from a fingerprint or
 * straight from a device's `adapterInfo`.
 */
export function describeAdapter(
  adapter: Pick<AdapterFingerprint, 'vendor' | 'architecture' | 'description'>
): string {
  const { vendor, architecture, description } = adapter;
  const name = [vendor, architecture].filter(s => s).join(' ') || 'an unknown adapter';
  return description ? `${name} (${description})` : name;
}

/**
 * Null when a plan built on the `planned` adapter runs on the `current` one, otherwise why not,
 * naming the first field that differs: the GPU itself, a feature the plan used that this device
 * lacks (extra features are fine), or a limit this device does not reach.
 */
export function checkFingerprint(
  planned: AdapterFingerprint,
  current: AdapterFingerprint
): string | null {
  const builtFor = `the plan was built for ${describeAdapter(planned)}`;
  const thisDevice = describeAdapter(current);
  const rebuild = 'rebuild the engine on this device';

  for (const field of IDENTITY_FIELDS) {
    if (planned[field] !== current[field]) {
      return `${builtFor}; this device is ${thisDevice}, whose ${field} is '${current[field]}', not '${planned[field]}': ${rebuild}`;
    }
  }
  const available = new Set(current.features);
  const missing = planned.features.find(feature => !available.has(feature));
  if (missing !== undefined) {
    return `${builtFor}, with the '${missing}' feature, which this device (${thisDevice}) lacks: ${rebuild}`;
  }
  for (const name of keysOf(LIMIT_BOUNDS)) {
    const needed = planned.limits[name];
    const offered = current.limits[name];
    if (needed === undefined || offered === undefined) {
      continue;
    }
    const bound = LIMIT_BOUNDS[name];
    if (bound === 'at-least' ? offered < needed : offered > needed) {
      const requirement = bound === 'at-least' ? `at least ${needed}` : `at most ${needed}`;
      return `${builtFor}, with ${name} ${needed}; this device (${thisDevice}) has ${offered}, the plan needs ${requirement}: ${rebuild}`;
    }
  }
  return null;
}
