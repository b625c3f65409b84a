import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { build, engineReport, Engine } from '../../src/engine';
import { WebtrtSession } from '../../src/lab/session';
import { buildGraph, node } from '../builder/passes/graphs';
import { deviceWithoutTimestamps, testDevice, UNTUNED } from '../helpers/gpu';
import { DEFAULT_SETTINGS } from '../helpers/magic-context';
import { randomTensor } from '../helpers/random';

async function reluEngine(device: GPUDevice): Promise<Engine> {
  const graph = buildGraph({
    inputs: { x: [2, 3] },
    outputs: ['y'],
    nodes: [node('Relu', ['x'], 'y')]
  });
  return build(graph, { ...UNTUNED, precision: 'fp32' }, device);
}

async function sessionEngine(device: GPUDevice, name: string) {
  const engine = await reluEngine(device);
  return { name, engine, report: engineReport(engine, name) };
}

async function runs(engine: Engine): Promise<unknown> {
  return engine.createContext().execute({ x: randomTensor([2, 3]) });
}

describe("the notebook's session of engines", () => {
  test('asks for its device once, with the power preference of the settings, and reports it', async () => {
    const asked: GPUPowerPreference[] = [];
    const session = new WebtrtSession(
      { ...DEFAULT_SETTINGS, powerPreference: 'low-power' },
      async preference => {
        asked.push(preference);
        return testDevice();
      }
    );
    let changes = 0;
    session.changed.connect(() => changes++);
    const before = session.deviceReport;
    assert.equal(before, undefined, 'no device before a command asks');
    const [first, second] = await Promise.all([session.device(), session.device()]);
    assert.equal(first, second);
    assert.deepEqual(asked, ['low-power']);
    assert.equal(session.deviceReport?.kind, 'device');
    assert.ok(changes >= 1, 'the sidebar hears of the device');
  });

  test('a failed request is reported and asked again by the next command', async () => {
    let attempts = 0;
    const session = new WebtrtSession(DEFAULT_SETTINGS, async () => {
      attempts++;
      if (attempts === 1) {
        throw new Error('WebGPU is available but offers no adapter');
      }
      return testDevice();
    });
    await assert.rejects(session.device(), /offers no adapter/);
    assert.match(session.deviceError ?? '', /offers no adapter/);
    assert.ok(await session.device());
    assert.equal(session.deviceError, undefined);
    assert.equal(attempts, 2);
  });

  test('an engine added under a taken name replaces the old one, which is destroyed', async () => {
    const device = await testDevice();
    const session = new WebtrtSession(DEFAULT_SETTINGS, () => testDevice());
    const old = await sessionEngine(device, 'model.wtrt');
    const other = await sessionEngine(device, 'other.wtrt');
    const replacement = await sessionEngine(device, 'model.wtrt');
    session.add(old);
    session.add(other);
    session.add(replacement);
    assert.deepEqual(
      session.engines.map(entry => entry.engine),
      [other.engine, replacement.engine],
      'newest last'
    );
    await assert.rejects(runs(old.engine), /has been destroyed/);
    await runs(replacement.engine);

    session.setProfile('model.wtrt', {
      kind: 'profile',
      source: 'model.wtrt',
      device: 'test',
      clock: 'gpu',
      iterations: 0,
      layers: []
    });
    assert.equal(session.findEngine('model.wtrt')?.profile?.source, 'model.wtrt');
    session.releaseEngines();
    assert.equal(session.engines.length, 0);
    await assert.rejects(runs(other.engine), /has been destroyed/);
  });

  test('a lost device takes its engines along; the next command gets a new device', async () => {
    const devices: GPUDevice[] = [];
    const session = new WebtrtSession(DEFAULT_SETTINGS, async () => {
      const device = await deviceWithoutTimestamps();
      devices.push(device);
      return device;
    });
    const device = await session.device();
    session.add(await sessionEngine(device, 'model.wtrt'));
    const released = new Promise<void>(resolve => {
      session.changed.connect(() => {
        if (session.engines.length === 0) {
          resolve();
        }
      });
    });
    device.destroy();
    await released;
    const next = await session.device();
    assert.notEqual(next, device);
    assert.equal(devices.length, 2);
    // Destroying a device is no error; a driver's loss would be named in deviceError.
    assert.equal(session.deviceError, undefined);
    next.destroy();
  });
});
