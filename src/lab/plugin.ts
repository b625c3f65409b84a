import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';
import { INotebookCellExecutor, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { TrtCellExecutor } from './executor';
import { ContentsFiles } from './files';
import { WebtrtSession } from './session';
import { readSettings } from './settings';
import { InspectorPanel } from './sidebar';
import { IWebtrtSession } from './tokens';

const SETTINGS_ID = 'jupyterlab-webtrt:plugin';

/** JupyterLab's commands that interrupt a notebook's kernel: they stop its `%trt` cells too. */
const INTERRUPT_COMMANDS = new Set(['notebook:interrupt-kernel', 'kernelmenu:interrupt']);

const CommandIDs = {
  openInspector: 'webtrt:open-inspector',
  connectGpu: 'webtrt:connect-gpu',
  releaseEngines: 'webtrt:release-engines'
} as const;

/** The WebGPU device, engines and settings of this browser tab. */
export const sessionPlugin: JupyterFrontEndPlugin<WebtrtSession> = {
  id: SETTINGS_ID,
  description: "The WebGPU device, the engines built in this tab and webtrt's settings.",
  autoStart: true,
  requires: [ISettingRegistry],
  provides: IWebtrtSession,
  activate: async (_app: JupyterFrontEnd, registry: ISettingRegistry): Promise<WebtrtSession> => {
    const settings = await registry.load(SETTINGS_ID);
    const session = new WebtrtSession(readSettings(settings));
    settings.changed.connect(() => {
      session.settings = readSettings(settings);
    });
    return session;
  }
};

/**
 * Runs `%trt` / `%%trt` cells in the browser and every other cell as JupyterLab does
 * (JupyterLab's own executor, `@jupyterlab/notebook-extension:cell-executor`, is disabled in
 * package.json so that this one provides the token).
 */
export const executorPlugin: JupyterFrontEndPlugin<INotebookCellExecutor> = {
  id: 'jupyterlab-webtrt:cell-executor',
  description: 'Runs %trt and %%trt cells on WebGPU in the browser; other cells go to the kernel.',
  autoStart: true,
  requires: [IWebtrtSession],
  provides: INotebookCellExecutor,
  activate: (app: JupyterFrontEnd, session: WebtrtSession): INotebookCellExecutor => {
    // A cell's notebook path comes with its session; files are relative to its folder.
    const executor = new TrtCellExecutor(({ sessionContext }) => ({
      files: new ContentsFiles(
        app.serviceManager.contents,
        PathExt.dirname(sessionContext?.path ?? '')
      ),
      session,
      settings: session.settings
    }));
    app.commands.commandExecuted.connect((_, { id }) => {
      const current = app.shell.currentWidget;
      if (INTERRUPT_COMMANDS.has(id) && current instanceof NotebookPanel && current.model) {
        executor.interrupt(current.model);
      }
    });
    return executor;
  }
};

/** The sidebar inspector and the palette's webtrt commands. */
export const inspectorPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-webtrt:inspector',
  description: 'A sidebar with the adapter and the engines built in this tab.',
  autoStart: true,
  requires: [IWebtrtSession, IRenderMimeRegistry],
  optional: [ICommandPalette, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    session: WebtrtSession,
    rendermime: IRenderMimeRegistry,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null
  ): void => {
    const panel = new InspectorPanel(session, rendermime);
    app.shell.add(panel, 'left', { rank: 700 });
    restorer?.add(panel, panel.id);

    app.commands.addCommand(CommandIDs.openInspector, {
      label: 'Show webtrt Inspector',
      caption: 'The adapter and the engines built in this browser tab',
      execute: () => app.shell.activateById(panel.id)
    });
    app.commands.addCommand(CommandIDs.connectGpu, {
      label: 'Connect webtrt to the GPU',
      caption: 'Ask the browser for a WebGPU adapter and show what it offers',
      execute: async () => {
        app.shell.activateById(panel.id);
        await session.device().catch(() => undefined);
      }
    });
    app.commands.addCommand(CommandIDs.releaseEngines, {
      label: 'Release webtrt Engines',
      caption:
        'Free the GPU memory of every engine and converted model built in this tab (plans on disk stay)',
      isEnabled: () => session.models.length > 0,
      execute: () => session.releaseEngines()
    });
    session.changed.connect(() => app.commands.notifyCommandChanged(CommandIDs.releaseEngines));
    for (const command of Object.values(CommandIDs)) {
      palette?.addItem({ command, category: 'webtrt' });
    }
  }
};
