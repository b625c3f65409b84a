/** Geometry checks of the partition graph's layer boxes, shared by the views' tests. */
import assert from 'node:assert/strict';

import type { IBox, IGraphLayout, IRect } from '../../src/lab/views/graph';

function rectOf(box: IBox): IRect {
  return {
    left: box.x - box.width / 2,
    right: box.x + box.width / 2,
    top: box.y - box.height / 2,
    bottom: box.y + box.height / 2
  };
}

function contains(outer: IRect, inner: IRect): boolean {
  return (
    inner.left >= outer.left &&
    inner.right <= outer.right &&
    inner.top >= outer.top &&
    inner.bottom <= outer.bottom
  );
}

function overlaps(a: IRect, b: IRect): boolean {
  return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
}

/** Whether the segment from `a` to `b` passes through `rect` (sampled every pixel or so). */
function crosses(a: { x: number; y: number }, b: { x: number; y: number }, rect: IRect): boolean {
  const steps = Math.ceil(Math.hypot(b.x - a.x, b.y - a.y)) + 1;
  for (let i = 0; i <= steps; i++) {
    const x = a.x + ((b.x - a.x) * i) / steps;
    const y = a.y + ((b.y - a.y) * i) / steps;
    if (x > rect.left && x < rect.right && y > rect.top && y < rect.bottom) {
      return true;
    }
  }
  return false;
}

/**
 * Every node drawn in a layer's box lies inside one of its rank rows; no other node touches a
 * row or the outline between rows.
 */
export function assertBoxesHoldTheirNodesOnly(layout: IGraphLayout): void {
  for (const { layer, rows } of layout.clusters) {
    for (const node of layout.nodes) {
      const rect = rectOf(node);
      if (node.cluster === layer) {
        assert.ok(
          rows.some(row => contains(row, rect)),
          `${node.id} inside the box of ${layer}`
        );
        continue;
      }
      assert.ok(!rows.some(row => overlaps(row, rect)), `${node.id} clear of the box of ${layer}`);
      for (let i = 1; i < rows.length; i++) {
        const [above, below] = [rows[i - 1], rows[i]];
        assert.ok(
          !crosses({ x: above.left, y: above.bottom }, { x: below.left, y: below.top }, rect) &&
            !crosses({ x: above.right, y: above.bottom }, { x: below.right, y: below.top }, rect),
          `the outline of ${layer} does not cross ${node.id}`
        );
      }
    }
  }
}
