import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AttributeValue, Node } from '../../src/engine/ir/graph';
import { Tensor } from '../../src/engine/ir/tensor';
import {
  activationAttributes,
  activationMath,
  activationOfNode,
  readActivation
} from '../../src/engine/ops/activation';
import { runReference } from '../../src/engine/runtime/reference';
import { feedsOf, singleNodeGraph } from '../helpers/compare';
import { randomTensor } from '../helpers/random';

const x = randomTensor([40], { low: -4, high: 4 });

function node(
  opType: string,
  attributes: Record<string, AttributeValue> = {},
  inputs = ['x']
): Node {
  return { name: opType, opType, domain: '', inputs, outputs: ['y'], attributes };
}

describe('a fused activation computes what the op it replaces computes', () => {
  const cases: [string, Record<string, AttributeValue>][] = [
    ['Relu', {}],
    ['LeakyRelu', { alpha: 0.3 }],
    ['HardSigmoid', { alpha: 0.3, beta: 0.4 }],
    ['HardSwish', {}],
    ['Sigmoid', {}],
    ['Gelu', { approximate: 'tanh' }],
    ['Gelu', {}],
    ['Selu', {}]
  ];
  for (const [opType, attributes] of cases) {
    test(`${opType} ${JSON.stringify(attributes)}`, async () => {
      const activation = activationOfNode(node(opType, attributes), 17, new Map());
      assert.ok(activation, `${opType} is fusable`);
      const fused = readActivation({
        ...node('FusedX'),
        attributes: activationAttributes(activation)
      });
      assert.deepEqual(fused, activation);
      const nodeCase = { opType, inputs: [x], attributes };
      const graph = singleNodeGraph(nodeCase);
      const [expected] = Object.values(await runReference(graph, feedsOf(nodeCase)));
      const math = activationMath(activation);
      const got = x.toNumbers().map(v => math.cpu(v));
      expected.toNumbers().forEach((v, i) => assert.ok(Math.abs(v - got[i]) <= 1e-6, `${i}`));
    });
  }

  test('Clip takes its bounds from attributes before opset 11 and constants after', () => {
    assert.deepEqual(activationOfNode(node('Clip', { min: 0, max: 6 }), 6, new Map()), {
      opType: 'Clip',
      params: [0, 6]
    });
    const constants = new Map([
      ['lo', Tensor.fromNumbers('float32', [], [0])],
      ['hi', Tensor.fromNumbers('float32', [], [6])]
    ]);
    const clip = activationOfNode(node('Clip', {}, ['x', 'lo', 'hi']), 13, constants);
    assert.deepEqual(clip, { opType: 'Clip', params: [0, 6] });
    assert.equal(activationMath(clip!).cpu(7.5), 6);
    assert.equal(
      activationOfNode(node('Clip', {}, ['x', 'lo', 'runtime']), 13, constants),
      undefined
    );
    assert.deepEqual(activationOfNode(node('Clip', {}, ['x']), 13, constants)?.params, [
      -Infinity,
      Infinity
    ]);
  });

  test('ops that are no activation are not fused, and bad parameters are refused', () => {
    assert.equal(activationOfNode(node('Exp'), 17, new Map()), undefined);
    assert.equal(activationOfNode(node('Add', {}, ['x', 'y']), 17, new Map()), undefined);
    assert.throws(() => activationMath({ opType: 'LeakyRelu', params: [] }), /takes 1 parameters/);
    assert.throws(
      () => readActivation({ ...node('F'), attributes: { activation: 'Exp' } }),
      /not one a layer can fuse/
    );
  });
});
