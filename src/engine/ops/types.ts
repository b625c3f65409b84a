import { DataType } from '../ir/dtype';
import { Dim, Node, ValueType } from '../ir/graph';
import { Tensor } from '../ir/tensor';
import { GpuTensor, KernelContext } from '../kernels/context';

/** What shape inference knows of one input: its type and, for constants, its value. */
export interface InferInput extends ValueType {
  value?: Tensor;
  /**
   * The elements of a scalar or 1-D integer value known only in part, as dims: Shape of
   * ['batch', 3] is ['batch', 3]. Carries symbolic dims through exporters' shape
   * arithmetic (Shape, Gather, Concat, ...) into Reshape / Expand targets.
   */
  symbolicValue?: Dim[];
}

/** Where an op is being evaluated, for defaults that changed between opsets and for errors. */
export interface OpContext {
  /** The ai.onnx opset the model imports. */
  opset: number;
  node: Node;
}

/**
 * The WebGPU side of an op: one kernel per node, float32 arithmetic. Shapes are concrete
 * when it runs, so kernels bake them into the WGSL they generate.
 */
export interface WebGpuKernel<A> {
  /**
   * Reads and writes float16 tensors in f16 storage with readFloat/writeFloat. Only such
   * kernels run in FP16 in an engine (assignPrecision); the others stay FP32.
   */
  halfStorage?: boolean;
  /**
   * Inputs that stay float32 when the layer runs in FP16: per-channel dequantization scales,
   * whose float16 rounding (1e-3 relative) would shift whole channels.
   */
  float32Inputs?: readonly number[];
  /**
   * Binds one input tensor in more than one binding (Attention reading Q, K and V from one
   * packed tensor). An engine binds such a kernel's inputs read-only: writable bindings of a
   * dispatch must not overlap.
   */
  bindsInputTwice?: boolean;
  /**
   * The tactics this kernel can run the node with, by name (what it accepts as
   * KernelContext.tactic), its default first. With two or more the builder times each on
   * the device and keeps the fastest (kernel auto-tuning). `device`, where given, is the one
   * the layer runs on, for tactics that need one of its features. `optimizationLevel`, where
   * given, is the builder's: tactics that seldom win and are slow to compile are offered
   * only at the higher levels, as TensorRT's builder tries more tactics there; without it,
   * every tactic is offered.
   */
  tactics?(
    inputs: (GpuTensor | undefined)[],
    attrs: A,
    limits: GPUSupportedLimits,
    device?: GPUDevice,
    optimizationLevel?: number
  ): string[];
  /**
   * The attributes a tactic's speed depends on, for the timing cache's key; all of them
   * without it. Layers that differ only in a value their shaders bake in (an INT8 layer's
   * input scale) then share their tactics' timings, as TensorRT's timing cache keys a
   * layer by its shape and not its values.
   */
  timedAttributes?(attrs: A): unknown;
  /**
   * Why this node cannot run on the GPU with these input types (e.g. an integer dtype),
   * or null when it can. Without it, every non-host input must be float32. `shapes`, where
   * the caller knows them, lets a kernel decline shapes it gains nothing on.
   */
  unsupported?(
    inputs: (DataType | undefined)[],
    attrs: A,
    shapes?: (readonly Dim[] | undefined)[]
  ): string | null;
  run(
    ctx: KernelContext,
    inputs: (GpuTensor | undefined)[],
    hostInputs: (Tensor | undefined)[],
    attrs: A
  ): GpuTensor[];
}

/**
 * One ONNX operator, defined once: attributes with their per-opset defaults, type and
 * shape inference, the CPU reference (faithful to the ONNX spec; it is also the fallback
 * at run time) and the WebGPU kernel beside it.
 */
export interface OpDefinition<A = unknown> {
  opType: string;
  /** '' for ai.onnx (the default). */
  domain?: string;
  /** The oldest opset whose semantics this definition implements. */
  sinceVersion?: number;
  parseAttributes(ctx: OpContext): A;
  /**
   * Inputs whose values are needed on the host (shapes, axes, pads, scales): the GPU
   * executor keeps or reads them back there, and kernels get them as `hostInputs`.
   */
  hostInputs?(attrs: A): readonly number[];
  /**
   * Output types and shapes, given what is known of the inputs (shapes may be undefined
   * or hold symbols). An output may carry its `value` when it is known without running
   * (Shape of a static shape).
   */
  inferTypes(inputs: (InferInput | undefined)[], attrs: A, ctx: OpContext): InferInput[];
  cpu(inputs: (Tensor | undefined)[], attrs: A, ctx: OpContext): Tensor[];
  webgpu?: WebGpuKernel<A>;
}

/** An error about one node, carrying its name so messages can say where. */
export class OpError extends Error {
  constructor(node: Node, reason: string) {
    super(`node '${node.name}' (${node.opType}): ${reason}`);
    this.name = 'OpError';
  }
}

/** Raised for a node whose op (or op variant) the engine does not implement. */
export class UnsupportedOpError extends OpError {
  constructor(node: Node, reason: string) {
    super(node, reason);
    this.name = 'UnsupportedOpError';
  }
}
