/** The two ways the command line runs a graph: WebGPU op by op, or the CPU reference ops. */
import {
  Backend,
  describeAdapter,
  Graph,
  NativeExecutor,
  NativeRunResult,
  runGraph,
  Tensor
} from './engine';
import { requestNodeDevice } from './gpu';

export type { Backend };
export const BACKENDS: readonly Backend[] = ['webgpu', 'cpu'];

export interface Runner {
  backend: Backend;
  /** What runs it: the adapter for webgpu. */
  description: string;
  run(graph: Graph, feeds: Record<string, Tensor>): Promise<NativeRunResult>;
  /** Why the runner can no longer run (its GPU device was lost), or undefined. */
  lostReason(): string | undefined;
  dispose(): void;
}

export function createRunner(backend: Backend): Promise<Runner> {
  return backend === 'cpu' ? Promise.resolve(cpuRunner()) : webgpuRunner();
}

function cpuRunner(): Runner {
  return {
    backend: 'cpu',
    description: 'CPU reference ops',
    run: (graph, feeds) => runGraph(graph, feeds, { backend: 'cpu' }),
    lostReason: () => undefined,
    dispose: () => undefined
  };
}

async function webgpuRunner(): Promise<Runner> {
  const device = await requestNodeDevice();
  // One executor for every run, so that repeated runs reuse its compiled pipelines.
  const executor = new NativeExecutor(device);
  let lost: string | undefined;
  void device.lost.then(info => {
    lost = `the WebGPU device was lost (${info.reason}): ${info.message}`;
  });
  return {
    backend: 'webgpu',
    description: describeAdapter(device.adapterInfo),
    run: (graph, feeds) => executor.run(graph, feeds),
    lostReason: () => lost,
    dispose: () => device.destroy()
  };
}
