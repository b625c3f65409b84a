import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  lifetimes,
  MemoryPlan,
  planMemory,
  SizedValue,
  TensorLifetime
} from '../../src/engine/builder/memory';
import { Graph, Node } from '../../src/engine/ir/graph';
import { sizeOf, Tensor } from '../../src/engine/ir/tensor';
import { importOnnx } from '../../src/engine/onnx/index';
import { inferShapes } from '../../src/engine/ops/infer';
import { seededRandom } from '../helpers/random';
import { GENERATED_MODELS, PPOCR_MODELS } from '../models/oracle';

/** The bytes a value takes on the GPU today: 32 bits per element (see kernels/context.ts). */
const gpuBytes = (value: SizedValue) => sizeOf(value.shape) * 4;

function lifetime(
  name: string,
  bytes: number,
  firstStep: number,
  lastStep: number,
  aliasOf?: string
): TensorLifetime {
  return aliasOf === undefined
    ? { name, bytes, firstStep, lastStep }
    : { name, bytes, firstStep, lastStep, aliasOf };
}

const offsetsOf = (plan: MemoryPlan) =>
  Object.fromEntries(plan.tensors.map(t => [t.name, t.offset]));

test('a chain of layers ping-pongs between two buffers', () => {
  const plan = planMemory(
    [
      lifetime('a', 1000, 0, 1),
      lifetime('b', 1000, 1, 2),
      lifetime('c', 1000, 2, 3),
      lifetime('d', 1000, 3, 4)
    ],
    { alignment: 256 }
  );
  assert.deepEqual(offsetsOf(plan), { a: 0, b: 1024, c: 0, d: 1024 });
  assert.equal(plan.arenaBytes, 2024);
  assert.equal(plan.sumBytes, 4000);
  assert.equal(plan.peakLiveBytes, 2000);
});

test('the largest tensor is placed first and smaller ones fill the lowest gap that fits', () => {
  // p and q are placed first; r reuses p's bytes; s fits in the gap between r and q.
  const plan = planMemory(
    [
      lifetime('p', 1024, 0, 0),
      lifetime('q', 1024, 0, 3),
      lifetime('r', 512, 1, 1),
      lifetime('s', 512, 1, 2)
    ],
    { alignment: 256 }
  );
  assert.deepEqual(offsetsOf(plan), { p: 0, q: 1024, r: 0, s: 512 });
  assert.equal(plan.arenaBytes, 2048);
  assert.equal(plan.peakLiveBytes, 2048, 'the layout is optimal: the arena is the peak');
});

test('offsets are aligned; the last tensor is not padded', () => {
  const plan = planMemory(
    [lifetime('a', 100, 0, 2), lifetime('b', 100, 1, 2), lifetime('c', 100, 2, 2)],
    { alignment: 256 }
  );
  assert.deepEqual(offsetsOf(plan), { a: 0, b: 256, c: 512 });
  assert.equal(plan.arenaBytes, 612);
  assert.equal(plan.sumBytes, 300, 'one buffer per tensor needs no alignment');
});

test('a view shares the offset of what it views and keeps it alive', () => {
  // v views a and w views v, so a's memory is held until step 4: b, alive at steps 2-3,
  // cannot reuse it though a itself is last read at step 1.
  const plan = planMemory(
    [
      lifetime('a', 1024, 0, 1),
      lifetime('v', 1024, 1, 2, 'a'),
      lifetime('w', 512, 2, 4, 'v'),
      lifetime('b', 1024, 2, 3)
    ],
    { alignment: 256 }
  );
  assert.deepEqual(plan.tensors, [
    { name: 'a', offset: 0, bytes: 1024, firstStep: 0, lastStep: 4 },
    { name: 'v', offset: 0, bytes: 1024, firstStep: 1, lastStep: 2, aliasOf: 'a' },
    { name: 'w', offset: 0, bytes: 512, firstStep: 2, lastStep: 4, aliasOf: 'a' },
    { name: 'b', offset: 1024, bytes: 1024, firstStep: 2, lastStep: 3 }
  ]);
  assert.equal(plan.sumBytes, 2048, 'views take no bytes of their own');
  assert.equal(plan.peakLiveBytes, 2048);
});

test('empty tensors take no bytes and split no gap', () => {
  const plan = planMemory(
    [lifetime('a', 256, 0, 1), lifetime('empty', 0, 0, 1), lifetime('b', 256, 1, 1)],
    { alignment: 256 }
  );
  assert.deepEqual(offsetsOf(plan), { a: 0, empty: 0, b: 256 });
  assert.equal(plan.arenaBytes, 512);
});

test('bad lifetimes are refused with the tensor named', () => {
  const plan =
    (tensors: TensorLifetime[], alignment = 256) =>
    () =>
      planMemory(tensors, { alignment });
  assert.throws(plan([lifetime('a', 4, 0, 1), lifetime('a', 4, 1, 2)]), /'a' appears twice/);
  assert.throws(plan([lifetime('a', 4, 3, 1)]), /'a' is last read at step 1, before .* step 3/);
  assert.throws(plan([lifetime('a', -4, 0, 1)]), /'a' has an invalid size of -4 bytes/);
  assert.throws(plan([lifetime('v', 4, 0, 1, 'gone')]), /'v' is a view of 'gone', which is not/);
  assert.throws(
    plan([lifetime('v', 4, 0, 1, 'w'), lifetime('w', 4, 0, 1, 'v')]),
    /'v' is a view of itself/
  );
  assert.throws(
    plan([lifetime('a', 4, 0, 1), lifetime('v', 8, 1, 2, 'a')]),
    /'v' \(8 bytes\) cannot be a view of 'a' \(4 bytes\)/
  );
  assert.throws(plan([lifetime('a', 4, 0, 1)], 0), /alignment must be a positive integer/);
});

/** Random lifetimes over `steps` steps; about one tensor in five views an earlier one. */
function randomLifetimes(next: () => number, count: number, steps: number): TensorLifetime[] {
  const randomInt = (low: number, high: number) => low + Math.floor(next() * (high - low + 1));
  const tensors: TensorLifetime[] = [];
  for (let i = 0; i < count; i++) {
    const firstStep = randomInt(0, steps - 1);
    const lastStep = randomInt(firstStep, Math.min(steps - 1, firstStep + randomInt(0, steps)));
    const viewed = tensors[randomInt(0, tensors.length - 1)];
    if (viewed && next() < 0.2) {
      const bytes = randomInt(0, viewed.bytes);
      tensors.push(lifetime(`t${i}`, bytes, firstStep, lastStep, viewed.name));
    } else {
      const bytes = next() < 0.05 ? 0 : randomInt(1, 1 << randomInt(2, 16));
      tensors.push(lifetime(`t${i}`, bytes, firstStep, lastStep));
    }
  }
  return tensors;
}

/** The name of the tensor each tensor's memory belongs to, following chains of views. */
function rootsOf(tensors: readonly TensorLifetime[]): Map<string, string> {
  const byName = new Map(tensors.map(t => [t.name, t]));
  const roots = new Map<string, string>();
  for (const t of tensors) {
    let root = t;
    while (root.aliasOf !== undefined) {
      root = byName.get(root.aliasOf)!;
    }
    roots.set(t.name, root.name);
  }
  return roots;
}

/** The properties every plan must have, checked independently of how it was made. */
function checkPlan(tensors: readonly TensorLifetime[], plan: MemoryPlan, alignment: number): void {
  const roots = rootsOf(tensors);
  const planned = new Map(plan.tensors.map(t => [t.name, t]));
  assert.deepEqual(
    plan.tensors.map(t => t.name),
    tensors.map(t => t.name),
    'every tensor, in the order given'
  );
  for (const t of tensors) {
    const p = planned.get(t.name)!;
    assert.equal(p.offset % alignment, 0, `${t.name} at ${p.offset} is aligned`);
    assert.ok(p.offset + t.bytes <= plan.arenaBytes, `${t.name} lies in the arena`);
    const root = planned.get(roots.get(t.name)!)!;
    assert.equal(p.offset, root.offset, `${t.name} shares the offset of ${root.name}`);
    assert.ok(
      root.firstStep <= t.firstStep && t.lastStep <= root.lastStep,
      `${root.name}'s memory is held while its view ${t.name} lives`
    );
  }
  for (let i = 0; i < tensors.length; i++) {
    for (let j = i + 1; j < tensors.length; j++) {
      const [a, b] = [tensors[i], tensors[j]];
      const sameMemory = roots.get(a.name) === roots.get(b.name);
      const together = a.firstStep <= b.lastStep && b.firstStep <= a.lastStep;
      if (!sameMemory && together) {
        const [pa, pb] = [planned.get(a.name)!, planned.get(b.name)!];
        assert.ok(
          pa.offset + a.bytes <= pb.offset || pb.offset + b.bytes <= pa.offset,
          `${a.name} and ${b.name} are alive together and must not share bytes`
        );
      }
    }
  }
  const alignedSum = tensors
    .filter(t => t.aliasOf === undefined)
    .reduce((sum, t) => sum + Math.ceil(t.bytes / alignment) * alignment, 0);
  assert.ok(plan.arenaBytes >= plan.peakLiveBytes, 'no arena beats the peak');
  assert.ok(plan.arenaBytes <= alignedSum, 'the arena is never worse than stacking every tensor');
}

test('random lifetimes: no tensors alive together share bytes, offsets aligned, arena between peak and sum', () => {
  const next = seededRandom(3001);
  for (let round = 0; round < 300; round++) {
    const alignment = [1, 4, 256][round % 3];
    const tensors = randomLifetimes(next, 1 + Math.floor(next() * 60), 1 + Math.floor(next() * 40));
    const plan = planMemory(tensors, { alignment });
    checkPlan(tensors, plan, alignment);
    if (alignment === 1) {
      assert.ok(plan.arenaBytes <= plan.sumBytes, `round ${round}: arena within the sum`);
    }
  }
});

test('a few thousand tensors are planned quickly', () => {
  const tensors = randomLifetimes(seededRandom(3002), 5000, 2000);
  const start = performance.now();
  const plan = planMemory(tensors, { alignment: 256 });
  const ms = performance.now() - start;
  assert.ok(ms < 2000, `planning 5000 tensors took ${ms.toFixed(0)} ms`);
  assert.ok(plan.arenaBytes >= plan.peakLiveBytes);
});

function node(opType: string, inputs: string[], outputs: string[], attributes = {}): Node {
  return { name: `${opType}_${outputs[0]}`, opType, domain: '', inputs, outputs, attributes };
}

/** x [1, 4] through views, a split with an unread half, and two graph outputs. */
function viewGraph(inputShape: (number | string)[]): Graph {
  return {
    name: 'views',
    opsets: { '': 17 },
    inputs: [{ name: 'x', dtype: 'float32', shape: inputShape }],
    outputs: [
      { name: 'y', dtype: 'float32' },
      { name: 'z', dtype: 'float32' }
    ],
    nodes: [
      node('Relu', ['x'], ['a']),
      node('Reshape', ['a', 'shape'], ['r']),
      node('Split', ['a'], ['s0', 's1'], { axis: 1 }),
      node('Relu', ['r'], ['b']),
      node('Reshape', ['x', 'shape'], ['rx']),
      node('Add', ['b', 'rx'], ['y']),
      node('Relu', ['s0'], ['z'])
    ],
    initializers: new Map([['shape', Tensor.fromNumbers('int64', [2], [2, 2])]]),
    valueTypes: new Map()
  };
}

test('lifetimes follow the node order; views of arena tensors are aliases', () => {
  const graph = viewGraph([1, 4]);
  inferShapes(graph);
  assert.deepEqual(lifetimes(graph, gpuBytes), [
    lifetime('a', 16, 0, 2),
    lifetime('r', 16, 1, 3, 'a'),
    lifetime('s0', 8, 2, 6),
    lifetime('s1', 8, 2, 2),
    lifetime('b', 16, 3, 5),
    // A view of a graph input has no arena memory to share: it gets its own.
    lifetime('rx', 16, 4, 5),
    lifetime('y', 16, 5, 6),
    lifetime('z', 8, 6, 6)
  ]);
});

test('lifetimes refuse a tensor whose shape is not concrete, naming it', () => {
  const graph = viewGraph(['batch', 4]);
  inferShapes(graph);
  assert.throws(
    () => lifetimes(graph, gpuBytes),
    /tensor 'a': its shape \[batch, 4\] is not concrete/
  );
});

for (const [model, shape, ratioBound] of [
  [`${PPOCR_MODELS}/ch_ppocr_mobile_v2.0_cls_infer.onnx`, [1, 3, 48, 192], 0.04],
  [`${GENERATED_MODELS}/small_cnn.onnx`, [1, 3, 32, 32], 0.3],
  [`${PPOCR_MODELS}/ch_PP-OCRv4_det_infer.onnx`, [1, 3, 640, 640], 0.06]
] as const) {
  test(`${model.split('/').pop()} at [${shape}]: the arena is at most half the sum`, t => {
    const graph = importOnnx(new Uint8Array(readFileSync(model)), { source: model });
    graph.inputs = graph.inputs.map(input => ({ ...input, shape: [...shape] }));
    inferShapes(graph);
    const tensors = lifetimes(graph, gpuBytes);
    const plan = planMemory(tensors, { alignment: 256 });
    checkPlan(tensors, plan, 256);
    const ratio = plan.arenaBytes / plan.sumBytes;
    t.diagnostic(
      `${tensors.length} tensors: arena ${plan.arenaBytes} bytes, sum ${plan.sumBytes}, ` +
        `peak live ${plan.peakLiveBytes}; arena / sum ${ratio.toFixed(4)}, ` +
        `arena / peak ${(plan.arenaBytes / plan.peakLiveBytes).toFixed(4)}`
    );
    // The plan is deterministic: the bounds are the measured ratios, rounded up.
    assert.ok(ratio <= 0.5, `arena / sum ${ratio} meets the target of 50%`);
    assert.ok(ratio <= ratioBound, `arena / sum ${ratio} is within the measured ${ratioBound}`);
    assert.ok(plan.arenaBytes <= 1.06 * plan.peakLiveBytes, 'the arena is within 6% of the peak');
  });
}
