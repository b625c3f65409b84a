import { DataType, isFloat } from '../ir/dtype';
import { Graph, Node } from '../ir/graph';
import { sizeOf, Tensor } from '../ir/tensor';
import {
  computesAsFloat,
  Dispatch,
  GpuTensor,
  KernelContext,
  storageBytes
} from '../kernels/context';
import { InferInput, OpError, WebGpuKernel } from '../ops/types';
import { checkFeeds } from './feeds';
import { checkOutputCount, lastUses, PreparedNode, prepareNodes } from './prepare';
import { createStorageBuffer, download, fitsStorage, upload } from './transfer';
import { withPrelude } from '../kernels/wgsl';

/**
 * Where one node ran: on the GPU, on the CPU reference ops (with the reason), or nowhere
 * because its outputs follow from its inputs' shapes alone ('metadata': Shape, Size).
 */
export interface NodePlacement {
  node: string;
  opType: string;
  device: 'webgpu' | 'cpu' | 'metadata';
  reason?: string;
}

export interface NativeRunResult {
  outputs: Record<string, Tensor>;
  placements: NodePlacement[];
}

/** A value during a run: on the host, on the GPU, or both. */
interface Slot {
  host?: Tensor;
  gpu?: GpuTensor;
  dtype: DataType;
  /** Fed by the caller: data to compute on, never shape arithmetic. */
  fed?: boolean;
}

/**
 * The op-by-op baseline ("native" in the TF-TRT tutorials' tables): runs a graph node by
 * node on WebGPU, one kernel per node in float32, with no fusion and no memory planning.
 * Shape arithmetic on integer tensors stays on the host, and nodes the GPU cannot run
 * (no kernel, or an input type it does not store) run on the CPU reference ops.
 */
export class NativeExecutor {
  private readonly pipelines: PipelineCache;

  constructor(readonly device: GPUDevice) {
    this.pipelines = new PipelineCache(device);
  }

  async run(graph: Graph, feeds: Record<string, Tensor>): Promise<NativeRunResult> {
    const prepared = prepareNodes(graph);
    checkFeeds(graph, feeds);
    const slots = new Map<string, Slot>();
    for (const [name, tensor] of graph.initializers) {
      slots.set(name, { host: tensor, dtype: tensor.dtype });
    }
    for (const [name, tensor] of Object.entries(feeds)) {
      slots.set(name, { host: tensor, dtype: tensor.dtype, fed: true });
    }
    const last = lastUses(graph);
    const buffers = new BufferRefs();
    const errors = new PendingErrors();
    const placements: NodePlacement[] = [];
    try {
      for (let index = 0; index < prepared.length; index++) {
        const step = prepared[index];
        const { node } = step;
        const fromShapes = step.op.webgpu ? undefined : answerFromShapes(step, slots);
        const reason = fromShapes ? undefined : this.cpuReason(step, slots);
        placements.push({
          node: node.name,
          opType: node.opType,
          device: fromShapes ? 'metadata' : reason ? 'cpu' : 'webgpu',
          ...(reason ? { reason } : {})
        });
        const outputs =
          fromShapes ??
          (reason
            ? await this.runOnCpu(step, slots, errors)
            : await this.runOnGpu(step, slots, buffers, errors));
        checkOutputCount(step, outputs.length);
        step.node.outputs.forEach((name, i) => {
          if (name) {
            slots.set(name, outputs[i]);
            if (outputs[i].gpu) {
              buffers.retain(outputs[i].gpu!.buffer);
            }
          }
        });
        this.release(step, index, slots, last, buffers);
      }
      const outputs: Record<string, Tensor> = {};
      for (const { name } of graph.outputs) {
        outputs[name] = await this.toHost(name, slots, errors);
      }
      await errors.check();
      return { outputs, placements };
    } finally {
      buffers.destroyAll();
    }
  }

  /** Why `step` must run on the CPU, or undefined when it runs on the GPU. */
  private cpuReason(step: PreparedNode, slots: Map<string, Slot>): string | undefined {
    const kernel = step.op.webgpu;
    if (!kernel) {
      return 'no WebGPU kernel';
    }
    const inputs = step.node.inputs.map(name => (name ? slot(slots, name) : undefined));
    const deviceInputs = inputs.filter((_, i) => !step.hostInputs.includes(i));
    const shapeArithmetic = deviceInputs.every(s => !s || (!s.gpu && !s.fed && !isFloat(s.dtype)));
    if (shapeArithmetic && deviceInputs.some(s => s)) {
      return 'integer shape arithmetic runs on the host';
    }
    const wide = deviceInputs.find(s => s?.host && !s.gpu && !fitsStorage(s.host));
    if (wide) {
      return `${wide.dtype} values beyond the int32 range run on the CPU`;
    }
    const dtypes = inputs.map((s, i) => (s && !step.hostInputs.includes(i) ? s.dtype : undefined));
    return kernelDeclines(kernel, dtypes, step.attrs) ?? undefined;
  }

  private async runOnCpu(
    step: PreparedNode,
    slots: Map<string, Slot>,
    errors: PendingErrors
  ): Promise<Slot[]> {
    const inputs: (Tensor | undefined)[] = [];
    for (const name of step.node.inputs) {
      inputs.push(name ? await this.toHost(name, slots, errors) : undefined);
    }
    return step.op.cpu(inputs, step.attrs, step.ctx).map(host => ({ host, dtype: host.dtype }));
  }

  /**
   * Records and submits the node's kernel. Its error scopes are not awaited here (a
   * round trip per node): they are checked whenever the host next waits on the GPU.
   */
  private async runOnGpu(
    step: PreparedNode,
    slots: Map<string, Slot>,
    buffers: BufferRefs,
    errors: PendingErrors
  ): Promise<Slot[]> {
    const gpuInputs: (GpuTensor | undefined)[] = [];
    const hostInputs: (Tensor | undefined)[] = [];
    for (let i = 0; i < step.node.inputs.length; i++) {
      const name = step.node.inputs[i];
      if (!name) {
        gpuInputs.push(undefined);
        hostInputs.push(undefined);
      } else if (step.hostInputs.includes(i)) {
        gpuInputs.push(undefined);
        hostInputs.push(await this.toHost(name, slots, errors));
      } else {
        gpuInputs.push(this.toGpu(name, slots, buffers));
        hostInputs.push(undefined);
      }
    }
    const encoder = this.device.createCommandEncoder({ label: step.node.name });
    const context = this.kernelContext(step, encoder, buffers);
    this.device.pushErrorScope('validation');
    this.device.pushErrorScope('out-of-memory');
    let outputs: GpuTensor[] = [];
    let failure: unknown;
    try {
      outputs = step.op.webgpu!.run(context, gpuInputs, hostInputs, step.attrs);
      this.device.queue.submit([encoder.finish()]);
    } catch (error) {
      failure = error;
    }
    errors.watch(step.node, this.device.popErrorScope(), this.device.popErrorScope());
    if (failure) {
      throw failure instanceof OpError
        ? failure
        : new OpError(step.node, (failure as Error).message);
    }
    return outputs.map(gpu => ({ gpu, dtype: gpu.dtype }));
  }

  private kernelContext(
    step: PreparedNode,
    encoder: GPUCommandEncoder,
    buffers: BufferRefs
  ): KernelContext {
    const device = this.device;
    return {
      device,
      node: step.node,
      allocate: (dtype, shape) => {
        const size = sizeOf(shape);
        const buffer = createStorageBuffer(device, size, step.node.name);
        buffers.track(buffer);
        return { dtype, shape, size, buffer };
      },
      view: (tensor, shape, dtype) => viewOf(step.node, tensor, shape, dtype),
      dispatch: (dispatch: Dispatch) => {
        const pass = encoder.beginComputePass({ label: dispatch.label });
        encodeDispatch(pass, bindDispatch(device, this.pipelines, dispatch));
        pass.end();
      }
    };
  }

  private async toHost(
    name: string,
    slots: Map<string, Slot>,
    errors: PendingErrors
  ): Promise<Tensor> {
    const value = slot(slots, name);
    if (!value.host) {
      await errors.check();
      value.host = await download(this.device, value.gpu!);
    }
    return value.host;
  }

  private toGpu(name: string, slots: Map<string, Slot>, buffers: BufferRefs): GpuTensor {
    const value = slot(slots, name);
    if (!value.gpu) {
      value.gpu = upload(this.device, value.host!, name);
      buffers.track(value.gpu.buffer);
      buffers.retain(value.gpu.buffer);
    }
    return value.gpu;
  }

  /** Frees the GPU buffers of values no later node reads (views share one buffer). */
  private release(
    step: PreparedNode,
    index: number,
    slots: Map<string, Slot>,
    last: Map<string, number>,
    buffers: BufferRefs
  ): void {
    for (const name of [...step.node.inputs, ...step.node.outputs]) {
      if (name && (last.get(name) ?? -1) <= index) {
        const value = slots.get(name);
        if (value?.gpu) {
          buffers.releaseOne(value.gpu.buffer);
          value.gpu = undefined;
        }
      }
    }
  }
}

/**
 * Why `kernel` declines a node whose device inputs have these types (undefined: absent or
 * read on the host), or null when it runs them. Without its own rule, a kernel computes
 * on float inputs only.
 */
export function kernelDeclines<A>(
  kernel: WebGpuKernel<A>,
  dtypes: (DataType | undefined)[],
  attrs: A
): string | null {
  if (kernel.unsupported) {
    return kernel.unsupported(dtypes, attrs);
  }
  const other = dtypes.find(d => d !== undefined && !computesAsFloat(d));
  return other ? `${other} inputs run on the CPU` : null;
}

/** `tensor` under another shape (and maybe dtype), sharing its memory: KernelContext.view. */
export function viewOf(
  node: Node,
  tensor: GpuTensor,
  shape: readonly number[],
  dtype?: DataType
): GpuTensor {
  if (sizeOf(shape) !== tensor.size) {
    throw new OpError(node, `cannot view ${tensor.size} elements as shape [${shape.join(', ')}]`);
  }
  return { ...tensor, shape, dtype: dtype ?? tensor.dtype };
}

/** Compiled pipelines by WGSL source: nodes whose kernels generate the same code share one. */
export class PipelineCache {
  private readonly pipelines = new Map<string, GPUComputePipeline>();

  constructor(private readonly device: GPUDevice) {}

  get(dispatch: Dispatch): GPUComputePipeline {
    let pipeline = this.pipelines.get(dispatch.code);
    if (!pipeline) {
      const module = this.device.createShaderModule({
        label: dispatch.label,
        code: withPrelude(dispatch.code)
      });
      pipeline = this.device.createComputePipeline({
        label: dispatch.label,
        layout: 'auto',
        compute: { module, entryPoint: 'main' }
      });
      this.pipelines.set(dispatch.code, pipeline);
    }
    return pipeline;
  }
}

/** A dispatch with its pipeline compiled and its tensors bound, ready to encode any number of times. */
export interface BoundDispatch {
  label: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: readonly [number, number?, number?];
}

/** Binds each tensor of `dispatch` as exactly its own bytes of its buffer. */
export function bindDispatch(
  device: GPUDevice,
  pipelines: PipelineCache,
  dispatch: Dispatch
): BoundDispatch {
  const pipeline = pipelines.get(dispatch);
  const bindGroup = device.createBindGroup({
    label: dispatch.label,
    layout: pipeline.getBindGroupLayout(0),
    entries: dispatch.bindings.map((tensor, binding) => ({
      binding,
      // WebGPU binds no empty range: an empty tensor binds 4 bytes its shader never reads.
      resource: {
        buffer: tensor.buffer,
        offset: tensor.offset ?? 0,
        size: Math.max(4, storageBytes(tensor))
      }
    }))
  });
  return { label: dispatch.label, pipeline, bindGroup, workgroups: dispatch.workgroups };
}

export function encodeDispatch(pass: GPUComputePassEncoder, dispatch: BoundDispatch): void {
  pass.setPipeline(dispatch.pipeline);
  pass.setBindGroup(0, dispatch.bindGroup);
  const [x, y = 1, z = 1] = dispatch.workgroups;
  pass.dispatchWorkgroups(x, y, z);
}

/**
 * The outputs of a node that shape inference computes from its input shapes alone
 * (Shape, Size): no data is read, so inputs held on the GPU need not come back.
 */
function answerFromShapes(step: PreparedNode, slots: Map<string, Slot>): Slot[] | undefined {
  const inputs = step.node.inputs.map(name => (name ? slot(slots, name) : undefined));
  const types = inputs.map(s => s && { dtype: s.dtype, shape: [...(s.host ?? s.gpu!).shape] });
  let outputs: InferInput[];
  try {
    outputs = step.op.inferTypes(types, step.attrs, step.ctx);
  } catch {
    // Inference without input values may fail where the op itself would not: run it.
    return undefined;
  }
  if (!outputs.every(o => o.value)) {
    return undefined;
  }
  return outputs.map(o => ({ host: o.value!, dtype: o.value!.dtype }));
}

/**
 * The error scopes of submitted nodes, settled in the background and checked when the
 * host next waits on the GPU; the first error is thrown naming its node.
 */
export class PendingErrors {
  private pending: Promise<OpError | undefined>[] = [];

  watch(node: Node, outOfMemory: Promise<GPUError | null>, validation: Promise<GPUError | null>) {
    this.pending.push(
      Promise.all([outOfMemory, validation]).then(([memory, invalid]) => {
        const error = memory ?? invalid;
        return error
          ? new OpError(node, `WebGPU ${memory ? 'out of memory' : 'error'}: ${error.message}`)
          : undefined;
      })
    );
  }

  async check(): Promise<void> {
    const settled = await Promise.all(this.pending);
    this.pending = [];
    const first = settled.find(error => error);
    if (first) {
      throw first;
    }
  }
}

function slot(slots: Map<string, Slot>, name: string): Slot {
  const value = slots.get(name);
  if (!value) {
    throw new Error(`value '${name}' is read before any node produces it`);
  }
  return value;
}

/** Counts the values that hold each GPU buffer, destroying a buffer when none does. */
class BufferRefs {
  private readonly counts = new Map<GPUBuffer, number>();

  track(buffer: GPUBuffer): void {
    if (!this.counts.has(buffer)) {
      this.counts.set(buffer, 0);
    }
  }

  retain(buffer: GPUBuffer): void {
    this.counts.set(buffer, (this.counts.get(buffer) ?? 0) + 1);
  }

  releaseOne(buffer: GPUBuffer): void {
    const count = (this.counts.get(buffer) ?? 1) - 1;
    if (count <= 0) {
      this.counts.delete(buffer);
      buffer.destroy();
    } else {
      this.counts.set(buffer, count);
    }
  }

  destroyAll(): void {
    for (const buffer of this.counts.keys()) {
      buffer.destroy();
    }
    this.counts.clear();
  }
}
