import { Graph, ValueInfo } from '../ir/graph';

/**
 * The arithmetic an engine's layers may run in, as trtexec's flags choose it: 'fp32' (the
 * default), 'fp16' (--fp16: FP16 allowed beside FP32), 'int8' (--int8: INT8 allowed beside
 * FP32) and 'best' (--best: every precision allowed). Each layer runs in the fastest
 * precision it has a kernel for among those allowed: INT8 where the layer has an INT8 kernel
 * and `int8Scales` holds its input's scale, else FP16 wherever the layer's kernel declares
 * `halfStorage`, else FP32. With 'best' and tuning, `build` times INT8 layers against FP16
 * and holds those that FP16 runs faster to FP16.
 */
export type Precision = 'fp32' | 'fp16' | 'int8' | 'best';

/** The precision one layer is held to (TensorRT's ILayer::setPrecision). */
export type LayerPrecision = 'fp32' | 'fp16' | 'int8';

/** What `build` is asked for: TensorRT's IBuilderConfig, reduced to what webtrt honours. */
export interface BuilderConfig {
  precision: Precision;
  /**
   * Per-layer precision by ONNX node name, over what `precision` chooses. A name that a
   * fused layer was made from holds the whole layer ('fp32' wins when its nodes disagree).
   * A layer held to 'fp16' must have an FP16 kernel. Names no node of the graph has are an
   * error; nodes that passes removed (folded constants) are no error.
   */
  layerPrecisions?: Record<string, LayerPrecision>;
  /**
   * Per tensor name, its INT8 scale (amax / 127), as a calibration cache holds them: what
   * 'int8' and 'best' quantize activations with. Layers whose input has no scale stay in
   * FP16 / FP32. Explicit QuantizeLinear / DequantizeLinear in the graph carry their own.
   */
  int8Scales?: Record<string, number>;
  /**
   * The size of each graph input, by name. Required for inputs with symbolic or unknown
   * dims; an input that is left out keeps its declared (then fully fixed) shape.
   */
  shapes?: Record<string, number[]>;
  /** The most bytes kernels may hold beyond their outputs (TensorRT's workspace). */
  maxWorkspaceBytes?: number;
  /** 0 to 5 as in trtexec's --builderOptimizationLevel; recorded, no tactic search yet. */
  optimizationLevel?: number;
}

const PRECISIONS: readonly string[] = ['fp32', 'fp16', 'int8', 'best'];
const LAYER_PRECISIONS: readonly string[] = ['fp32', 'fp16', 'int8'];
/** trtexec's highest --builderOptimizationLevel. */
export const MAX_OPTIMIZATION_LEVEL = 5;

/** Throws for a configuration this builder cannot honour, naming the setting. */
export function checkConfig(config: BuilderConfig): void {
  if (!PRECISIONS.includes(config.precision)) {
    throw new Error(
      `precision must be one of ${PRECISIONS.map(p => `'${p}'`).join(', ')}, got '${String(config.precision)}'`
    );
  }
  for (const [layer, precision] of Object.entries(config.layerPrecisions ?? {})) {
    if (!LAYER_PRECISIONS.includes(precision)) {
      throw new Error(
        `layerPrecisions['${layer}'] must be 'fp32', 'fp16' or 'int8', got '${String(precision)}'`
      );
    }
  }
  for (const [tensor, scale] of Object.entries(config.int8Scales ?? {})) {
    if (!Number.isFinite(scale) || scale < 0) {
      throw new Error(
        `int8Scales['${tensor}'] must be a finite scale of 0 or more, got ${String(scale)}`
      );
    }
  }
  const { maxWorkspaceBytes, optimizationLevel } = config;
  if (
    maxWorkspaceBytes !== undefined &&
    (!Number.isSafeInteger(maxWorkspaceBytes) || maxWorkspaceBytes < 0)
  ) {
    throw new Error(
      `maxWorkspaceBytes must be a non-negative integer, got ${String(maxWorkspaceBytes)}`
    );
  }
  if (
    optimizationLevel !== undefined &&
    (!Number.isInteger(optimizationLevel) ||
      optimizationLevel < 0 ||
      optimizationLevel > MAX_OPTIMIZATION_LEVEL)
  ) {
    throw new Error(
      `optimizationLevel must be an integer from 0 to ${MAX_OPTIMIZATION_LEVEL}, got ${String(optimizationLevel)}`
    );
  }
}

/**
 * The graph's inputs with the concrete shapes the engine is built for: `shapes` where given
 * (which must agree with the declared rank and fixed sizes), the declared shape otherwise.
 */
export function resolveInputShapes(
  graph: Graph,
  shapes: Record<string, number[]> = {}
): ValueInfo[] {
  const names = new Set(graph.inputs.map(input => input.name));
  for (const name of Object.keys(shapes)) {
    if (!names.has(name)) {
      const known = [...names].map(n => `'${n}'`).join(', ') || 'none';
      throw new Error(
        `BuilderConfig.shapes names '${name}', which is not a graph input (inputs: ${known})`
      );
    }
  }
  return graph.inputs.map(input => {
    const given = shapes[input.name];
    const declared = input.shape;
    if (given) {
      if (!given.every(d => Number.isInteger(d) && d >= 0)) {
        throw new Error(
          `input '${input.name}': shape [${given.join(', ')}] is not a list of sizes`
        );
      }
      if (declared && declared.length !== given.length) {
        throw new Error(
          `input '${input.name}' has rank ${declared.length}, BuilderConfig.shapes gives [${given.join(', ')}]`
        );
      }
      declared?.forEach((dim, axis) => {
        if (typeof dim === 'number' && dim !== given[axis]) {
          throw new Error(
            `input '${input.name}' has size ${dim} in dim ${axis}, BuilderConfig.shapes gives ${given[axis]}`
          );
        }
      });
      return { ...input, shape: [...given] };
    }
    if (!declared) {
      throw new Error(
        `input '${input.name}' has an unknown shape: give it in BuilderConfig.shapes`
      );
    }
    const open = declared.findIndex(dim => typeof dim !== 'number');
    if (open >= 0) {
      const dim = declared[open];
      const what = dim === null ? 'unknown' : `symbolic ('${dim}')`;
      throw new Error(
        `input '${input.name}' dim ${open} is ${what}: give the input's shape in BuilderConfig.shapes`
      );
    }
    return { ...input, shape: [...declared] };
  });
}
