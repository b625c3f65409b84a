/**
 * The partition graph: the model's ONNX nodes laid out top to bottom (dagre), each tinted by
 * its segment (every engine segment its own hue, fallback segments in the warning colour),
 * the nodes fused into one engine layer boxed together under the layer's name, graph inputs
 * and outputs drawn as pills. The picture of TF-TRT's segmentation and TensorRT's fusion.
 */
import dagre from '@dagrejs/dagre';

import type { PartitionGraph, Segment } from '../../engine';
import { counted, truncate } from './format';
import { badge, section } from './html';
import { h, IMarkup } from './markup';
import { codeTextWidth, hoverTitle, label, px, svgPicture } from './svg';
import { categorical, colors, css, fallbackSwatch, fonts, ISwatch, swatchStyle } from './theme';

type GraphNode = PartitionGraph['nodes'][number];

export interface IPoint {
  x: number;
  y: number;
}

/** A box by its centre, as dagre places it. */
export interface IBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface IRect {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

export interface IGraphLayout {
  width: number;
  height: number;
  /** `cluster`: the layer whose box holds the node, if any. */
  nodes: (GraphNode & IBox & { label: string; cluster?: string })[];
  /**
   * One per engine layer of two nodes or more, folded ones included: the extent of its nodes
   * in each rank they occupy, top to bottom. Outlined rank by rank, the box hugs a layer that
   * bends (a residual Add beside its Conv) instead of covering the branch beside it.
   */
  clusters: { layer: string; rows: IRect[] }[];
  edges: (PartitionGraph['edges'][number] & { points: IPoint[] })[];
}

const NODE_HEIGHT = 24;
/** The gap between ranks, where only edges run. */
const RANK_SEPARATION = 28;
const NODE_FONT_SIZE = 11;
const NODE_PADDING = 10;
const LABEL_CHARS = 28;
const CLUSTER_LABEL_SIZE = 10;

/** The text a node shows: its op, or for a graph input or output the tensor's name. */
function nodeLabel(node: GraphNode): string {
  return truncate(node.role === 'op' ? node.opType : node.id, LABEL_CHARS);
}

/**
 * In a segment that built engines compute (some of its nodes have layers), an op node without
 * a layer: the builder folded it into a neighbour (a BatchNormalization into its Conv) or
 * eliminated it. Nodes of a fallback segment have no layer and are not folded.
 */
function isFolded(node: GraphNode, layeredSegments: ReadonlySet<string>): boolean {
  return (
    node.role === 'op' &&
    node.layer === undefined &&
    node.segment !== undefined &&
    layeredSegments.has(node.segment)
  );
}

/** The segments whose nodes are tagged with the engine layers computing them. */
function layeredSegments(graph: PartitionGraph): Set<string> {
  return new Set(
    graph.nodes.flatMap(node =>
      node.layer !== undefined && node.segment !== undefined ? [node.segment] : []
    )
  );
}

/** Appends `value` to the list under `key`. */
function addTo<K, V>(lists: Map<K, V[]>, key: K, value: V): void {
  const list = lists.get(key);
  if (list) {
    list.push(value);
  } else {
    lists.set(key, [value]);
  }
}

/**
 * Places every node, fused-layer box and edge. Dagre's layered layout is near-linear in
 * practice: a 300-node model takes a few hundred milliseconds. Fused layers are not dagre
 * clusters (its compound layout is several times slower and spends two ranks on every box);
 * instead the edges inside a layer's box weigh more, which keeps them in one straight
 * column, and the box is drawn around its nodes.
 */
export function layoutPartitionGraph(graph: PartitionGraph): IGraphLayout {
  const byId = new Map(graph.nodes.map(node => [node.id, node]));
  for (const edge of graph.edges) {
    for (const end of [edge.from, edge.to]) {
      if (!byId.has(end)) {
        throw new Error(
          `partition graph: the edge '${edge.tensor}' from '${edge.from}' to '${edge.to}' names no node '${end}'`
        );
      }
    }
  }
  const clusterOf = layerBoxes(graph);
  const layout = new dagre.graphlib.Graph({ multigraph: true });
  layout.setGraph({
    rankdir: 'TB',
    nodesep: 16,
    ranksep: RANK_SEPARATION,
    edgesep: 8,
    marginx: 8,
    marginy: 8
  });
  for (const node of graph.nodes) {
    const text = nodeLabel(node);
    layout.setNode(node.id, {
      width: Math.max(codeTextWidth(text, NODE_FONT_SIZE) + 2 * NODE_PADDING, 44),
      height: NODE_HEIGHT
    });
  }
  graph.edges.forEach((edge, i) => {
    const cluster = clusterOf.get(edge.from);
    const insideBox = cluster !== undefined && cluster === clusterOf.get(edge.to);
    layout.setEdge(edge.from, edge.to, { weight: insideBox ? 8 : 1 }, String(i));
  });
  dagre.layout(layout);

  const nodes = graph.nodes.map(node => ({
    ...node,
    ...boxOf(layout.node(node.id)),
    label: nodeLabel(node),
    cluster: clusterOf.get(node.id)
  }));
  const clusters = [...new Set(clusterOf.values())].map(layer => ({
    layer,
    rows: rankRows(nodes.filter(node => node.cluster === layer))
  }));
  const { width = 0, height = 0 } = layout.graph();
  return {
    width,
    height: Math.max(height, ...clusters.map(c => c.rows[c.rows.length - 1].bottom + 8)),
    nodes,
    clusters,
    edges: graph.edges.map((edge, i) => ({
      ...edge,
      points: layout.edge(edge.from, edge.to, String(i)).points.map(({ x, y }) => ({ x, y }))
    }))
  };
}

/**
 * The layer whose box each node is drawn in: its own layer, or for a node the builder folded
 * away, the layer of the node it was folded into (its producer's: a BatchNormalization goes
 * into the Conv before it). Only layers of two nodes or more get a box.
 */
function layerBoxes(graph: PartitionGraph): Map<string, string> {
  const layered = layeredSegments(graph);
  const producers = new Map<string, string[]>();
  for (const edge of graph.edges) {
    addTo(producers, edge.to, edge.from);
  }
  const byId = new Map(graph.nodes.map(node => [node.id, node]));
  const hostOf = new Map<string, string | undefined>();
  const host = (id: string): string | undefined => {
    if (!hostOf.has(id)) {
      hostOf.set(id, undefined); // a cycle, were there one, ends here
      const node = byId.get(id);
      hostOf.set(
        id,
        node?.layer ??
          (node && isFolded(node, layered)
            ? (producers.get(id) ?? []).map(host).find(layer => layer !== undefined)
            : undefined)
      );
    }
    return hostOf.get(id);
  };
  const members = new Map<string, string[]>();
  for (const node of graph.nodes) {
    const layer = host(node.id);
    if (layer !== undefined) {
      addTo(members, layer, node.id);
    }
  }
  const boxes = new Map<string, string>();
  for (const [layer, ids] of members) {
    if (ids.length > 1) {
      ids.forEach(id => boxes.set(id, layer));
    }
  }
  return boxes;
}

function boxOf(placed: IBox): IBox {
  return { x: placed.x, y: placed.y, width: placed.width, height: placed.height };
}

/** Room around a layer's nodes: the top of its first rank holds the layer's name. */
const CLUSTER_PADDING = { side: 6, top: 15, around: 5 };

/**
 * The padded extent of `boxes` in each rank (each y) they occupy, top to bottom. Rows of
 * neighbouring ranks meet halfway across the gap between them, where only edges run, so the
 * outline steps from one to the next; rows further apart are joined by a slanted outline.
 */
function rankRows(boxes: readonly IBox[]): IRect[] {
  const ranks = [...new Set(boxes.map(box => box.y))].sort((a, b) => a - b);
  const rows = ranks.map((y, i) => {
    const inRank = boxes.filter(box => box.y === y);
    return {
      left: Math.min(...inRank.map(b => b.x - b.width / 2)) - CLUSTER_PADDING.side,
      right: Math.max(...inRank.map(b => b.x + b.width / 2)) + CLUSTER_PADDING.side,
      top:
        Math.min(...inRank.map(b => b.y - b.height / 2)) -
        (i === 0 ? CLUSTER_PADDING.top : CLUSTER_PADDING.around),
      bottom: Math.max(...inRank.map(b => b.y + b.height / 2)) + CLUSTER_PADDING.around
    };
  });
  for (let i = 1; i < rows.length; i++) {
    const [above, below] = [rows[i - 1], rows[i]];
    if (below.top - above.bottom < NODE_HEIGHT + RANK_SEPARATION) {
      above.bottom = below.top = (above.bottom + below.top) / 2;
    }
  }
  return rows;
}

/** Each segment's colour: engine segments in turn through the hues, fallbacks in one colour. */
function segmentSwatches(segments: readonly Segment[]): Map<string, ISwatch> {
  const swatches = new Map<string, ISwatch>();
  let engines = 0;
  for (const segment of segments) {
    swatches.set(segment.id, segment.kind === 'engine' ? categorical(engines++) : fallbackSwatch);
  }
  return swatches;
}

const LEGEND_ROW_HEIGHT = 18;

/**
 * The partition graph as an SVG picture: `svg.jp-webtrt-graph` whose `g.jp-webtrt-viewport`
 * holds the drawing (the live view pans and zooms it) under a legend that stays in place.
 */
export function partitionGraphPicture(graph: PartitionGraph): IMarkup {
  const layout = layoutPartitionGraph(graph);
  const context: IGraphContext = {
    graph,
    swatches: segmentSwatches(graph.segments),
    layeredSegments: layeredSegments(graph)
  };
  const legendWidth = Math.max(layout.width, 360);
  const legend = graphLegend(context, legendWidth);
  const width = Math.max(layout.width, legendWidth);
  return svgPicture(
    'graph',
    width,
    legend.height + layout.height,
    {
      'data-nodes': graph.nodes.length,
      'data-edges': graph.edges.length,
      'data-segments': graph.segments.length,
      'data-layers': layout.clusters.length
    },
    h(
      'g',
      { class: 'jp-webtrt-viewport' },
      h(
        'g',
        { transform: `translate(0,${legend.height})` },
        h(
          'g',
          {
            class: 'jp-webtrt-edges',
            style: css({
              color: colors.inkFaint,
              fill: 'none',
              stroke: 'currentColor',
              'stroke-width': 1.2
            })
          },
          layout.edges.map(edgeMarkup)
        ),
        h('g', { class: 'jp-webtrt-clusters' }, layout.clusters.map(clusterMarkup)),
        h(
          'g',
          {
            class: 'jp-webtrt-nodes',
            style: css({ 'font-family': fonts.code, 'font-size': `${NODE_FONT_SIZE}px` }),
            'text-anchor': 'middle'
          },
          layout.nodes.map(node => nodeMarkup(node, context))
        )
      )
    ),
    legend.markup
  );
}

/**
 * A layer's box: down its left side rank by rank, up its right side. Between ranks the
 * outline runs through the gap that holds only edges, so it crosses no node.
 */
function clusterMarkup(cluster: IGraphLayout['clusters'][number]): IMarkup {
  const { rows } = cluster;
  const outline = [
    ...rows.flatMap(row => [`${px(row.left)},${px(row.top)}`, `${px(row.left)},${px(row.bottom)}`]),
    ...[...rows]
      .reverse()
      .flatMap(row => [`${px(row.right)},${px(row.bottom)}`, `${px(row.right)},${px(row.top)}`])
  ];
  const [first] = rows;
  const maxChars = Math.floor((first.right - first.left - 8) / (CLUSTER_LABEL_SIZE * 0.6));
  return h(
    'g',
    { class: 'jp-webtrt-cluster', 'data-layer': cluster.layer },
    hoverTitle([`layer ${cluster.layer}`]),
    h('polygon', {
      points: outline.join(' '),
      style: css({
        fill: 'none',
        stroke: colors.inkFaint,
        'stroke-dasharray': '4 3',
        'stroke-linejoin': 'round'
      })
    }),
    label(first.left + 5, first.top + 7, truncate(cluster.layer, Math.max(maxChars, 4)), {
      code: true,
      size: CLUSTER_LABEL_SIZE,
      color: colors.inkMuted,
      halo: true
    })
  );
}

/** An edge drawn in the colour its group sets (currentColor), so that it carries no style. */
function edgeMarkup(edge: IGraphLayout['edges'][number]): IMarkup {
  const points = edge.points;
  return h(
    'g',
    { class: 'jp-webtrt-edge' },
    hoverTitle([`tensor ${edge.tensor}`, `${edge.from} → ${edge.to}`]),
    h('path', { d: smoothPath(points) }),
    h('polygon', {
      points: arrowHead(points[points.length - 2], points[points.length - 1]),
      fill: 'currentColor'
    })
  );
}

/** A curve through dagre's bend points: straight to each midpoint, bent around each point. */
function smoothPath(points: readonly IPoint[]): string {
  const at = (p: IPoint) => `${px(p.x)},${px(p.y)}`;
  if (points.length < 3) {
    return `M${points.map(at).join('L')}`;
  }
  let d = `M${at(points[0])}`;
  for (let i = 1; i < points.length - 1; i++) {
    const next = points[i + 1];
    const middle = { x: (points[i].x + next.x) / 2, y: (points[i].y + next.y) / 2 };
    d += `Q${at(points[i])} ${at(i === points.length - 2 ? next : middle)}`;
  }
  return d;
}

/** A small triangle pointing from `from` to `tip`, its tip on the target node's border. */
function arrowHead(from: IPoint, tip: IPoint): string {
  const angle = Math.atan2(tip.y - from.y, tip.x - from.x);
  const corner = (turn: number) =>
    `${px(tip.x - 7 * Math.cos(angle + turn))},${px(tip.y - 7 * Math.sin(angle + turn))}`;
  return `${px(tip.x)},${px(tip.y)} ${corner(0.4)} ${corner(-0.4)}`;
}

/** What drawing a node needs to know of the whole graph. */
interface IGraphContext {
  graph: PartitionGraph;
  swatches: Map<string, ISwatch>;
  layeredSegments: ReadonlySet<string>;
}

function nodeMarkup(node: IGraphLayout['nodes'][number], context: IGraphContext): IMarkup {
  const isTensor = node.role !== 'op';
  const folded = isFolded(node, context.layeredSegments);
  const swatch = node.segment !== undefined ? context.swatches.get(node.segment) : undefined;
  const shapeStyle = isTensor
    ? css({ fill: colors.paper, stroke: colors.ink, 'stroke-width': 1.2 })
    : folded || !swatch
      ? css({
          fill: colors.paper,
          stroke: swatch?.stroke ?? colors.border,
          'stroke-dasharray': '3 2'
        })
      : swatchStyle(swatch);
  const kind = folded ? 'folded' : node.role;
  return h(
    'g',
    {
      class: `jp-webtrt-node jp-webtrt-node-${kind}`,
      'data-id': node.id,
      'data-segment': node.segment,
      'data-layer': node.layer,
      transform: `translate(${px(node.x)},${px(node.y)})`
    },
    hoverTitle(nodeDetails(node, context)),
    h('rect', {
      x: px(-node.width / 2),
      y: -NODE_HEIGHT / 2,
      width: px(node.width),
      height: NODE_HEIGHT,
      rx: isTensor ? NODE_HEIGHT / 2 : 4,
      style: shapeStyle
    }),
    // Font and anchor come from the nodes' group.
    label(0, 0, node.label, { color: folded ? colors.inkMuted : colors.ink })
  );
}

function nodeDetails(node: GraphNode, { graph, layeredSegments }: IGraphContext): string[] {
  if (node.role !== 'op') {
    return [`graph ${node.role} ${node.id}`];
  }
  const segment = graph.segments.find(s => s.id === node.segment);
  const lines = [node.id, `op: ${node.opType}`];
  if (segment) {
    lines.push(
      `segment: ${segment.id} (${segment.kind === 'engine' ? 'WebGPU engine' : 'CPU fallback'})`
    );
    if (segment.reason) {
      lines.push(`why: ${segment.reason}`);
    }
  }
  if (node.layer !== undefined) {
    lines.push(`layer: ${node.layer}`);
  } else if (isFolded(node, layeredSegments)) {
    lines.push('layer: none, the builder folded it into a neighbour or eliminated it');
  }
  return lines;
}

/** Legend entries laid in rows no wider than `width`. */
function graphLegend(
  { graph, swatches, layeredSegments }: IGraphContext,
  width: number
): { markup: IMarkup; height: number } {
  const entries: {
    text: string;
    swatch: string;
    shape: 'box' | 'pill' | 'cluster';
    hover: string[];
  }[] = graph.segments.map(segment => ({
    text: `${segment.id} · ${counted(segment.nodes, 'node')}`,
    swatch: swatchStyle(swatches.get(segment.id) ?? fallbackSwatch),
    shape: 'box',
    hover: [
      `${segment.id}: ${segment.kind === 'engine' ? 'runs on WebGPU as one engine' : 'runs on the CPU reference ops'}`,
      ...(segment.reason ? [segment.reason] : [])
    ]
  }));
  entries.push({
    text: 'graph input / output',
    swatch: css({ fill: colors.paper, stroke: colors.ink }),
    shape: 'pill',
    hover: ['a tensor the model takes or gives']
  });
  if (graph.nodes.some(node => isFolded(node, layeredSegments))) {
    entries.push({
      text: 'folded away by the builder',
      swatch: css({ fill: colors.paper, stroke: colors.border, 'stroke-dasharray': '3 2' }),
      shape: 'box',
      hover: ['folded into a neighbouring layer or eliminated: no layer computes it']
    });
  }
  if (layeredSegments.size > 0) {
    entries.push({
      text: 'nodes fused into one layer',
      swatch: css({ fill: 'none', stroke: colors.inkFaint, 'stroke-dasharray': '4 3' }),
      shape: 'cluster',
      hover: ['the engine computes these ONNX nodes in one layer']
    });
  }
  const items: IMarkup[] = [];
  let x = 8;
  let row = 0;
  for (const entry of entries) {
    const entryWidth = 22 + entry.text.length * 6.2 + 16;
    if (x > 8 && x + entryWidth > width) {
      x = 8;
      row++;
    }
    const y = 8 + row * LEGEND_ROW_HEIGHT;
    items.push(
      h(
        'g',
        { class: 'jp-webtrt-legend-entry', transform: `translate(${px(x)},${y})` },
        hoverTitle(entry.hover),
        h('rect', {
          width: 16,
          height: 12,
          rx: entry.shape === 'pill' ? 6 : entry.shape === 'cluster' ? 3 : 2,
          style: entry.swatch
        }),
        label(22, 6, entry.text, { color: colors.inkMuted })
      )
    );
    x += entryWidth;
  }
  const height = 8 + (row + 1) * LEGEND_ROW_HEIGHT + 6;
  return {
    height,
    markup: h(
      'g',
      { class: 'jp-webtrt-legend' },
      h('rect', {
        width: px(width),
        height,
        style: css({ fill: colors.paper, 'fill-opacity': 0.9 })
      }),
      items
    )
  };
}

/** The partitions part of the model and engine views: the segments in a line, then the graph. */
export function partitionsSection(graph: PartitionGraph): IMarkup {
  const engines = graph.segments.filter(s => s.kind === 'engine').length;
  const fallbacks = graph.segments.length - engines;
  return section(
    'partitions',
    'Partitions',
    h(
      'div',
      { class: 'jp-webtrt-segments', 'data-engines': engines, 'data-fallbacks': fallbacks },
      `${counted(engines, 'engine segment')}, ${counted(fallbacks, 'fallback segment')}`,
      graph.segments
        .filter(s => s.reason)
        .map(s =>
          h('div', { class: 'jp-webtrt-segment-reason' }, badge('warn', s.id), ' ', s.reason ?? '')
        )
    ),
    h('div', { class: 'jp-webtrt-graph-frame' }, partitionGraphPicture(graph))
  );
}
