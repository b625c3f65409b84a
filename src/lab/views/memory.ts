/**
 * The memory plan, TensorRT's dynamic tensor memory: for each arena, every tensor a rectangle
 * spanning the execution steps it is alive (x) and the bytes it occupies (y, offset 0 at the
 * bottom). Rectangles never overlap; the gap between the highest one and the peak-live line
 * is what the planner could not reuse.
 */
import type { EngineMemory, MemoryPlan } from '../../engine';
import { counted, formatBytes, formatPercent } from './format';
import { facts } from './html';
import { h, IMarkup } from './markup';
import { axisTicks, horizontalAxis, hoverTitle, label, px, svgPicture } from './svg';
import { categorical, colors, css } from './theme';

const PLOT_WIDTH = 720;
const LEFT = 64;
const RIGHT = 12;
/** The tallest arena's height; the others are drawn at the same bytes per pixel. */
const MAX_ARENA_HEIGHT = 220;
const MIN_ARENA_HEIGHT = 48;
const ARENA_TITLE_HEIGHT = 22;
const STEP_AXIS_HEIGHT = 30;

/** "arena 80.0 KiB · tensors 160.3 KiB · peak live 64.0 KiB", with the ratios. */
export function memoryTotals(memory: EngineMemory): IMarkup {
  return facts([
    ['arena', formatBytes(memory.arenaBytes)],
    ['tensors (one buffer each)', formatBytes(memory.sumBytes)],
    ['peak live', formatBytes(memory.peakLiveBytes)],
    [
      'arena / tensors',
      `${formatPercent(memory.arenaBytes, memory.sumBytes)} (${counted(memory.arenas.length, 'arena')})`
    ]
  ]);
}

/**
 * `stepNames[i]` names the layer of step i (the engine's layers in execution order) for the
 * hover details; without it steps go by number.
 */
export function memoryPlanPicture(
  memory: EngineMemory,
  stepNames: readonly string[] = []
): IMarkup {
  const largest = Math.max(...memory.arenas.map(a => a.arenaBytes), 1);
  const pixelsPerByte = MAX_ARENA_HEIGHT / largest;
  let y = 0;
  const arenas = memory.arenas.map((plan, index) => {
    const plotHeight = Math.max(plan.arenaBytes * pixelsPerByte, MIN_ARENA_HEIGHT);
    const markup = arenaMarkup(plan, index, y, plotHeight, stepNames);
    y += ARENA_TITLE_HEIGHT + plotHeight + STEP_AXIS_HEIGHT;
    return markup;
  });
  return svgPicture(
    'memory-plan',
    LEFT + PLOT_WIDTH + RIGHT,
    y,
    { 'data-arenas': memory.arenas.length },
    arenas
  );
}

function arenaMarkup(
  plan: MemoryPlan,
  index: number,
  top: number,
  plotHeight: number,
  stepNames: readonly string[]
): IMarkup {
  const owners = plan.tensors.filter(t => t.aliasOf === undefined && t.bytes > 0);
  const steps = Math.max(stepNames.length, ...plan.tensors.map(t => t.lastStep + 1), 1);
  const stepWidth = PLOT_WIDTH / steps;
  const plotTop = top + ARENA_TITLE_HEIGHT;
  const bottom = plotTop + plotHeight;
  const scale = plotHeight / Math.max(plan.arenaBytes, 1);
  const stepName = (step: number) => (stepNames[step] ? `${step} (${stepNames[step]})` : `${step}`);
  const viewsOf = (name: string) => plan.tensors.filter(t => t.aliasOf === name).map(t => t.name);

  const tensors = owners.map((tensor, i) => {
    const height = Math.max(tensor.bytes * scale, 1);
    const views = viewsOf(tensor.name);
    return h(
      'rect',
      {
        class: 'jp-webtrt-tensor',
        'data-name': tensor.name,
        x: px(LEFT + tensor.firstStep * stepWidth),
        y: px(bottom - tensor.offset * scale - height),
        width: px(Math.max((tensor.lastStep - tensor.firstStep + 1) * stepWidth, 1)),
        height: px(height),
        style: css({
          fill: categorical(i % 8).fill,
          'fill-opacity': 0.45,
          stroke: categorical(i % 8).stroke,
          'stroke-width': 0.5
        })
      },
      hoverTitle([
        tensor.name,
        `${formatBytes(tensor.bytes)} at offset ${formatBytes(tensor.offset)}`,
        `written at step ${stepName(tensor.firstStep)}`,
        `last read at step ${stepName(tensor.lastStep)}`,
        ...(views.length ? [`viewed as ${views.join(', ')}`] : [])
      ])
    );
  });

  const peakY = bottom - plan.peakLiveBytes * scale;
  const byteTicks = axisTicks([0, plan.arenaBytes], [bottom, plotTop], 4);
  const stepTicks = axisTicks([0, steps], [LEFT, LEFT + PLOT_WIDTH], Math.min(steps, 12))
    .filter(tick => Number.isInteger(tick.value) && tick.value < steps)
    .map(tick => ({ ...tick, position: tick.position + stepWidth / 2 }));
  const line = css({ stroke: colors.border });

  return h(
    'g',
    {
      class: 'jp-webtrt-arena',
      'data-arena': index,
      'data-tensors': owners.length,
      'data-steps': steps
    },
    label(
      LEFT,
      top + ARENA_TITLE_HEIGHT / 2,
      `arena ${index}: ${formatBytes(plan.arenaBytes)} for ${counted(owners.length, 'tensor')} of ${formatBytes(plan.sumBytes)}, peak live ${formatBytes(plan.peakLiveBytes)}`,
      { weight: 'bold' }
    ),
    h('rect', {
      x: LEFT,
      y: px(plotTop),
      width: PLOT_WIDTH,
      height: px(plotHeight),
      style: css({ fill: 'none', stroke: colors.borderFaint })
    }),
    tensors,
    h(
      'g',
      { class: 'jp-webtrt-peak-live' },
      hoverTitle([`peak live: ${formatBytes(plan.peakLiveBytes)}, no arena can be smaller`]),
      h('line', {
        x1: LEFT,
        x2: LEFT + PLOT_WIDTH,
        y1: px(peakY),
        y2: px(peakY),
        style: css({ stroke: colors.error, 'stroke-dasharray': '5 3' })
      }),
      label(LEFT + PLOT_WIDTH - 4, peakY - 7, 'peak live', {
        anchor: 'end',
        color: colors.error,
        size: 10
      })
    ),
    h(
      'g',
      { class: 'jp-webtrt-axis' },
      h('line', { x1: LEFT, x2: LEFT, y1: px(plotTop), y2: px(bottom), style: line }),
      byteTicks.map(tick =>
        label(LEFT - 4, tick.position, formatBytes(tick.value), {
          anchor: 'end',
          color: colors.inkMuted,
          size: 10
        })
      )
    ),
    horizontalAxis(stepTicks, bottom, LEFT, LEFT + PLOT_WIDTH, ''),
    label(LEFT + PLOT_WIDTH, bottom + 22, 'execution step (layer) →', {
      anchor: 'end',
      color: colors.inkFaint,
      size: 10
    })
  );
}
