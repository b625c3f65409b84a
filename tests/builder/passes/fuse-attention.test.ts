import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { build } from '../../../src/engine/builder/build';
import { runPasses, withInferredTypes } from '../../../src/engine/builder/pass';
import { fuseAttention } from '../../../src/engine/builder/passes/fuse-attention';
import { STANDARD_PASSES } from '../../../src/engine/builder/passes/index';
import { Graph, Node } from '../../../src/engine/ir/graph';
import { Tensor } from '../../../src/engine/ir/tensor';
import { importOnnx } from '../../../src/engine/onnx/index';
import { assertClose } from '../../helpers/compare';
import { UNTUNED, testDevice } from '../../helpers/gpu';
import { runOnnxRuntime } from '../../helpers/ort';
import { randomTensor } from '../../helpers/random';
import { GENERATED_MODELS, MODEL_TOLERANCE } from '../../models/oracle';
import {
  applyPass,
  assertSameOutputs,
  buildGraph,
  GraphSpec,
  int64,
  node,
  opTypes,
  randomFeeds
} from './graphs';

const [BATCH, SEQUENCE, HEADS, DIM] = [2, 5, 2, 4];
const WIDTH = HEADS * DIM;
const scalar = (value: number) => Tensor.fromNumbers('float32', [], [value]);

/** Linear projections of `x` named q, k and v, and the constants the patterns below use. */
function projections(): { nodes: Node[]; initializers: Record<string, Tensor> } {
  return {
    nodes: ['q', 'k', 'v'].map(name => node('MatMul', ['x', `w_${name}`], name)),
    initializers: {
      w_q: randomTensor([WIDTH, WIDTH], { seed: 1, low: -0.5, high: 0.5 }),
      w_k: randomTensor([WIDTH, WIDTH], { seed: 2, low: -0.5, high: 0.5 }),
      w_v: randomTensor([WIDTH, WIDTH], { seed: 3, low: -0.5, high: 0.5 }),
      split: int64([BATCH, SEQUENCE, HEADS, DIM]),
      merge: int64([BATCH, SEQUENCE, WIDTH]),
      root_d: scalar(Math.sqrt(DIM)),
      root_scale: scalar(1 / Math.sqrt(Math.sqrt(DIM)))
    }
  };
}

/** [B, S, H*d] → [B, S, H, d] → `perm`. */
function heads(value: string, perm: number[]): Node[] {
  return [
    node('Reshape', [value, 'split'], `${value}_4d`),
    node('Transpose', [`${value}_4d`], `${value}_heads`, { perm })
  ];
}

/** [B, H, S, d] → [B, S, H*d] into `output`. */
function mergeHeads(context: string, output: string): Node[] {
  return [
    node('Transpose', [context], 'context_t', { perm: [0, 2, 1, 3] }),
    node('Reshape', ['context_t', 'merge'], output)
  ];
}

/** HF's eager BertSelfAttention: K split then transposed again, Div after the MatMul, mask. */
function eagerBert(): GraphSpec {
  const { nodes, initializers } = projections();
  return {
    inputs: { x: [BATCH, SEQUENCE, WIDTH], mask: [BATCH, 1, 1, SEQUENCE] },
    outputs: ['y'],
    nodes: [
      ...nodes,
      ...heads('q', [0, 2, 1, 3]),
      ...heads('k', [0, 2, 1, 3]),
      node('Transpose', ['k_heads'], 'k_t', { perm: [0, 1, 3, 2] }),
      ...heads('v', [0, 2, 1, 3]),
      node('MatMul', ['q_heads', 'k_t'], 'scores'),
      node('Div', ['scores', 'root_d'], 'scaled'),
      node('Add', ['scaled', 'mask'], 'masked'),
      node('Softmax', ['masked'], 'probabilities', { axis: -1 }),
      node('MatMul', ['probabilities', 'v_heads'], 'context'),
      ...mergeHeads('context', 'y')
    ],
    initializers
  };
}

function attentionNode(graph: Graph): Node {
  const found = graph.nodes.filter(n => n.opType === 'Attention');
  assert.equal(found.length, 1, `${found.length} Attention nodes`);
  assert.equal(found[0].domain, 'webtrt');
  return found[0];
}

describe('fuseAttention', () => {
  test("HF's eager attention: the projections read directly, heads merged back in the op", () => {
    const graph = buildGraph(eagerBert());
    const { graph: fused, changes } = applyPass(fuseAttention, graph);
    assert.deepEqual(opTypes(fused), ['MatMul', 'MatMul', 'MatMul', 'Attention']);
    const attention = attentionNode(fused);
    assert.deepEqual(attention.inputs, ['q', 'k', 'v', 'mask']);
    assert.deepEqual(attention.outputs, ['y']);
    assert.deepEqual(attention.attributes, { num_heads: HEADS, scale: 1 / Math.sqrt(DIM) });
    assert.equal(attention.fusedFrom!.length, 14);
    assert.ok(attention.fusedFrom!.includes('Softmax:probabilities'));
    assert.match(changes[0], /^fused 14 nodes \(.*\) into Attention 'MatMul:scores' \(2 heads/);
    assert.deepEqual(fused.valueTypes.get('y')!.shape, [BATCH, SEQUENCE, WIDTH]);
    assertSameOutputs(graph, fused, randomFeeds(graph, 11));
  });

  test("torch's scaled_dot_product_attention: Q and Kᵀ each scaled, mask added first", () => {
    const { nodes, initializers } = projections();
    const graph = buildGraph({
      inputs: { x: [BATCH, SEQUENCE, WIDTH], mask: [SEQUENCE, SEQUENCE] },
      outputs: ['y'],
      nodes: [
        ...nodes,
        ...heads('q', [0, 2, 1, 3]),
        ...heads('k', [0, 2, 3, 1]),
        ...heads('v', [0, 2, 1, 3]),
        node('Mul', ['q_heads', 'root_scale'], 'q_scaled'),
        node('Mul', ['root_scale', 'k_heads'], 'k_scaled'),
        node('MatMul', ['q_scaled', 'k_scaled'], 'scores'),
        node('Add', ['mask', 'scores'], 'masked'),
        node('Softmax', ['masked'], 'probabilities', { axis: 3 }),
        node('MatMul', ['probabilities', 'v_heads'], 'context'),
        ...mergeHeads('context', 'y')
      ],
      initializers
    });
    const { graph: fused } = applyPass(fuseAttention, graph);
    assert.deepEqual(opTypes(fused), ['MatMul', 'MatMul', 'MatMul', 'Attention']);
    const attention = attentionNode(fused);
    assert.deepEqual(attention.inputs, ['q', 'k', 'v', 'mask']);
    // The two float32 constants 1 / sqrt(sqrt(d)) multiply to 1 / sqrt(d), up to rounding.
    assert.ok(Math.abs((attention.attributes.scale as number) - 0.5) < 1e-7);
    assertSameOutputs(graph, fused, randomFeeds(graph, 12));
  });

  test('heads already split: the op reads [B, H, S, d] and writes it when nothing merges', () => {
    const shape = [BATCH, HEADS, SEQUENCE, DIM];
    const graph = buildGraph({
      inputs: { q: shape, k: shape, v: shape },
      outputs: ['context'],
      nodes: [
        node('Transpose', ['k'], 'k_t', { perm: [0, 1, 3, 2] }),
        node('MatMul', ['q', 'k_t'], 'scores'),
        node('Mul', ['scores', 'half'], 'scaled'),
        node('Softmax', ['scaled'], 'probabilities', { axis: -1 }),
        node('MatMul', ['probabilities', 'v'], 'context')
      ],
      initializers: { half: scalar(0.5) }
    });
    const { graph: fused } = applyPass(fuseAttention, graph);
    assert.deepEqual(opTypes(fused), ['Attention']);
    assert.deepEqual(attentionNode(fused).inputs, ['q', 'k', 'v']);
    assert.deepEqual(fused.valueTypes.get('context')!.shape, shape);
    assertSameOutputs(graph, fused, randomFeeds(graph, 13));
  });

  test('a graph output between the heads merge keeps Q split: the op reads its Transpose', () => {
    const spec = eagerBert();
    const graph = buildGraph({ ...spec, outputs: ['y', 'context_t'] });
    const { graph: fused } = applyPass(fuseAttention, graph);
    const attention = attentionNode(fused);
    // Q and the output as [B, H, S, d], merged by the Transpose and Reshape kept; K and V
    // still read as the projections wrote them.
    assert.deepEqual(attention.inputs, ['q_heads', 'k', 'v', 'mask']);
    assert.deepEqual(attention.outputs, ['context']);
    assert.deepEqual(opTypes(fused).slice(-3), ['Attention', 'Transpose', 'Reshape']);
    assertSameOutputs(graph, fused, randomFeeds(graph, 14));
  });

  const unfusable: [string, (spec: GraphSpec) => GraphSpec][] = [
    ['the probabilities are a graph output too', s => ({ ...s, outputs: ['y', 'probabilities'] })],
    [
      'the scores have a second reader',
      s => ({
        ...s,
        outputs: ['y', 'relu'],
        nodes: [...s.nodes, node('Relu', ['scaled'], 'relu')]
      })
    ],
    ['Softmax is over another axis', s => withNode(s, 'probabilities', { axis: 2 })],
    [
      'the scale comes after the mask (it would scale the mask)',
      s => ({
        ...s,
        nodes: s.nodes.flatMap(n =>
          n.outputs[0] === 'scaled'
            ? []
            : n.outputs[0] === 'masked'
              ? [
                  node('Add', ['scores', 'mask'], 'masked_first'),
                  node('Div', ['masked_first', 'root_d'], 'masked')
                ]
              : [n]
        )
      })
    ],
    [
      'the scale is not a constant',
      s => ({
        ...s,
        inputs: { ...s.inputs, root: [] },
        nodes: s.nodes.map(n =>
          n.outputs[0] === 'scaled' ? node('Div', ['scores', 'root'], 'scaled') : n
        )
      })
    ]
  ];
  for (const [what, change] of unfusable) {
    test(`stays unfused when ${what}`, () => {
      const graph = buildGraph(change(eagerBert()));
      const { graph: kept, changes } = applyPass(fuseAttention, graph);
      assert.deepEqual(changes, []);
      assert.deepEqual(opTypes(kept), opTypes(graph));
    });
  }
});

function withNode(spec: GraphSpec, output: string, attributes: Node['attributes']): GraphSpec {
  return {
    ...spec,
    nodes: spec.nodes.map(n => (n.outputs[0] === output ? { ...n, attributes } : n))
  };
}

describe('tiny BERT (scripts/models/tiny_bert.py) at batch 2, sequence 7, one sequence padded', () => {
  const file = `${GENERATED_MODELS}/tiny_bert.onnx`;
  const bytes = new Uint8Array(readFileSync(file));
  const shapes = { x: [2, 7, 32], attention_mask: [2, 7] };
  const feeds = {
    x: randomTensor(shapes.x, { seed: 31 }),
    attention_mask: Tensor.fromNumbers(
      'int64',
      shapes.attention_mask,
      [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]
    )
  };

  test('the standard passes fuse the eager and the SDPA attention, Q, K and V packed', () => {
    const imported = importOnnx(bytes, { source: file });
    const inputs = imported.inputs.map(input => ({
      ...input,
      shape: shapes[input.name as keyof typeof shapes]
    }));
    const graph = withInferredTypes({ ...imported, inputs });
    const { graph: optimized } = runPasses(graph, STANDARD_PASSES);
    const attentions = optimized.nodes.filter(n => n.opType === 'Attention');
    assert.equal(attentions.length, 2);
    for (const attention of attentions) {
      assert.deepEqual(attention.inputs.slice(1, 3), ['', '']);
      assert.deepEqual(attention.attributes.qkv_hidden_sizes, [32, 32, 32]);
      assert.equal(optimized.valueTypes.get(attention.inputs[3])!.shape!.length, 4);
    }
    assert.ok(!optimized.nodes.some(n => ['Softmax', 'Transpose', 'Reshape'].includes(n.opType)));
    assertSameOutputs(graph, optimized, feeds, MODEL_TOLERANCE);
  });

  test('its engine agrees with ONNX Runtime', async () => {
    const graph = importOnnx(bytes, { source: file });
    const engine = await build(
      graph,
      { ...UNTUNED, precision: 'fp32', shapes },
      await testDevice()
    );
    try {
      const layers = engine.layers.filter(l => l.opType === 'Attention');
      assert.equal(layers.length, 2);
      const actual = await engine.createContext().execute(feeds);
      const expected = await runOnnxRuntime(bytes, feeds);
      assertClose(actual.y, expected.y, MODEL_TOLERANCE, 'y');
    } finally {
      engine.destroy();
    }
  });
});
