/** The HTML parts every view is made of: the view's frame, sections, fields and tables. */
import { ChildArgument, h, IMarkup } from './markup';

/** The outermost element of a view: `.jp-webtrt-view.jp-webtrt-<kind>`. */
export function viewFrame(kind: string, ...children: ChildArgument[]): IMarkup {
  return h('div', { class: `jp-webtrt-view jp-webtrt-${kind}`, 'data-kind': kind }, ...children);
}

/** A titled part of a view: `.jp-webtrt-section.jp-webtrt-<part>`. */
export function section(part: string, title: string, ...children: ChildArgument[]): IMarkup {
  return h(
    'section',
    { class: `jp-webtrt-section jp-webtrt-${part}` },
    h('div', { class: 'jp-webtrt-section-title' }, title),
    ...children
  );
}

/** A line of labelled facts: "label value · label value". */
export function facts(entries: readonly [string, ChildArgument][]): IMarkup {
  return h(
    'div',
    { class: 'jp-webtrt-facts' },
    entries.map(([label, value]) =>
      h(
        'span',
        { class: 'jp-webtrt-fact' },
        h('span', { class: 'jp-webtrt-label' }, label),
        ' ',
        value
      )
    )
  );
}

export interface IColumn {
  label: string;
  /** Right-aligned in tabular figures. */
  numeric?: boolean;
  /** In the code font: names of layers, tensors, ops. */
  code?: boolean;
}

/** A table whose rows have one cell per column; each row may carry attributes. */
export function table(
  part: string,
  columns: readonly IColumn[],
  rows: readonly (readonly ChildArgument[])[],
  rowAttrs: (index: number) => IMarkup['attrs'] = () => ({})
): IMarkup {
  const cellClass = (column: IColumn) =>
    [column.numeric && 'jp-webtrt-number', column.code && 'jp-webtrt-code']
      .filter(Boolean)
      .join(' ') || undefined;
  return h(
    'table',
    { class: `jp-webtrt-table jp-webtrt-${part}`, 'data-rows': rows.length },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        columns.map(c => h('th', { class: cellClass(c) }, c.label))
      )
    ),
    h(
      'tbody',
      {},
      rows.map((cells, i) =>
        h(
          'tr',
          rowAttrs(i),
          cells.map((cell, j) => h('td', { class: cellClass(columns[j]) }, cell))
        )
      )
    )
  );
}

/** A short coloured tag: `.jp-webtrt-badge[data-tone]`. */
export function badge(tone: 'ok' | 'warn' | 'error', text: string): IMarkup {
  return h('span', { class: 'jp-webtrt-badge', 'data-tone': tone }, text);
}

/** A name in the code font. */
export function code(text: string): IMarkup {
  return h('code', { class: 'jp-webtrt-code' }, text);
}
