import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  AdapterFingerprint,
  adapterFingerprint,
  checkFingerprint
} from '../../src/engine/runtime/fingerprint';
import { decodePlan, encodePlan } from '../../src/engine/runtime/plan';
import { testDevice } from '../helpers/gpu';

const HOPPER: AdapterFingerprint = {
  vendor: 'nvidia',
  architecture: 'hopper',
  device: '0x2330',
  description: 'NVIDIA H100 80GB HBM3',
  features: ['shader-f16', 'subgroups', 'timestamp-query'],
  limits: {
    maxComputeWorkgroupStorageSize: 49152,
    maxComputeInvocationsPerWorkgroup: 1024,
    maxStorageBufferBindingSize: 2147483644,
    minStorageBufferOffsetAlignment: 32,
    subgroupMinSize: 32,
    subgroupMaxSize: 32
  }
};

function variant(change: (fingerprint: AdapterFingerprint) => void): AdapterFingerprint {
  const copy = structuredClone(HOPPER);
  change(copy);
  return copy;
}

describe('checkFingerprint on synthetic adapters', () => {
  test('the same adapter is compatible, whatever its driver description says', () => {
    assert.equal(checkFingerprint(HOPPER, structuredClone(HOPPER)), null);
    const newDriver = variant(f => (f.description = 'NVIDIA H100 80GB HBM3, driver 580'));
    assert.equal(checkFingerprint(HOPPER, newDriver), null);
  });

  test('another GPU names the first differing field, both adapters and the remedy', () => {
    const swiftshader: AdapterFingerprint = {
      vendor: 'google',
      architecture: 'swiftshader',
      device: 'swiftshader-device-subzero-',
      description: 'SwiftShader driver 5.0.0',
      features: [],
      limits: {}
    };
    assert.equal(
      checkFingerprint(HOPPER, swiftshader),
      "the plan was built for nvidia hopper (NVIDIA H100 80GB HBM3); this device is google swiftshader (SwiftShader driver 5.0.0), whose vendor is 'google', not 'nvidia': rebuild the engine on this device"
    );
    const otherModel = variant(f => (f.device = '0x2331'));
    assert.match(
      checkFingerprint(HOPPER, otherModel) ?? '',
      /whose device is '0x2331', not '0x2330'/
    );
  });

  test('a feature the plan used that this device lacks is incompatible; extra ones are fine', () => {
    const noF16 = variant(f => (f.features = ['subgroups', 'timestamp-query']));
    assert.match(
      checkFingerprint(HOPPER, noF16) ?? '',
      /^the plan was built for nvidia hopper \(.*\), with the 'shader-f16' feature, which this device \(nvidia hopper .*\) lacks: rebuild the engine on this device$/
    );
    const more = variant(f => f.features.push('chromium-experimental-subgroup-matrix'));
    assert.equal(checkFingerprint(HOPPER, more), null);
  });

  test('maxima may grow but not shrink', () => {
    const bigger = variant(f => (f.limits.maxComputeWorkgroupStorageSize = 65536));
    assert.equal(checkFingerprint(HOPPER, bigger), null);
    const smaller = variant(f => (f.limits.maxComputeWorkgroupStorageSize = 32768));
    assert.match(
      checkFingerprint(HOPPER, smaller) ?? '',
      /with maxComputeWorkgroupStorageSize 49152; this device \(.*\) has 32768, the plan needs at least 49152: rebuild/
    );
  });

  test('the storage offset alignment may shrink but not grow', () => {
    const finer = variant(f => (f.limits.minStorageBufferOffsetAlignment = 16));
    assert.equal(checkFingerprint(HOPPER, finer), null);
    const coarser = variant(f => (f.limits.minStorageBufferOffsetAlignment = 256));
    assert.match(
      checkFingerprint(HOPPER, coarser) ?? '',
      /minStorageBufferOffsetAlignment 32; .* has 256, the plan needs at most 32/
    );
  });

  test('subgroup sizes must stay within the planned range, and are compared only when known', () => {
    const wider = variant(f => (f.limits.subgroupMaxSize = 64));
    assert.match(checkFingerprint(HOPPER, wider) ?? '', /subgroupMaxSize 32; .* has 64/);
    const smallerMin = variant(f => (f.limits.subgroupMinSize = 16));
    assert.match(checkFingerprint(HOPPER, smallerMin) ?? '', /subgroupMinSize 32; .* has 16/);
    const unreported = variant(f => {
      delete f.limits.subgroupMinSize;
      delete f.limits.subgroupMaxSize;
    });
    assert.equal(checkFingerprint(HOPPER, unreported), null);
  });
});

describe('the fingerprint of the SwiftShader test device', () => {
  test('reads identity, sorted features and kernel limits', async () => {
    const device = await testDevice();
    const fingerprint = adapterFingerprint(device);
    assert.equal(fingerprint.vendor, device.adapterInfo.vendor);
    assert.equal(fingerprint.architecture, device.adapterInfo.architecture);
    assert.ok(fingerprint.features.includes('timestamp-query'));
    assert.deepEqual(fingerprint.features, [...fingerprint.features].sort());
    assert.equal(
      fingerprint.limits.maxComputeWorkgroupStorageSize,
      device.limits.maxComputeWorkgroupStorageSize
    );
    assert.equal(
      fingerprint.limits.minStorageBufferOffsetAlignment,
      device.limits.minStorageBufferOffsetAlignment
    );
    assert.equal(fingerprint.limits.subgroupMaxSize, device.adapterInfo.subgroupMaxSize);
  });

  test('survives a plan round trip and matches itself, not an H100 plan', async () => {
    const fingerprint = adapterFingerprint(await testDevice());
    const plan = decodePlan(encodePlan({ metadata: { fingerprint }, blobs: [] }));
    const stored = plan.metadata.fingerprint as AdapterFingerprint;
    assert.deepEqual(stored, fingerprint);
    assert.equal(checkFingerprint(stored, fingerprint), null);
    assert.match(
      checkFingerprint(HOPPER, fingerprint) ?? '',
      /^the plan was built for nvidia hopper .*; this device is google swiftshader/
    );
  });
});
