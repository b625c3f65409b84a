/**
 * Colours of the pictures. Theme colours are JupyterLab's CSS variables with a light-theme
 * fallback: in the notebook they follow the theme (light or dark), and a saved picture opened
 * elsewhere (no variables defined) still reads. They go into `style` attributes, since SVG
 * presentation attributes do not take `var()`. Categorical colours (segments, tensors, modes)
 * are fills at low opacity over a saturated stroke, legible on light and dark backgrounds.
 */

export const colors = {
  ink: 'var(--jp-ui-font-color1, #212121)',
  inkMuted: 'var(--jp-ui-font-color2, #616161)',
  inkFaint: 'var(--jp-ui-font-color3, #9e9e9e)',
  paper: 'var(--jp-layout-color1, #ffffff)',
  border: 'var(--jp-border-color1, #bdbdbd)',
  borderFaint: 'var(--jp-border-color2, #e0e0e0)',
  brand: 'var(--jp-brand-color1, #1976d2)',
  warn: 'var(--jp-warn-color1, #f57c00)',
  error: 'var(--jp-error-color1, #d32f2f)'
} as const;

export const fonts = {
  ui: 'var(--jp-ui-font-family, system-ui, sans-serif)',
  code: 'var(--jp-code-font-family, monospace)'
} as const;

/** A `style` attribute from CSS properties (camelCase names are not used: write them as CSS). */
export function css(properties: Record<string, string | number>): string {
  return Object.entries(properties)
    .map(([name, value]) => `${name}:${value}`)
    .join(';');
}

/**
 * Hues far from the warning orange, so that an engine segment never looks like a fallback,
 * in an order where neighbours differ most.
 */
const HUES = [210, 135, 280, 175, 330, 95, 245, 60];

export interface ISwatch {
  fill: string;
  stroke: string;
}

/** The warning colour's band of hues, which the categorical colours step over. */
const ORANGE = { from: 15, to: 50 };

/** The `index`-th categorical colour; past the list, hues keep turning by the golden angle. */
export function categorical(index: number): ISwatch {
  const turned =
    index < HUES.length ? HUES[index] : (HUES[index % HUES.length] + 137.5 * index) % 360;
  const hue =
    turned > ORANGE.from && turned < ORANGE.to ? turned + (ORANGE.to - ORANGE.from) : turned;
  return { fill: `hsl(${hue.toFixed(0)}, 65%, 50%)`, stroke: `hsl(${hue.toFixed(0)}, 60%, 42%)` };
}

/** What runs on the CPU: the warning colour. */
export const fallbackSwatch: ISwatch = { fill: colors.warn, stroke: colors.warn };

/** A shape tinted with a swatch: a translucent fill inside a full-strength outline. */
export function swatchStyle(swatch: ISwatch): string {
  return css({ fill: swatch.fill, 'fill-opacity': 0.25, stroke: swatch.stroke });
}
