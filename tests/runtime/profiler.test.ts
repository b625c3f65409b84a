import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GpuTimer, PassTiming } from '../../src/engine/runtime/profiler';
import { testDevice } from '../helpers/gpu';

/** Each invocation runs `iterations` steps of a recurrence on its element, in place. */
const LOOP_SHADER = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> data: array<f32>;
@group(0) @binding(1) var<uniform> iterations: u32;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u) {
  var x = data[id.x];
  for (var i = 0u; i < iterations; i++) {
    x = x * 0.999 + 0.5;
  }
  data[id.x] = x;
}`;

const INVOCATIONS = 256;

/**
 * Times one submission of loop passes, one per entry of `iterationsPerPass`. They all update the
 * same buffer, so each waits for the one before it and the passes cannot overlap.
 */
async function timeLoops(
  device: GPUDevice,
  timer: GpuTimer,
  iterationsPerPass: number[]
): Promise<PassTiming[]> {
  const pipeline = device.createComputePipeline({
    layout: 'auto',
    compute: { module: device.createShaderModule({ code: LOOP_SHADER }), entryPoint: 'main' }
  });
  const data = device.createBuffer({ size: INVOCATIONS * 4, usage: GPUBufferUsage.STORAGE });
  const encoder = device.createCommandEncoder();
  const uniforms: GPUBuffer[] = [];
  iterationsPerPass.forEach((iterations, i) => {
    const uniform = device.createBuffer({
      size: 4,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST
    });
    device.queue.writeBuffer(uniform, 0, Uint32Array.of(iterations));
    uniforms.push(uniform);
    const pass = encoder.beginComputePass({ timestampWrites: timer.timestampWrites(`loop ${i}`) });
    pass.setPipeline(pipeline);
    pass.setBindGroup(
      0,
      device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: { buffer: data } },
          { binding: 1, resource: { buffer: uniform } }
        ]
      })
    );
    pass.dispatchWorkgroups(INVOCATIONS / 64);
    pass.end();
  });
  timer.resolve(encoder);
  device.queue.submit([encoder.finish()]);
  const timings = await timer.read();
  [data, ...uniforms].forEach(buffer => buffer.destroy());
  return timings;
}

function assertWellFormed(timings: PassTiming[], labels: string[]): void {
  assert.deepEqual(
    timings.map(t => t.label),
    labels
  );
  assert.equal(timings[0].startMs, 0);
  for (const { label, startMs, durationMs } of timings) {
    assert.ok(Number.isFinite(startMs) && startMs >= 0, `${label} starts at ${startMs} ms`);
    assert.ok(Number.isFinite(durationMs) && durationMs >= 0, `${label} took ${durationMs} ms`);
  }
  for (let i = 1; i < timings.length; i++) {
    const previousEnd = timings[i - 1].startMs + timings[i - 1].durationMs;
    assert.ok(
      timings[i].startMs >= previousEnd,
      `${timings[i].label} starts at ${timings[i].startMs} ms, before the pass before it ends (${previousEnd} ms)`
    );
  }
}

describe('GpuTimer with timestamp-query (SwiftShader)', () => {
  test('times each labelled pass of a submission, in order', async () => {
    const device = await testDevice();
    const timer = new GpuTimer(device, 8);
    assert.equal(timer.clock, 'timestamp-query');
    const timings = await timeLoops(device, timer, [5000, 10, 5000]);
    assertWellFormed(timings, ['loop 0', 'loop 1', 'loop 2']);
    // Nonzero time proves the values came from the GPU, not from a buffer nobody wrote.
    const end = timings[2].startMs + timings[2].durationMs;
    assert.ok(end > 0, 'three passes of work took no time at all');
    timer.destroy();
  });

  test('is reusable across submissions, and refuses more passes than it holds', async () => {
    const device = await testDevice();
    const timer = new GpuTimer(device, 2);
    assertWellFormed(await timeLoops(device, timer, [100, 100]), ['loop 0', 'loop 1']);
    assertWellFormed(await timeLoops(device, timer, [100]), ['loop 0']);
    timer.timestampWrites('a');
    timer.timestampWrites('b');
    assert.throws(
      () => timer.timestampWrites('c'),
      /GpuTimer: pass 'c' is one more than the 2 passes this timer holds per submission/
    );
    timer.destroy();
  });

  test('reading before resolving, or timing before reading, is an error', async () => {
    const device = await testDevice();
    const timer = new GpuTimer(device, 4);
    timer.timestampWrites('a');
    await assert.rejects(timer.read(), /read before resolve/);
    timer.resolve(device.createCommandEncoder());
    assert.throws(() => timer.timestampWrites('b'), /pass 'b' begun before the previous timings/);
    timer.destroy();
  });
});

describe('GpuTimer without timestamp-query', () => {
  test('hands out no timestamp writes and says timings are wall-clock only', async () => {
    const withoutTimestamps = { features: new Set<string>() } as unknown as GPUDevice;
    const timer = new GpuTimer(withoutTimestamps);
    assert.equal(timer.clock, 'wall-clock');
    assert.match(timer.clockDescription, /wall-clock only: this device has no 'timestamp-query'/);
    assert.equal(timer.timestampWrites('conv1'), undefined);
    timer.resolve({} as GPUCommandEncoder);
    await assert.rejects(timer.read(), /GpuTimer: no GPU timings, wall-clock only/);
  });
});
