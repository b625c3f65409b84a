import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AttributeValue, Dim, Graph, Node } from '../../src/engine/ir/graph';
import { Tensor } from '../../src/engine/ir/tensor';
import { Dispatch, GpuTensor, KernelContext } from '../../src/engine/kernels/context';
import { inferShapes } from '../../src/engine/ops/infer';
import { findOp } from '../../src/engine/ops/registry';
import {
  bindDispatch,
  encodeDispatch,
  PipelineCache,
  viewOf
} from '../../src/engine/runtime/native';
import { runReference } from '../../src/engine/runtime/reference';
import { createStorageBuffer, download, upload } from '../../src/engine/runtime/transfer';
import { assertClose, checkKernel, reference } from '../helpers/compare';
import { testDevice } from '../helpers/gpu';
import { checkHalfKernel } from '../helpers/half';
import { randomTensor } from '../helpers/random';

let seed = 0;
/** Random non-zero values, a fresh seed each call so Q, K, V and the mask differ. */
const random = (...shape: number[]) => randomTensor(shape, { seed: ++seed });

const attention = (inputs: (Tensor | undefined)[], attributes: Record<string, AttributeValue>) =>
  ({ opType: 'Attention', domain: 'webtrt', inputs, attributes }) as const;

/** A padding mask as BERT exporters compute it: 0 where seen, float32's lowest where not. */
function paddingMask(batch: number, keys: number, seen: number[]): Tensor {
  const values = Array.from({ length: batch * keys }, (_, i) =>
    i % keys < seen[Math.floor(i / keys)] ? 0 : -3.4028234663852886e38
  );
  return Tensor.fromNumbers('float32', [batch, 1, 1, keys], values);
}

describe('reference', () => {
  test('is the unfused ops: Reshape, Transpose, MatMul, Div, Add mask, Softmax, MatMul, back', () => {
    const [batch, queries, keys, heads, dim] = [2, 3, 5, 2, 4];
    const q = random(batch, queries, heads * dim);
    const k = random(batch, keys, heads * dim);
    const v = random(batch, keys, heads * dim);
    const mask = random(batch, 1, queries, keys);
    const n = (opType: string, inputs: string[], output: string, attributes = {}): Node => ({
      name: output,
      opType,
      domain: '',
      inputs,
      outputs: [output],
      attributes
    });
    const graph: Graph = {
      name: 'unfused',
      opsets: { '': 17 },
      inputs: [
        { name: 'q', dtype: 'float32', shape: [...q.shape] },
        { name: 'k', dtype: 'float32', shape: [...k.shape] },
        { name: 'v', dtype: 'float32', shape: [...v.shape] },
        { name: 'mask', dtype: 'float32', shape: [...mask.shape] }
      ],
      outputs: [{ name: 'y', dtype: 'float32' }],
      nodes: [
        n('Reshape', ['q', 'split_q'], 'q4'),
        n('Transpose', ['q4'], 'qh', { perm: [0, 2, 1, 3] }),
        n('Reshape', ['k', 'split_k'], 'k4'),
        n('Transpose', ['k4'], 'kt', { perm: [0, 2, 3, 1] }),
        n('Reshape', ['v', 'split_k'], 'v4'),
        n('Transpose', ['v4'], 'vh', { perm: [0, 2, 1, 3] }),
        n('MatMul', ['qh', 'kt'], 'scores'),
        n('Div', ['scores', 'root'], 'scaled'),
        n('Add', ['scaled', 'mask'], 'masked'),
        n('Softmax', ['masked'], 'probabilities', { axis: -1 }),
        n('MatMul', ['probabilities', 'vh'], 'context'),
        n('Transpose', ['context'], 'merged', { perm: [0, 2, 1, 3] }),
        n('Reshape', ['merged', 'merge'], 'y')
      ],
      initializers: new Map([
        ['split_q', Tensor.fromNumbers('int64', [4], [batch, queries, heads, dim])],
        ['split_k', Tensor.fromNumbers('int64', [4], [batch, keys, heads, dim])],
        ['root', Tensor.fromNumbers('float32', [], [Math.sqrt(dim)])],
        ['merge', Tensor.fromNumbers('int64', [3], [batch, queries, heads * dim])]
      ]),
      valueTypes: new Map()
    };
    inferShapes(graph);
    const expected = runReference(graph, { q, k, v, mask }).y;
    const [fused] = reference(attention([q, k, v, mask], { num_heads: heads }));
    assertClose(fused, expected, 1e-6);
  });

  test('causal: each query sees itself and the keys before it', () => {
    const v = Tensor.fromNumbers('float32', [1, 1, 3, 1], [1, 10, 100]);
    const q = Tensor.fromNumbers('float32', [1, 1, 3, 1], [0, 0, 0]);
    // Equal scores: the average of the visible values.
    const [y] = reference(attention([q, q, v], { num_heads: 1, causal: 1 }));
    assert.deepEqual(Array.from(y.toNumbers()), [1, 5.5, 37]);
  });
});

describe('WebGPU kernel agrees with the reference', () => {
  test('heads side by side [B, S, H*d], cross attention (S_q != S_k), no mask', async () => {
    const [y] = await checkKernel(
      attention([random(2, 5, 16), random(2, 7, 16), random(2, 7, 8)], { num_heads: 2 })
    );
    assert.deepEqual(y.shape, [2, 5, 8]);
  });

  test('heads split [B, H, S, d], a [B, 1, 1, S_k] padding mask, several key tiles', async () => {
    const mask = paddingMask(2, 40, [40, 29]);
    const [y] = await checkKernel(
      attention([random(2, 3, 40, 8), random(2, 3, 40, 8), random(2, 3, 40, 8), mask], {
        num_heads: 3,
        scale: 0.3
      })
    );
    assert.deepEqual(y.shape, [2, 3, 40, 8]);
  });

  test('packed Q|K|V with its widths, causal, head sizes not a multiple of 4', async () => {
    // Q and K 2 heads of 6, V 2 heads of 3.
    const [y] = await checkKernel(
      attention([random(1, 35, 30), undefined, undefined], {
        num_heads: 2,
        causal: 1,
        qkv_hidden_sizes: [12, 12, 6]
      })
    );
    assert.deepEqual(y.shape, [1, 35, 6]);
  });

  test('layouts mixed, a [S_q, S_k] mask broadcast over batch and heads', async () => {
    const [y] = await checkKernel(
      attention([random(2, 2, 9, 4), random(2, 6, 8), random(2, 2, 6, 4), random(9, 6)], {
        num_heads: 2
      })
    );
    assert.deepEqual(y.shape, [2, 2, 9, 4]);
  });

  test('float16 values (stored as f32): outputs rounded once, the reference rounds each step', async () => {
    const half = (...shape: number[]) => randomTensor(shape, { seed: ++seed, dtype: 'float16' });
    await checkKernel(
      attention([half(1, 6, 16), half(1, 6, 16), half(1, 6, 16)], { num_heads: 2 }),
      5e-3
    );
  });
});

describe('as the one FP16 layer of an engine (f16 storage where the device has shader-f16)', () => {
  // The reference rounds each step to float16, the kernel only its output.
  const tolerance = 5e-3;
  test('packed Q|K|V with a padding mask', async () => {
    await checkHalfKernel(
      attention([random(2, 9, 48), undefined, undefined, paddingMask(2, 9, [9, 4])], {
        num_heads: 2
      }),
      tolerance
    );
  });
  test('heads split, causal, head size not a multiple of 4', async () => {
    await checkHalfKernel(
      attention([random(1, 2, 7, 6), random(1, 2, 7, 6), random(1, 2, 7, 6)], {
        num_heads: 2,
        causal: 1
      }),
      tolerance
    );
  });
});

/** The kernel run with one chosen tactic, outside any executor. */
async function runWithTactic(
  inputs: (Tensor | undefined)[],
  attributes: Record<string, AttributeValue>,
  tactic: string
): Promise<Tensor> {
  const device = await testDevice();
  const op = findOp('Attention', 'webtrt')!;
  const node: Node = {
    name: 'attention',
    opType: 'Attention',
    domain: 'webtrt',
    inputs: inputs.map((t, i) => (t ? `x${i}` : '')),
    outputs: ['y'],
    attributes
  };
  const attrs = op.parseAttributes({ opset: 17, node });
  const gpuInputs = inputs.map((t, i) => t && upload(device, t, `x${i}`));
  const dispatches: Dispatch[] = [];
  const ctx: KernelContext = {
    device,
    node,
    tactic,
    allocate: (dtype, shape) => {
      const size = shape.reduce((a, b) => a * b, 1);
      return { dtype, shape, size, buffer: createStorageBuffer(device, size, 'y') };
    },
    dispatch: d => dispatches.push(d),
    view: (t, shape, dtype) => viewOf(node, t, shape, dtype)
  };
  const [y] = op.webgpu!.run(ctx, gpuInputs, [], attrs);
  const pipelines = new PipelineCache(device);
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  for (const d of dispatches) {
    encodeDispatch(pass, bindDispatch(device, pipelines, d));
  }
  pass.end();
  device.queue.submit([encoder.finish()]);
  return download(device, y);
}

describe('tactics', () => {
  const limits = (storage: number, invocations: number) =>
    ({
      maxComputeWorkgroupStorageSize: storage,
      maxComputeInvocationsPerWorkgroup: invocations,
      maxComputeWorkgroupSizeX: invocations
    }) as GPUSupportedLimits;
  const tactics = (
    shapes: number[][],
    attributes: Record<string, AttributeValue>,
    l = limits(49152, 1024)
  ) => {
    const op = findOp('Attention', 'webtrt')!;
    const node = { attributes } as Node;
    // Tactics are chosen from shapes alone: the tensors need no memory.
    const gpu = shapes.map((shape): GpuTensor => ({
      dtype: 'float32',
      shape,
      size: shape.reduce((a, b) => a * b, 1),
      buffer: undefined as unknown as GPUBuffer
    }));
    return op.webgpu!.tactics!(gpu, op.parseAttributes({ opset: 17, node }), l);
  };

  test('BERT-base: the most parallel tactic at batch 1, 32-query blocks at batch 8', () => {
    const bert = (batch: number) => [[batch, 128, 3 * 768]];
    const packed = { num_heads: 12, qkv_hidden_sizes: [768, 768, 768] };
    assert.equal(tactics(bert(1), packed)[0], 'rows16x8');
    assert.equal(tactics(bert(8), packed)[0], 'rows32x4');
    assert.equal(tactics(bert(8), packed).length, 4);
  });

  test('only tactics within the workgroup limits; none is an error naming the head sizes', () => {
    const shapes = [
      [1, 64, 256],
      [1, 64, 256],
      [1, 64, 256]
    ];
    assert.deepEqual(tactics(shapes, { num_heads: 4 }, limits(32768, 64)), ['rows16x4']);
    assert.throws(() => tactics(shapes, { num_heads: 4 }, limits(4096, 64)), /head sizes 64/);
  });

  test('every tactic computes the reference', async () => {
    const inputs = [
      random(2, 37, 16),
      random(2, 37, 16),
      random(2, 37, 16),
      paddingMask(2, 37, [37, 20])
    ];
    const attributes = { num_heads: 2 };
    const [expected] = reference(attention(inputs, attributes));
    const device = await testDevice();
    const names = tactics(
      inputs.map(t => [...t.shape]),
      attributes,
      device.limits
    );
    assert.ok(names.length >= 3, `only ${names.join(', ')} fit SwiftShader`);
    for (const name of names) {
      assertClose(await runWithTactic(inputs, attributes, name), expected, 1e-5, name);
    }
  });
});

describe('shape inference', () => {
  function infer(
    shapes: (Dim[] | undefined)[],
    attributes: Record<string, AttributeValue>
  ): Dim[] | undefined {
    const present = shapes.map((shape, i) => (shape ? `x${i}` : ''));
    const graph: Graph = {
      name: 'attention',
      opsets: { '': 17 },
      inputs: shapes.flatMap((shape, i) =>
        shape ? [{ name: `x${i}`, dtype: 'float32' as const, shape }] : []
      ),
      outputs: [{ name: 'y', dtype: 'float32' }],
      nodes: [
        {
          name: 'attention',
          opType: 'Attention',
          domain: 'webtrt',
          inputs: present,
          outputs: ['y'],
          attributes
        }
      ],
      initializers: new Map(),
      valueTypes: new Map()
    };
    inferShapes(graph);
    return graph.valueTypes.get('y')!.shape;
  }

  test('symbolic batch and sequence carried through both layouts and the packed form', () => {
    const heads = { num_heads: 4 };
    assert.deepEqual(
      infer(
        [
          ['B', 'S', 64],
          ['B', 'T', 64],
          ['B', 'T', 32]
        ],
        heads
      ),
      ['B', 'S', 32]
    );
    assert.deepEqual(
      infer(
        [
          ['B', 4, 'S', 16],
          ['B', 4, 'T', 16],
          ['B', 4, 'T', 8]
        ],
        heads
      ),
      ['B', 4, 'S', 8]
    );
    assert.deepEqual(infer([['B', 'S', 192]], heads), ['B', 'S', 64]);
    assert.deepEqual(infer([['B', 'S', 96]], { ...heads, qkv_hidden_sizes: [32, 32, 32] }), [
      'B',
      'S',
      32
    ]);
  });

  test('inconsistent inputs are named', () => {
    const heads = { num_heads: 4 };
    assert.throws(
      () =>
        infer(
          [
            ['B', 'S', 64],
            ['B', 'T', 62],
            ['B', 'T', 64]
          ],
          heads
        ),
      /K width 62/
    );
    assert.throws(
      () =>
        infer(
          [
            ['B', 'S', 64],
            ['B', 'T', 32],
            ['B', 'T', 64]
          ],
          heads
        ),
      /head size \(Q and K\) differs: 16 vs 8/
    );
    assert.throws(
      () =>
        infer(
          [
            [2, 'S', 64],
            [3, 'T', 64],
            [2, 'T', 64]
          ],
          heads
        ),
      /batch differs/
    );
    assert.throws(
      () =>
        infer(
          [
            ['B', 'S', 64],
            ['B', 'T', 64]
          ],
          heads
        ),
      /K and V must be given together/
    );
    assert.throws(
      () =>
        infer(
          [
            ['B', 2, 'S', 16],
            ['B', 'T', 64],
            ['B', 'T', 64]
          ],
          heads
        ),
      /2 heads, not 4/
    );
    assert.throws(() => infer([['B', 'S', 100]], heads), /do not split/);
    assert.throws(
      () =>
        infer(
          [
            ['B', 'S', 64],
            ['B', 'T', 64],
            ['B', 'T', 64]
          ],
          {}
        ),
      /num_heads/
    );
  });
});
