import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { PartitionGraph } from '../../src/engine';
import {
  IBox,
  IGraphLayout,
  layoutPartitionGraph,
  partitionGraphPicture
} from '../../src/lab/views/graph';
import { markupToString } from '../../src/lab/views/markup';
import { assertBoxesHoldTheirNodesOnly } from './boxes';
import { HOSTILE_NAME, modelOf, PPOCR_DETECTOR, SMALL_CNN, smallCnnFusedGraph } from './fixtures';
import { byClass, parseXml, textOf } from './xml';

function overlap(a: IBox, b: IBox): boolean {
  return (
    Math.abs(a.x - b.x) < (a.width + b.width) / 2 && Math.abs(a.y - b.y) < (a.height + b.height) / 2
  );
}

/** Whether `point` lies on the outline of `box`, within half a pixel. */
function onBorder(point: { x: number; y: number }, box: IBox): boolean {
  const dx = Math.abs(point.x - box.x) - box.width / 2;
  const dy = Math.abs(point.y - box.y) - box.height / 2;
  return dx <= 0.5 && dy <= 0.5 && (Math.abs(dx) <= 0.5 || Math.abs(dy) <= 0.5);
}

/** Every node inside the drawing with finite coordinates, and no two nodes on top of each other. */
function assertEveryNodePlaced(graph: PartitionGraph, layout: IGraphLayout): void {
  assert.equal(layout.nodes.length, graph.nodes.length);
  for (const node of layout.nodes) {
    for (const value of [node.x, node.y, node.width, node.height]) {
      assert.ok(Number.isFinite(value), `${node.id} has a finite box`);
    }
    assert.ok(
      node.x - node.width / 2 >= 0 && node.x + node.width / 2 <= layout.width,
      `${node.id} within the width`
    );
    assert.ok(
      node.y - node.height / 2 >= 0 && node.y + node.height / 2 <= layout.height,
      `${node.id} within the height`
    );
  }
  // Nodes of one rank sit side by side: sorting by y and comparing neighbours of each rank suffices.
  const byRank = new Map<number, IBox[]>();
  for (const node of layout.nodes) {
    byRank.set(node.y, [...(byRank.get(node.y) ?? []), node]);
  }
  for (const [, rank] of byRank) {
    const sorted = [...rank].sort((a, b) => a.x - b.x);
    for (let i = 1; i < sorted.length; i++) {
      assert.ok(!overlap(sorted[i - 1], sorted[i]), 'nodes of one rank do not overlap');
    }
  }
}

test("small_cnn's partition graph: every node placed, top to bottom along its edges", () => {
  const graph = modelOf(SMALL_CNN).partitions;
  const layout = layoutPartitionGraph(graph);
  assertEveryNodePlaced(graph, layout);
  const at = new Map(layout.nodes.map(node => [node.id, node]));
  assert.equal(layout.edges.length, graph.edges.length);
  for (const edge of layout.edges) {
    const from = at.get(edge.from)!;
    const to = at.get(edge.to)!;
    assert.ok(from.y < to.y, `${edge.from} above ${edge.to}`);
    assert.ok(onBorder(edge.points[0], from), 'an edge leaves from its producer');
    assert.ok(onBorder(edge.points[edge.points.length - 1], to), 'an edge ends at its consumer');
  }
});

test('a 330-node model (PP-OCRv4 detector) is laid out in well under two seconds, every node placed', () => {
  const graph = modelOf(PPOCR_DETECTOR).partitions;
  assert.ok(graph.nodes.length > 300, `${graph.nodes.length} nodes`);
  const started = performance.now();
  const layout = layoutPartitionGraph(graph);
  const elapsed = performance.now() - started;
  assertEveryNodePlaced(graph, layout);
  assert.ok(elapsed < 2000, `layout took ${elapsed.toFixed(0)} ms`);
});

test('nodes fused into one layer are boxed together, the box holding no other node', () => {
  const { graph, layers } = smallCnnFusedGraph();
  const layout = layoutPartitionGraph(graph);
  const fused = [...layers].filter(([, nodes]) => nodes.length > 1);
  assert.deepEqual(layout.clusters.map(c => c.layer).sort(), fused.map(([name]) => name).sort());
  assertBoxesHoldTheirNodesOnly(layout);
});

test('the picture: one shape per node, edge and fused layer, segments in their colours, inputs as pills', () => {
  const { graph } = smallCnnFusedGraph();
  const svg = parseXml(markupToString(partitionGraphPicture(graph)));
  assert.equal(svg.name, 'svg');
  assert.equal(svg.attrs['data-nodes'], String(graph.nodes.length));
  assert.equal(byClass(svg, 'jp-webtrt-node').length, graph.nodes.length);
  assert.equal(byClass(svg, 'jp-webtrt-edge').length, graph.edges.length);
  assert.equal(byClass(svg, 'jp-webtrt-cluster').length, Number(svg.attrs['data-layers']));
  const inputs = byClass(svg, 'jp-webtrt-node-input');
  assert.equal(inputs.length, 1);
  assert.equal(inputs[0].attrs['data-id'], 'input');
  assert.equal(byClass(svg, 'jp-webtrt-legend-entry').length, graph.segments.length + 2);
});

test('each engine segment has its own colour; fallback segments take the warning colour', () => {
  const graph: PartitionGraph = {
    segments: [
      { id: 'engine 0', kind: 'engine', nodes: 1 },
      {
        id: 'fallback 1',
        kind: 'fallback',
        nodes: 1,
        reason: 'NonMaxSuppression is not supported'
      },
      { id: 'engine 2', kind: 'engine', nodes: 1 }
    ],
    nodes: [
      { id: 'x', opType: 'Input', role: 'input' },
      { id: 'conv', opType: 'Conv', role: 'op', segment: 'engine 0' },
      { id: 'nms', opType: 'NonMaxSuppression', role: 'op', segment: 'fallback 1' },
      { id: 'gather', opType: 'Gather', role: 'op', segment: 'engine 2' },
      { id: 'y', opType: 'Output', role: 'output' }
    ],
    edges: [
      { from: 'x', to: 'conv', tensor: 'x' },
      { from: 'conv', to: 'nms', tensor: 'boxes' },
      { from: 'nms', to: 'gather', tensor: 'selected' },
      { from: 'gather', to: 'y', tensor: 'y' }
    ]
  };
  const svg = parseXml(markupToString(partitionGraphPicture(graph)));
  const fill = (id: string) => {
    const node = byClass(svg, 'jp-webtrt-node').find(n => n.attrs['data-id'] === id)!;
    const rect = node.children.find(c => typeof c !== 'string' && c.name === 'rect');
    assert.ok(rect && typeof rect !== 'string');
    return /fill:([^;]+)/.exec(rect.attrs.style)![1];
  };
  assert.notEqual(fill('conv'), fill('gather'));
  assert.match(fill('nms'), /--jp-warn-color1/);
  const nms = byClass(svg, 'jp-webtrt-node').find(n => n.attrs['data-id'] === 'nms')!;
  assert.match(textOf(nms), /NonMaxSuppression is not supported/);
});

test('names from the model are escaped in the picture', () => {
  const graph: PartitionGraph = {
    segments: [{ id: 'engine 0', kind: 'engine', nodes: 1 }],
    nodes: [
      { id: HOSTILE_NAME, opType: 'Input', role: 'input' },
      {
        id: `node ${HOSTILE_NAME}`,
        opType: HOSTILE_NAME,
        role: 'op',
        segment: 'engine 0',
        layer: HOSTILE_NAME
      }
    ],
    edges: [{ from: HOSTILE_NAME, to: `node ${HOSTILE_NAME}`, tensor: HOSTILE_NAME }]
  };
  const svg = parseXml(markupToString(partitionGraphPicture(graph)));
  const nodes = byClass(svg, 'jp-webtrt-node');
  assert.deepEqual(
    nodes.map(n => n.attrs['data-id']),
    [HOSTILE_NAME, `node ${HOSTILE_NAME}`]
  );
  assert.ok(textOf(nodes[1]).includes(`layer: ${HOSTILE_NAME}`));
});

test('an edge naming no node is an error that names the edge', () => {
  assert.throws(
    () =>
      layoutPartitionGraph({
        segments: [],
        nodes: [{ id: 'a', opType: 'Input', role: 'input' }],
        edges: [{ from: 'a', to: 'b', tensor: 't' }]
      }),
    /edge 't' from 'a' to 'b' names no node 'b'/
  );
});
