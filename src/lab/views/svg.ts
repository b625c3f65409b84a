/** SVG parts shared by the pictures: the root, labels, hover titles, axes. */
import { scaleLinear } from 'd3-scale';

import { ChildArgument, h, IMarkup } from './markup';
import { colors, css, fonts } from './theme';

const DEFAULT_FONT_SIZE = 11;

/** Coordinates rounded to a tenth of a pixel: enough on screen, shorter in a saved notebook. */
export function px(value: number): number {
  return Math.round(value * 10) / 10;
}

/**
 * A picture: `svg.jp-webtrt-picture.jp-webtrt-<part>` at its natural size, scaled down with its
 * viewBox where it is shown narrower. Its text defaults (font, size, ink colour) are set once
 * here and inherited, which keeps large pictures small in a saved notebook.
 */
export function svgPicture(
  part: string,
  width: number,
  height: number,
  attrs: IMarkup['attrs'],
  ...children: ChildArgument[]
): IMarkup {
  return h(
    'svg',
    {
      class: `jp-webtrt-picture jp-webtrt-${part}`,
      width: px(width),
      height: px(height),
      viewBox: `0 0 ${px(width)} ${px(height)}`,
      style: css({
        'font-family': fonts.ui,
        'font-size': `${DEFAULT_FONT_SIZE}px`,
        fill: colors.ink,
        'max-width': '100%'
      }),
      ...attrs
    },
    ...children
  );
}

/** Approximate width of `text` in the code font at `size` px (its advance is 0.6 em). */
export function codeTextWidth(text: string, size = 11): number {
  return text.length * size * 0.6;
}

export interface ILabelOptions {
  anchor?: 'start' | 'middle' | 'end';
  color?: string;
  code?: boolean;
  size?: number;
  weight?: 'bold';
  /** Outlined in the background colour, to stay legible over lines drawn beneath it. */
  halo?: boolean;
}

/**
 * A line of text centred vertically on `y`. Only what differs from the picture's defaults
 * (see svgPicture) is written out.
 */
export function label(x: number, y: number, text: string, options: ILabelOptions = {}): IMarkup {
  const style: Record<string, string> = {};
  if (options.color && options.color !== colors.ink) {
    style.fill = options.color;
  }
  if (options.code) {
    style['font-family'] = fonts.code;
  }
  if (options.size && options.size !== DEFAULT_FONT_SIZE) {
    style['font-size'] = `${options.size}px`;
  }
  if (options.weight) {
    style['font-weight'] = options.weight;
  }
  if (options.halo) {
    Object.assign(style, { stroke: colors.paper, 'stroke-width': '3px', 'paint-order': 'stroke' });
  }
  return h(
    'text',
    {
      x: x === 0 ? undefined : px(x),
      y: y === 0 ? undefined : px(y),
      dy: '0.35em',
      'text-anchor': options.anchor === 'start' ? undefined : options.anchor,
      style: Object.keys(style).length > 0 ? css(style) : undefined
    },
    text
  );
}

/**
 * Hover details of the element that holds it, one fact a line: a saved picture shows them as
 * the browser's tooltip, the live view as its own (see dom.ts).
 */
export function hoverTitle(lines: readonly string[]): IMarkup {
  return h('title', {}, lines.join('\n'));
}

export interface ITick {
  value: number;
  position: number;
  /** The value in as many decimals as the step between ticks needs ("0.5", "1.0", "1.5"). */
  text: string;
}

/**
 * Ticks of a linear axis from `domain` onto `range`, at "nice" values (1, 2, 5 × 10^n).
 * Returned as positions so the live view can redraw an axis after a zoom with the same code.
 */
export function axisTicks(
  domain: readonly [number, number],
  range: readonly [number, number],
  count: number
): ITick[] {
  const scale = scaleLinear().domain(domain).range(range);
  const format = scale.tickFormat(count);
  return scale.ticks(count).map(value => ({ value, position: scale(value), text: format(value) }));
}

/** A horizontal axis at `y`: a baseline from x0 to x1 and labelled ticks above or below it. */
export function horizontalAxis(
  ticks: readonly ITick[],
  y: number,
  x0: number,
  x1: number,
  unit: string,
  side: 'above' | 'below' = 'below'
): IMarkup {
  const direction = side === 'below' ? 1 : -1;
  const stroke = css({ stroke: colors.border });
  return h(
    'g',
    { class: 'jp-webtrt-axis' },
    h('line', { x1: px(x0), x2: px(x1), y1: px(y), y2: px(y), style: stroke }),
    ticks.map(tick =>
      h(
        'g',
        { class: 'jp-webtrt-tick' },
        h('line', {
          x1: px(tick.position),
          x2: px(tick.position),
          y1: px(y),
          y2: px(y + 4 * direction),
          style: stroke
        }),
        label(tick.position, y + 11 * direction, tick.text + unit, {
          // Labels at the ends stay inside the axis instead of being cut in half.
          anchor: tick.position - x0 < 20 ? 'start' : x1 - tick.position < 20 ? 'end' : 'middle',
          color: colors.inkMuted,
          size: 10
        })
      )
    )
  );
}
