/**
 * The live side of the views: markup turned into DOM nodes, and what a saved picture cannot
 * do added on top: a styled hover card instead of the browser's tooltip, pan and zoom of the
 * partition graph, zoom along time of the timeline, a button that resets either.
 */
import { scaleLinear } from 'd3-scale';
import { select } from 'd3-selection';
import { D3ZoomEvent, zoom, ZoomBehavior, zoomIdentity } from 'd3-zoom';

import { IMarkup, SVG_NAMESPACE } from './markup';
import { timeAxis } from './timeline';

/**
 * DOM nodes for `markup`: elements inside an `svg` in the SVG namespace, text as text nodes,
 * attributes set one by one. Nothing is parsed from a string.
 */
export function markupToDom(markup: IMarkup, document: Document, inSvg = false): Element {
  const svg = inSvg || markup.tag === 'svg';
  const element = svg
    ? document.createElementNS(SVG_NAMESPACE, markup.tag)
    : document.createElement(markup.tag);
  for (const [name, value] of Object.entries(markup.attrs)) {
    if (value !== undefined) {
      element.setAttribute(name, String(value));
    }
  }
  for (const child of markup.children) {
    element.append(
      typeof child === 'string' ? document.createTextNode(child) : markupToDom(child, document, svg)
    );
  }
  return element;
}

/** Makes the pictures of a rendered view interactive; `root` is the view's outermost element. */
export function enhanceView(root: HTMLElement): void {
  attachHoverCards(root);
  root.querySelectorAll<SVGSVGElement>('svg.jp-webtrt-graph').forEach(enablePanAndZoom);
  root.querySelectorAll<SVGSVGElement>('svg.jp-webtrt-timeline').forEach(enableTimeZoom);
}

/**
 * Every SVG `title` becomes the `data-tooltip` of the element it describes, shown in a card
 * that follows the pointer. The card of an element lists its own details and those of the
 * elements around it (a timeline block: its time, then its layer's details).
 */
function attachHoverCards(root: HTMLElement): void {
  root.querySelectorAll('svg title').forEach(title => {
    title.parentElement?.setAttribute('data-tooltip', title.textContent ?? '');
    title.remove();
  });
  const card = root.ownerDocument.createElement('div');
  card.className = 'jp-webtrt-tooltip';
  card.hidden = true;
  root.append(card);

  root.addEventListener('pointermove', event => {
    const lines: string[] = [];
    for (
      let element = event.target instanceof Element ? event.target.closest('[data-tooltip]') : null;
      element && root.contains(element);
      element = element.parentElement?.closest('[data-tooltip]') ?? null
    ) {
      lines.push(element.getAttribute('data-tooltip') ?? '');
    }
    if (lines.length === 0) {
      card.hidden = true;
      return;
    }
    card.textContent = lines.join('\n\n');
    card.hidden = false;
    const frame = root.getBoundingClientRect();
    const left = Math.min(event.clientX - frame.left + 14, frame.width - card.offsetWidth - 4);
    card.style.left = `${Math.max(left, 0)}px`;
    card.style.top = `${event.clientY - frame.top + 14}px`;
  });
  root.addEventListener('pointerleave', () => (card.hidden = true));
}

/** A "Reset view" button placed before `picture`. */
function addResetButton(picture: SVGSVGElement, reset: () => void): void {
  const button = picture.ownerDocument.createElement('button');
  button.type = 'button';
  button.className = 'jp-webtrt-zoom-reset';
  button.textContent = 'Reset view';
  button.title = 'Back to the whole picture (wheel zooms, drag pans)';
  button.addEventListener('click', reset);
  picture.before(button);
}

/**
 * Calls `then` once `element` has a width: an output is rendered before it is on the page,
 * and one in a hidden panel gets its width only when the panel is shown.
 */
function whenLaidOut(element: Element, then: () => void): void {
  const observer = new ResizeObserver(entries => {
    if (entries.some(entry => entry.contentRect.width > 0)) {
      observer.disconnect();
      then();
    }
  });
  observer.observe(element);
}

const GRAPH_VIEW_HEIGHT = 560;

/**
 * The graph in a frame as wide as the output and at most GRAPH_VIEW_HEIGHT tall: the wheel
 * zooms, dragging pans, the legend stays put. It opens fitted to the frame's width, its top
 * in view.
 */
function enablePanAndZoom(picture: SVGSVGElement): void {
  const viewport = picture.querySelector<SVGGElement>('.jp-webtrt-viewport');
  if (!viewport) {
    return;
  }
  const width = Number(picture.getAttribute('width'));
  const height = Number(picture.getAttribute('height'));
  picture.removeAttribute('viewBox');
  picture.setAttribute('width', '100%');
  picture.setAttribute('height', String(Math.min(height, GRAPH_VIEW_HEIGHT)));
  picture.classList.add('jp-webtrt-zoomable');

  const behavior: ZoomBehavior<SVGSVGElement, unknown> = zoom<SVGSVGElement, unknown>()
    .scaleExtent([0.05, 4])
    .on('zoom', (event: D3ZoomEvent<SVGSVGElement, unknown>) => {
      viewport.setAttribute('transform', event.transform.toString());
    });
  const selection = select(picture).call(behavior);
  const fit = () => {
    const frameWidth = picture.clientWidth;
    const scale = Math.min(1, frameWidth / width);
    selection.call(
      behavior.transform,
      zoomIdentity.translate((frameWidth - width * scale) / 2, 0).scale(scale)
    );
  };
  addResetButton(picture, fit);
  whenLaidOut(picture, fit);
}

/**
 * Zoom along time only: the wheel over the plot zooms around the pointer, dragging pans, and
 * every block, iteration edge and the axis are redrawn from their times in ms.
 */
function enableTimeZoom(picture: SVGSVGElement): void {
  const plot = picture.querySelector<SVGSVGElement>('svg.jp-webtrt-plot');
  const axis = picture.querySelector<SVGSVGElement>('svg.jp-webtrt-time-axis');
  if (!plot || !axis) {
    return;
  }
  const plotWidth = Number(plot.getAttribute('width'));
  const plotHeight = Number(plot.getAttribute('height'));
  const totalMs = Number(picture.getAttribute('data-total-ms'));
  const time = scaleLinear().domain([0, totalMs]).range([0, plotWidth]);
  const blocks = [...plot.querySelectorAll<SVGRectElement>('rect.jp-webtrt-block')].map(rect => ({
    rect,
    startMs: Number(rect.getAttribute('data-start-ms')),
    endMs: Number(rect.getAttribute('data-end-ms'))
  }));
  const edges = [...plot.querySelectorAll<SVGLineElement>('line.jp-webtrt-iteration-edge')].map(
    line => ({ line, ms: Number(line.getAttribute('data-ms')) })
  );

  const behavior = zoom<SVGSVGElement, unknown>()
    // Zoomed in until a microsecond spans the plot, never out past the whole run.
    .scaleExtent([1, Math.max(totalMs * 1000, 1)])
    .extent([
      [0, 0],
      [plotWidth, plotHeight]
    ])
    .translateExtent([
      [0, 0],
      [plotWidth, plotHeight]
    ])
    .on('zoom', (event: D3ZoomEvent<SVGSVGElement, unknown>) => {
      const x = event.transform.rescaleX(time);
      for (const { rect, startMs, endMs } of blocks) {
        const left = x(startMs);
        rect.setAttribute('x', left.toFixed(2));
        rect.setAttribute('width', Math.max(x(endMs) - left, 0.5).toFixed(2));
      }
      for (const { line, ms } of edges) {
        line.setAttribute('x1', x(ms).toFixed(2));
        line.setAttribute('x2', x(ms).toFixed(2));
      }
      const [from, to] = x.domain();
      axis.replaceChildren(markupToDom(timeAxis([from, to], plotWidth), axis.ownerDocument, true));
    });
  const selection = select(plot).call(behavior);
  addResetButton(picture, () => selection.call(behavior.transform, zoomIdentity));
}
