/**
 * Numbers as the views print them: the engine's formats, so that a view and the text form of
 * the same report say the same, and the few that only the views need.
 */
export { counted, formatBytes, formatCount, formatMs, formatValue } from '../../engine';

export function formatPercent(part: number, whole: number): string {
  return whole > 0 ? `${((100 * part) / whole).toFixed(1)}%` : '–';
}

/** "[1, 3, 32, 32]", symbolic dims by name; "?" for an unknown rank. */
export function formatShape(shape: readonly (number | string)[] | undefined): string {
  return shape ? `[${shape.join(', ')}]` : '?';
}

/** `text` cut to `max` characters with an ellipsis, for labels in fixed space. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(max - 1, 1))}…`;
}
