/**
 * A view as plain data: a tree of elements (HTML, and SVG inside an `svg` element) and text.
 * Every view is drawn once, as markup; the saved notebook gets it as an XML string (the
 * `text/html` and `image/svg+xml` pictures) and the live renderer turns the same tree into DOM
 * nodes (see dom.ts). Text and attribute values are data, never markup: the string form
 * escapes them and the DOM form sets them as text and attributes, so names from a user's
 * model cannot inject anything.
 */

export type MarkupChild = IMarkup | string;

export interface IMarkup {
  tag: string;
  /** Undefined values are left out. */
  attrs: Readonly<Record<string, string | number | undefined>>;
  children: readonly MarkupChild[];
}

/** Children as written at a call site: nested arrays are flattened, false/null/undefined dropped. */
export type ChildArgument = MarkupChild | false | null | undefined | readonly ChildArgument[];

export function h(
  tag: string,
  attrs: IMarkup['attrs'] = {},
  ...children: ChildArgument[]
): IMarkup {
  return { tag, attrs, children: flatten(children) };
}

function flatten(children: readonly ChildArgument[]): MarkupChild[] {
  const flat: MarkupChild[] = [];
  for (const child of children) {
    if (Array.isArray(child)) {
      flat.push(...flatten(child));
    } else if (child !== false && child !== null && child !== undefined) {
      flat.push(child as MarkupChild);
    }
  }
  return flat;
}

export const SVG_NAMESPACE = 'http://www.w3.org/2000/svg';

/**
 * The markup as XML that is also valid HTML: an empty HTML element is written open and closed
 * (`<td></td>`, since `<td/>` means an open tag in HTML), an empty SVG element self-closed;
 * the outermost `svg` declares its namespace so that the string stands alone as an SVG file.
 */
export function markupToString(node: IMarkup): string {
  return writeElement(node, false);
}

function writeElement(node: IMarkup, inSvg: boolean): string {
  const svg = inSvg || node.tag === 'svg';
  const attrs = { ...node.attrs };
  if (node.tag === 'svg' && !inSvg) {
    attrs.xmlns = SVG_NAMESPACE;
  }
  let open = `<${node.tag}`;
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== undefined) {
      open += ` ${name}="${escapeXml(String(value))}"`;
    }
  }
  if (node.children.length === 0 && svg) {
    return `${open}/>`;
  }
  const content = node.children
    .map(child => (typeof child === 'string' ? escapeXml(child) : writeElement(child, svg)))
    .join('');
  return `${open}>${content}</${node.tag}>`;
}

const XML_ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;'
};

/**
 * Escapes text for XML content and attribute values. Characters XML cannot hold at all (most
 * C0 controls, lone surrogates, U+FFFE/U+FFFF) become U+FFFD, so that a name with one of them
 * still leaves a well-formed picture.
 */
export function escapeXml(text: string): string {
  return text
    .replace(/[&<>"']/g, char => XML_ENTITIES[char])
    .replace(
      // eslint-disable-next-line no-control-regex
      /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g,
      '\uFFFD'
    );
}

/** The first element of the tree, in document order, that `matches`. */
export function findElement(
  node: IMarkup,
  matches: (element: IMarkup) => boolean
): IMarkup | undefined {
  if (matches(node)) {
    return node;
  }
  for (const child of node.children) {
    const found = typeof child === 'string' ? undefined : findElement(child, matches);
    if (found) {
      return found;
    }
  }
  return undefined;
}
