import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { deviceReport } from '../../src/engine/reports/device';
import { deviceWithoutTimestamps, testDevice } from '../helpers/gpu';

describe('deviceReport', () => {
  test("the adapter, the device's features and the limits kernels are sized against", async () => {
    const device = await testDevice();
    const report = deviceReport(device);
    assert.equal(report.kind, 'device');
    assert.equal(report.vendor, device.adapterInfo.vendor);
    assert.equal(report.architecture, device.adapterInfo.architecture);
    assert.equal(report.description, device.adapterInfo.description);
    assert.deepEqual(report.features, [...device.features].sort());
    assert.deepEqual(
      report.capabilities.map(c => [c.feature, c.present]),
      [
        ['shader-f16', device.features.has('shader-f16')],
        ['subgroups', device.features.has('subgroups')],
        ['timestamp-query', device.features.has('timestamp-query')],
        [
          'chromium-experimental-subgroup-matrix',
          device.features.has('chromium-experimental-subgroup-matrix')
        ]
      ]
    );
    assert.match(report.capabilities[0].meaning, /FP16/);
    for (const name of [
      'maxStorageBufferBindingSize',
      'maxBufferSize',
      'maxComputeWorkgroupStorageSize',
      'maxComputeInvocationsPerWorkgroup'
    ] as const) {
      assert.equal(report.limits[name], device.limits[name], name);
    }
    const { subgroupMinSize, subgroupMaxSize } = device.adapterInfo;
    assert.equal(report.limits.subgroupMinSize, subgroupMinSize);
    assert.equal(report.limits.subgroupMaxSize, subgroupMaxSize);
    assert.deepEqual(JSON.parse(JSON.stringify(report)), report);
  });

  test('features are those the device was made with, not all the adapter offers', async () => {
    const full = await testDevice();
    assert.ok(full.features.has('timestamp-query'), 'the adapter offers timestamp-query');
    const plain = await deviceWithoutTimestamps();
    try {
      const timestamps = deviceReport(plain).capabilities.find(
        c => c.feature === 'timestamp-query'
      );
      assert.equal(timestamps?.present, false);
    } finally {
      plain.destroy();
    }
  });
});
