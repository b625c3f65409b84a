import { ENGINE_FEATURES, EngineFeature } from '../runtime/device';
import { adapterFingerprint } from '../runtime/fingerprint';
import type { DeviceReport } from './types';

/** What each feature an engine can use gives it, in the words of the capabilities table. */
const FEATURE_MEANINGS: Record<EngineFeature, string> = {
  'shader-f16': 'FP16 arithmetic and storage',
  subgroups: 'subgroup operations (reductions across a subgroup)',
  'chromium-experimental-subgroup-matrix': 'subgroup matrices: tensor cores',
  'timestamp-query': 'per-layer GPU timing'
};

/**
 * The adapter behind `device`, what of it engines can use, and the limits kernels are sized
 * against (those a plan's fingerprint records). Features are the device's, not the adapter's:
 * a device has only the features requested when it was made, and only those reach kernels.
 */
export function deviceReport(device: GPUDevice): DeviceReport {
  const {
    vendor,
    architecture,
    device: deviceId,
    description,
    features,
    limits
  } = adapterFingerprint(device);
  const present = new Set(features);
  const kernelLimits: Record<string, number> = {};
  for (const [name, value] of Object.entries(limits)) {
    if (value !== undefined) {
      kernelLimits[name] = value;
    }
  }
  return {
    kind: 'device',
    vendor,
    architecture,
    device: deviceId,
    description,
    capabilities: ENGINE_FEATURES.map(feature => ({
      feature,
      meaning: FEATURE_MEANINGS[feature],
      present: present.has(feature)
    })),
    features,
    limits: kernelLimits
  };
}
