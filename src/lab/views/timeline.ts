/**
 * The profile as a trace viewer would show it (TensorBoard, chrome://tracing): one lane per
 * layer, the profiled iterations laid end to end on one time axis, each layer's block starting
 * where the layer before it in that iteration ended. Beside it trtexec's --dumpProfile table.
 */
import { latencySummary, type ProfileReport } from '../../engine';
import { formatMs, formatPercent, truncate } from './format';
import { IColumn, table } from './html';
import { h, IMarkup } from './markup';
import { axisTicks, codeTextWidth, horizontalAxis, hoverTitle, label, px, svgPicture } from './svg';
import { categorical, colors, css } from './theme';

type ProfiledLayer = ProfileReport['layers'][number];

export interface ITimelineBlock {
  iteration: number;
  startMs: number;
  endMs: number;
}

export interface ITimelineLayout {
  totalMs: number;
  iterations: { startMs: number; endMs: number }[];
  /** One per layer, in execution order. */
  lanes: { layer: ProfiledLayer; blocks: ITimelineBlock[] }[];
}

/** Where every layer of every iteration starts and ends, in ms from the first iteration's start. */
export function timelineLayout(profile: ProfileReport): ITimelineLayout {
  for (const layer of profile.layers) {
    if (layer.timesMs.length !== profile.iterations) {
      throw new Error(
        `profile of ${profile.source}: layer '${layer.name}' has ${layer.timesMs.length} times for ${profile.iterations} iterations`
      );
    }
  }
  const lanes: ITimelineLayout['lanes'] = profile.layers.map(layer => ({ layer, blocks: [] }));
  const iterations: ITimelineLayout['iterations'] = [];
  let clock = 0;
  for (let iteration = 0; iteration < profile.iterations; iteration++) {
    const startMs = clock;
    for (const lane of lanes) {
      const endMs = clock + lane.layer.timesMs[iteration];
      lane.blocks.push({ iteration, startMs: clock, endMs });
      clock = endMs;
    }
    iterations.push({ startMs, endMs: clock });
  }
  return { totalMs: clock, iterations, lanes };
}

/** The geometry the live view needs to zoom the time axis (see dom.ts). */
export const TIMELINE_GEOMETRY = {
  axisHeight: 26,
  laneHeight: 16,
  laneGap: 2,
  plotWidth: 720,
  maxLabelWidth: 220
} as const;

/** The time axis of the plot for the visible `domain` of ms, `width` px wide. */
export function timeAxis(domain: readonly [number, number], width: number): IMarkup {
  const { axisHeight } = TIMELINE_GEOMETRY;
  return horizontalAxis(axisTicks(domain, [0, width], 8), axisHeight - 1, 0, width, ' ms', 'above');
}

/**
 * `svg.jp-webtrt-timeline`: lane labels on the left; on the right the plot (`svg.jp-webtrt-plot`,
 * which clips what a zoom pushes out) with `g.jp-webtrt-lane` rows of `rect.jp-webtrt-block`, each
 * carrying its start and end in ms so that the live view can redraw them at any zoom.
 */
export function timelinePicture(profile: ProfileReport): IMarkup {
  const layout = timelineLayout(profile);
  const { axisHeight, laneHeight, laneGap, plotWidth, maxLabelWidth } = TIMELINE_GEOMETRY;
  const longestName = Math.max(...profile.layers.map(l => l.name.length), 8);
  const labelWidth = Math.min(codeTextWidth('x'.repeat(longestName), 10) + 16, maxLabelWidth);
  const labelChars = Math.floor((labelWidth - 16) / 6);
  const lanesHeight = layout.lanes.length * (laneHeight + laneGap);
  const toX = (ms: number) => (layout.totalMs > 0 ? (ms / layout.totalMs) * plotWidth : 0);
  const opColor = opSwatches(profile.layers);

  const laneLabels = layout.lanes.map(({ layer }, i) =>
    h(
      'g',
      { class: 'jp-webtrt-lane-label' },
      hoverTitle(layerDetails(layer)),
      label(
        labelWidth - 8,
        axisHeight + i * (laneHeight + laneGap) + laneHeight / 2,
        truncate(layer.name, labelChars),
        {
          anchor: 'end',
          code: true,
          size: 10
        }
      )
    )
  );
  const lanes = layout.lanes.map(({ layer, blocks }, i) => {
    const swatch = opColor.get(layer.opType) ?? categorical(0);
    // The blocks take their colour from the lane: one style a lane, not one a block.
    return h(
      'g',
      {
        class: 'jp-webtrt-lane',
        'data-layer': layer.name,
        transform: `translate(0,${i * (laneHeight + laneGap)})`,
        style: css({
          fill: swatch.fill,
          'fill-opacity': 0.7,
          stroke: swatch.stroke,
          'stroke-width': 0.5
        })
      },
      hoverTitle(layerDetails(layer)),
      h('rect', {
        class: 'jp-webtrt-lane-background',
        width: plotWidth,
        height: laneHeight,
        style: css({
          fill: i % 2 ? colors.borderFaint : 'none',
          'fill-opacity': 0.35,
          stroke: 'none'
        })
      }),
      blocks
        .filter(block => block.endMs > block.startMs)
        .map(block =>
          h(
            'rect',
            {
              class: 'jp-webtrt-block',
              'data-iteration': block.iteration,
              'data-start-ms': exactToTenthOfMicrosecond(block.startMs),
              'data-end-ms': exactToTenthOfMicrosecond(block.endMs),
              x: px(toX(block.startMs)),
              y: 1,
              width: px(Math.max(toX(block.endMs) - toX(block.startMs), 0.5)),
              height: laneHeight - 2
            },
            hoverTitle([
              `iteration ${block.iteration + 1}: ${formatMs(block.endMs - block.startMs)}, from ${formatMs(block.startMs)}`
            ])
          )
        )
    );
  });
  const iterationEdges = layout.iterations.slice(1).map(iteration =>
    h('line', {
      class: 'jp-webtrt-iteration-edge',
      'data-ms': iteration.startMs,
      x1: px(toX(iteration.startMs)),
      x2: px(toX(iteration.startMs)),
      y1: 0,
      y2: lanesHeight,
      style: css({ stroke: colors.inkFaint, 'stroke-dasharray': '2 3' })
    })
  );

  return svgPicture(
    'timeline',
    labelWidth + plotWidth + 8,
    axisHeight + lanesHeight,
    {
      'data-lanes': layout.lanes.length,
      'data-iterations': profile.iterations,
      'data-total-ms': layout.totalMs
    },
    h('g', { class: 'jp-webtrt-lane-labels' }, laneLabels),
    h(
      'svg',
      {
        class: 'jp-webtrt-time-axis',
        x: px(labelWidth),
        y: 0,
        width: plotWidth,
        height: axisHeight,
        overflow: 'hidden'
      },
      timeAxis([0, layout.totalMs], plotWidth)
    ),
    h(
      'svg',
      {
        class: 'jp-webtrt-plot',
        x: px(labelWidth),
        y: axisHeight,
        width: plotWidth,
        height: lanesHeight,
        overflow: 'hidden'
      },
      h('g', { class: 'jp-webtrt-lanes' }, lanes),
      h('g', { class: 'jp-webtrt-iteration-edges' }, iterationEdges)
    )
  );
}

/** A time for the live view to redraw a block at any zoom, without float noise in the file. */
function exactToTenthOfMicrosecond(ms: number): number {
  return Math.round(ms * 1e4) / 1e4;
}

/** One hue per op type, in the order op types first run. */
function opSwatches(layers: readonly ProfiledLayer[]): Map<string, ReturnType<typeof categorical>> {
  const swatches = new Map<string, ReturnType<typeof categorical>>();
  for (const layer of layers) {
    if (!swatches.has(layer.opType)) {
      swatches.set(layer.opType, categorical(swatches.size));
    }
  }
  return swatches;
}

function layerDetails(layer: ProfiledLayer): string[] {
  return [
    layer.name,
    `op: ${layer.opType}`,
    `precision: ${layer.precision}`,
    ...(layer.tactic ? [`tactic: ${layer.tactic}`] : []),
    `fused nodes: ${layer.fusedNodes.join(', ') || 'none'}`,
    `median: ${formatMs(layerTimes(layer).medianMs)}`
  ];
}

/** Median and mean of a layer's times (a profile of no iterations has neither: 0). */
function layerTimes(layer: ProfiledLayer): { medianMs: number; meanMs: number } {
  if (layer.timesMs.length === 0) {
    return { medianMs: 0, meanMs: 0 };
  }
  const { median, mean } = latencySummary(layer.timesMs);
  return { medianMs: median, meanMs: mean };
}

/** trtexec --dumpProfile: layers by median time, slowest first, with their share of the total. */
export function profileTable(profile: ProfileReport): IMarkup {
  const rows = profile.layers
    .map(layer => ({ layer, ...layerTimes(layer) }))
    .sort((a, b) => b.medianMs - a.medianMs);
  const totalMs = rows.reduce((sum, row) => sum + row.medianMs, 0);
  const columns: IColumn[] = [
    { label: 'layer', code: true },
    { label: 'op' },
    { label: 'precision' },
    { label: 'tactic', code: true },
    { label: 'median', numeric: true },
    { label: 'mean', numeric: true },
    { label: '% of total', numeric: true }
  ];
  return table(
    'profile-table',
    columns,
    rows.map(({ layer, medianMs, meanMs }) => [
      layer.name,
      layer.opType,
      layer.precision,
      layer.tactic ?? '',
      formatMs(medianMs),
      formatMs(meanMs),
      formatPercent(medianMs, totalMs)
    ]),
    i => ({ 'data-layer': rows[i].layer.name })
  );
}
