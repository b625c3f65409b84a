import { IRenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';
import { LabIcon } from '@jupyterlab/ui-components';
import { Panel, Widget } from '@lumino/widgets';

import { formatBytes, reportMimeType } from '../engine';
import { reportBundle } from './bundle';
import type { ISessionEngine } from './magics/context';
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
 * The sidebar inspector: the adapter, the engines built in this browser tab, and for the
 * selected engine its build summary (layers, partitions, memory) and its last profile. The
 * views are the notebook's own renderers, so the sidebar and the cells show the same thing.
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

  /** Selects an engine by name (the newest when absent) and shows its details. */
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
    const engines = this.session.engines;
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

  private renderEngineList(engines: readonly ISessionEngine[], selected?: ISessionEngine): void {
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
      const { report } = entry;
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
      facts.textContent =
        `${report.precision} · ${report.layers.length} layers · ` +
        `${formatBytes(report.memory.arenaBytes)} activations` +
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

  private async renderDetails(selected?: ISessionEngine): Promise<void> {
    const rendering = ++this.renderings;
    for (const widget of [...this.details.widgets]) {
      widget.dispose();
    }
    if (!selected) {
      return;
    }
    const reports = selected.profile ? [selected.report, selected.profile] : [selected.report];
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
