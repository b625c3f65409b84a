import { IRenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';
import { LabIcon } from '@jupyterlab/ui-components';
import { Panel, Widget } from '@lumino/widgets';

import { ConversionReport, counted, formatBytes, Report, reportMimeType } from '../engine';
import { reportBundle } from './bundle';
import { isConverted, ISessionModel } from './magics/context';
import { cachedShapes } from './views/conversion';
import type { WebtrtSession } from './session';

export const INSPECTOR_ID = 'jp-webtrt-inspector';

/** A GPU die with its pins: the sidebar's tab. */
export const webtrtIcon = new LabIcon({
  name: 'jupyterlab-webtrt:gpu',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16">' +
    '<g class="jp-icon3" fill="#616161">' +
    '<path d="M7 7h10v10H7zm2 2v6h6V9z"/>' +
    '<path d="M9 2h2v3H9zm4 0h2v3h-2zM9 19h2v3H9zm4 0h2v3h-2zM2 9h3v2H2zm0 4h3v2H2zm17-4h3v2h-3zm0 4h3v2h-3z"/>' +
    '</g></svg>'
});

/**
 * The sidebar inspector: the adapter, the engines and converted models built in this browser
 * tab, and for the selected engine its build summary (layers, partitions, memory) and its
 * last profile; for a converted model its segments and engine caches, then its conversion
 * summary. The views are the notebook's own renderers, so the sidebar and the cells show the
 * same thing.
 */
export class InspectorPanel extends Panel {
  constructor(
    private readonly session: WebtrtSession,
    private readonly rendermime: IRenderMimeRegistry
  ) {
    super();
    this.id = INSPECTOR_ID;
    this.title.icon = webtrtIcon;
    this.title.caption = 'webtrt inspector';
    this.addClass('jp-webtrt-inspector');
    for (const section of [this.adapter, this.engineList, this.details]) {
      this.addWidget(section);
    }
    this.adapter.addClass('jp-webtrt-inspector-adapter');
    this.engineList.addClass('jp-webtrt-inspector-engines');
    this.details.addClass('jp-webtrt-inspector-details');
    session.changed.connect(this.refresh, this);
    this.refresh();
  }

  /** Selects an engine or converted model by name (the newest when absent) and shows its details. */
  select(name?: string): void {
    this.selected = name;
    this.refresh();
  }

  dispose(): void {
    this.session.changed.disconnect(this.refresh, this);
    super.dispose();
  }

  private refresh(): void {
    this.renderAdapter();
    const engines = this.session.models;
    const selected =
      engines.find(entry => entry.name === this.selected) ?? engines[engines.length - 1];
    this.renderEngineList(engines, selected);
    void this.renderDetails(selected);
  }

  private renderAdapter(): void {
    const node = this.adapter.node;
    node.replaceChildren(heading('Adapter'));
    const report = this.session.deviceReport;
    if (report) {
      node.append(
        paragraph(
          `${report.vendor} ${report.architecture}`.trim() || 'unnamed adapter',
          'jp-webtrt-inspector-name'
        ),
        paragraph(report.description, 'jp-webtrt-inspector-muted')
      );
      const capabilities = document.createElement('ul');
      capabilities.className = 'jp-webtrt-inspector-capabilities';
      for (const { feature, meaning, present } of report.capabilities) {
        const item = document.createElement('li');
        item.className = present ? 'jp-mod-present' : 'jp-mod-absent';
        item.textContent = `${present ? '✓' : '✗'} ${feature}`;
        item.title = meaning;
        capabilities.append(item);
      }
      node.append(capabilities);
      return;
    }
    const error = this.session.deviceError;
    if (error) {
      node.append(paragraph(error, 'jp-webtrt-inspector-error'));
    }
    const connect = document.createElement('button');
    connect.className = 'jp-mod-styled jp-mod-accept';
    connect.textContent = 'Connect to the GPU';
    connect.onclick = () => {
      this.session.device().catch(() => undefined);
    };
    node.append(connect);
  }

  private renderEngineList(engines: readonly ISessionModel[], selected?: ISessionModel): void {
    const node = this.engineList.node;
    node.replaceChildren(heading(`Engines (${engines.length})`));
    if (engines.length === 0) {
      node.append(
        paragraph(
          'None built in this tab yet: run %trt convert model.onnx in a notebook.',
          'jp-webtrt-inspector-muted'
        )
      );
      return;
    }
    const list = document.createElement('ul');
    for (const entry of [...engines].reverse()) {
      const item = document.createElement('li');
      item.className = 'jp-webtrt-inspector-engine';
      item.classList.toggle('jp-mod-selected', entry === selected);
      item.dataset.name = entry.name;
      item.tabIndex = 0;
      const name = document.createElement('span');
      name.className = 'jp-webtrt-inspector-name';
      name.textContent = entry.name;
      const facts = document.createElement('span');
      facts.className = 'jp-webtrt-inspector-muted';
      facts.textContent = isConverted(entry)
        ? conversionFacts(entry.report)
        : `${entry.report.precision} · ${counted(entry.report.layers.length, 'layer')} · ` +
          `${formatBytes(entry.report.memory.arenaBytes)} activations` +
          (entry.profile ? ' · profiled' : '');
      item.append(name, facts);
      item.onclick = () => this.select(entry.name);
      item.onkeydown = event => {
        if (event.key === 'Enter' || event.key === ' ') {
          this.select(entry.name);
        }
      };
      list.append(item);
    }
    node.append(list);
  }

  private async renderDetails(selected?: ISessionModel): Promise<void> {
    const rendering = ++this.renderings;
    for (const widget of [...this.details.widgets]) {
      widget.dispose();
    }
    if (!selected) {
      return;
    }
    const reports: Report[] = [selected.report];
    if (isConverted(selected)) {
      this.details.addWidget(conversionDetails(selected.report));
    } else if (selected.profile) {
      reports.push(selected.profile);
    }
    for (const report of reports) {
      const mimeType = reportMimeType(report.kind);
      const renderer = this.rendermime.createRenderer(mimeType);
      const model = new MimeModel({ data: reportBundle(report) as MimeModel.IOptions['data'] });
      await renderer.renderModel(model);
      if (rendering !== this.renderings) {
        renderer.dispose();
        return;
      }
      this.details.addWidget(renderer);
    }
  }

  private selected: string | undefined;
  /** Counts refreshes, so that a slow render for an older selection is dropped. */
  private renderings = 0;
  private readonly adapter = new Widget();
  private readonly engineList = new Widget();
  private readonly details = new Panel();
}

/** "fp32 · 2 engines, 1 fallback · cache 3 hits, 2 misses". */
function conversionFacts(report: ConversionReport): string {
  const { segments } = report.partitions;
  const engines = segments.filter(segment => segment.kind === 'engine').length;
  const caches = report.engines.flatMap(row => (row.cache ? [row.cache] : []));
  const hits = caches.reduce((sum, cache) => sum + cache.hits, 0);
  const misses = caches.reduce((sum, cache) => sum + cache.misses, 0);
  return (
    `${report.precision} · ${counted(engines, 'engine')}, ` +
    `${counted(segments.length - engines, 'fallback')} · ` +
    `cache ${counted(hits, 'hit')}, ${counted(misses, 'miss', 'misses')}`
  );
}

/**
 * A converted model's segments (id, kind, nodes, why a fallback falls back) and each engine
 * segment's cache: its engines by input shapes with their hits, and the cache's counters.
 */
function conversionDetails(report: ConversionReport): Widget {
  const widget = new Widget();
  widget.addClass('jp-webtrt-inspector-conversion');
  const segments = document.createElement('ul');
  segments.className = 'jp-webtrt-inspector-segments';
  for (const segment of report.partitions.segments) {
    const item = document.createElement('li');
    item.dataset.segment = segment.id;
    item.dataset.kind = segment.kind;
    item.append(
      paragraph(segment.id, 'jp-webtrt-inspector-name'),
      paragraph(
        `${segment.kind === 'engine' ? 'WebGPU engine' : 'CPU fallback'} · ${counted(segment.nodes, 'node')}` +
          (segment.reason ? ` · ${segment.reason}` : ''),
        'jp-webtrt-inspector-muted'
      )
    );
    segments.append(item);
  }
  const caches = document.createElement('ul');
  caches.className = 'jp-webtrt-inspector-caches';
  for (const { segment, cache } of report.engines) {
    if (!cache) {
      continue;
    }
    const item = document.createElement('li');
    item.dataset.segment = segment;
    item.dataset.hits = String(cache.hits);
    item.dataset.misses = String(cache.misses);
    item.append(
      paragraph(segment, 'jp-webtrt-inspector-name'),
      paragraph(
        `${cache.entries.length}/${cache.capacity} cached · ${counted(cache.hits, 'hit')} · ` +
          `${counted(cache.misses, 'miss', 'misses')} · ${counted(cache.evictions, 'eviction')}`,
        'jp-webtrt-inspector-muted'
      )
    );
    const entries = document.createElement('ul');
    entries.className = 'jp-webtrt-inspector-cache-entries';
    for (const entry of cache.entries) {
      const line = document.createElement('li');
      line.textContent = `${cachedShapes(entry.shapes)}: ${counted(entry.hits, 'hit')}`;
      entries.append(line);
    }
    for (const { shapes, reason } of cache.failures) {
      const line = document.createElement('li');
      line.textContent = `${cachedShapes(shapes)}: on the CPU, no engine builds`;
      line.title = reason;
      entries.append(line);
    }
    item.append(entries);
    caches.append(item);
  }
  widget.node.append(heading('Segments'), segments, heading('Engine caches'), caches);
  return widget;
}

function heading(text: string): HTMLElement {
  const element = document.createElement('h3');
  element.className = 'jp-webtrt-inspector-heading';
  element.textContent = text;
  return element;
}

function paragraph(text: string, className: string): HTMLElement {
  const element = document.createElement('p');
  element.className = className;
  element.textContent = text;
  return element;
}
