/**
 * INT8 layers, TensorRT's two ways:
 *
 * - implicit quantization: with precision 'int8' or 'best', a Conv or GEMM layer whose input
 *   has a scale in `int8Scales` (a calibration cache) runs on an INT8 kernel;
 * - explicit quantization: a layer whose input is DequantizeLinear(QuantizeLinear(x, s), s)
 *   (symmetric int8, one scale) runs on an INT8 kernel with that scale whatever the
 *   precision, reading x itself: the pair's rounding is what the kernel does as it loads x.
 *
 * Weights must be constant; they are quantized per output channel by their largest
 * magnitude (weights that explicit DequantizeLinear made were folded to float32 before this
 * pass; quantized again they come back exact when their scales were max-abs ones, as
 * symmetric quantizers make them). Layers held to 'fp32' or 'fp16' stay. Every layer that
 * could have run in INT8 but does not says why in the pass's changes.
 */
import { Graph, Node } from '../../ir/graph';
import { Tensor } from '../../ir/tensor';
import { Attributes } from '../../ops/attributes';
import { prepareNode } from '../../runtime/prepare';
import { quantizeWeightsPerChannel } from '../../quant/weights';
import { BuilderConfig, LayerPrecision } from '../config';
import { Pass, rewriteGraph } from '../pass';
import { graphOutputNames, onlyReadBy, producersOf, readersOf, ValueNames } from './values';

/** The op types of INT8 layers (domain 'webtrt'). */
const INT8_OPS = ['Int8Conv', 'Int8MatMul'];

/** Whether `node` is a layer this pass made: it computes in INT8. */
export function isInt8Layer(node: Pick<Node, 'opType' | 'domain'>): boolean {
  return node.domain === 'webtrt' && INT8_OPS.includes(node.opType);
}

/**
 * The precision layerPrecisions holds `node` to, by its name or any it was fused from; when
 * they disagree the widest wins ('fp32', then 'fp16', then 'int8').
 */
export function heldPrecision(
  node: Node,
  overrides: Record<string, LayerPrecision>
): LayerPrecision | undefined {
  const held = new Set(
    [node.name, ...(node.fusedFrom ?? [])].map(name => overrides[name]).filter(Boolean)
  );
  return (['fp32', 'fp16', 'int8'] as const).find(precision => held.has(precision));
}

/** Where a layer's input scale comes from. */
interface InputScale {
  scale: number;
  /** The value the INT8 layer reads: the tensor itself, before any explicit Q/DQ. */
  source: string;
  /**
   * The explicit QuantizeLinear and DequantizeLinear the layer computes now, named among
   * the nodes it was fused from; dead-node elimination removes those nothing else reads.
   */
  absorbed: Node[];
}

/** What the rewrite of one layer needs from the graph around it. */
interface QuantizeContext {
  graph: Graph;
  config: BuilderConfig;
  producers: Map<string, Node>;
  readers: Map<string, Node[]>;
  outputs: Set<string>;
  names: ValueNames;
  initializers: Map<string, Tensor>;
}

export function quantizeLayers(config: BuilderConfig): Pass {
  const pass: Pass = graph => {
    const context: QuantizeContext = {
      graph,
      config,
      producers: producersOf(graph),
      readers: readersOf(graph),
      outputs: graphOutputNames(graph),
      names: new ValueNames(graph),
      initializers: new Map(graph.initializers)
    };
    const changes: string[] = [];
    const nodes = graph.nodes.map(node => {
      const kind = layerKind(node);
      const held = heldPrecision(node, config.layerPrecisions ?? {});
      if (!kind || held === 'fp32' || held === 'fp16') {
        return node;
      }
      const implicit =
        held === 'int8' || config.precision === 'int8' || config.precision === 'best';
      const explicit = explicitScale(node.inputs[0], context);
      const scale = explicit ?? (implicit ? calibratedScale(node.inputs[0], config) : undefined);
      const rewrite =
        typeof scale === 'string'
          ? scale
          : scale && (kind === 'conv' ? int8Conv : int8MatMul)(node, scale, context);
      if (rewrite === undefined) {
        return node;
      }
      if (typeof rewrite === 'string') {
        if (held === 'int8') {
          throw new Error(
            `layerPrecisions holds layer '${node.name}' (${node.opType}) to int8, but ${rewrite}`
          );
        }
        if (implicit || explicit) {
          changes.push(`layer '${node.name}' (${node.opType}) stays out of int8: ${rewrite}`);
        }
        return node;
      }
      const origin = explicit ? 'QuantizeLinear' : 'calibration';
      changes.push(
        `layer '${node.name}' (${node.opType}) runs in int8 as ${rewrite.opType}: input '${rewrite.inputs[0]}' scale ${(scale as InputScale).scale} (${origin})`
      );
      return rewrite;
    });
    return { graph: rewriteGraph(graph, { nodes, initializers: context.initializers }), changes };
  };
  return Object.defineProperty(pass, 'name', { value: 'quantizeLayers' });
}

function layerKind(node: Node): 'conv' | 'gemm' | undefined {
  const isOurs =
    node.domain === '' || (node.domain === 'webtrt' && node.opType.startsWith('Fused'));
  if (!isOurs) {
    return undefined;
  }
  if (node.opType === 'Conv' || node.opType === 'FusedConv') {
    return 'conv';
  }
  return ['MatMul', 'Gemm', 'FusedMatMul'].includes(node.opType) ? 'gemm' : undefined;
}

/** The calibration scale of `input`, a reason it has none, or undefined when not asked. */
function calibratedScale(input: string, config: BuilderConfig): InputScale | string {
  const scale = config.int8Scales?.[input];
  if (scale === undefined) {
    return `no INT8 scale for its input '${input}'`;
  }
  if (!(scale > 0)) {
    return `its input '${input}' has INT8 scale ${scale}`;
  }
  return { scale, source: input, absorbed: [] };
}

/**
 * The scale of an explicit symmetric int8 DequantizeLinear(QuantizeLinear(x)) in front of a
 * layer, a reason it cannot be used, or undefined when the input comes from no
 * DequantizeLinear.
 */
function explicitScale(input: string, context: QuantizeContext): InputScale | string | undefined {
  const dequantize = context.producers.get(input);
  if (dequantize?.opType !== 'DequantizeLinear' || dequantize.domain !== '') {
    return undefined;
  }
  const quantize = context.producers.get(dequantize.inputs[0]);
  if (quantize?.opType !== 'QuantizeLinear' || quantize.domain !== '') {
    return `its input '${input}' is dequantized from '${dequantize.inputs[0]}', which no QuantizeLinear makes`;
  }
  const scales = [quantize, dequantize].map(node => symmetricInt8Scale(node, context.graph));
  const reason = scales.find((scale): scale is string => typeof scale === 'string');
  if (reason) {
    return `${reason} (before its input '${input}')`;
  }
  if (scales[0] !== scales[1]) {
    return `QuantizeLinear '${quantize.name}' and DequantizeLinear '${dequantize.name}' have different scales`;
  }
  const absorbed = [dequantize];
  if (onlyReadBy(quantize.outputs[0], dequantize, context.readers, context.outputs)) {
    absorbed.push(quantize);
  }
  return { scale: scales[0] as number, source: quantize.inputs[0], absorbed };
}

/** A Q/DQ node's one scale when it is symmetric int8 (zero point int8 0), else why not. */
function symmetricInt8Scale(node: Node, graph: Graph): number | string {
  const [, scaleName, zeroPointName] = node.inputs;
  const scale = graph.initializers.get(scaleName);
  const zeroPoint = zeroPointName ? graph.initializers.get(zeroPointName) : undefined;
  const describe = `${node.opType} '${node.name}'`;
  if (!scale || scale.size !== 1) {
    return `${describe} has no constant scalar scale`;
  }
  if (!zeroPoint || zeroPoint.dtype !== 'int8' || zeroPoint.toNumbers().some(z => z !== 0)) {
    return `${describe} is not symmetric int8 (zero point int8 0)`;
  }
  const value = scale.toNumbers()[0];
  return value > 0 ? value : `${describe} has scale ${value}`;
}

/** Conv / FusedConv → Int8Conv, or why not. */
function int8Conv(node: Node, input: InputScale, context: QuantizeContext): Node | string {
  const [, weightName, ...rest] = node.inputs;
  const weight = floatWeight(weightName, context);
  if (typeof weight === 'string') {
    return weight;
  }
  const quantized = quantizeWeightsPerChannel(weight, 0);
  return checkedLayer(
    {
      ...node,
      opType: 'Int8Conv',
      domain: 'webtrt',
      inputs: [
        input.source,
        addInitializer(context, `${weightName}_int8`, quantized.values),
        addInitializer(context, `${weightName}_scale`, scaleTensor(quantized.scales)),
        ...rest
      ],
      attributes: { ...node.attributes, x_scale: input.scale },
      fusedFrom: fusedNames(node, input)
    },
    context
  );
}

/** MatMul / Gemm / FusedMatMul with a constant 2-D B → Int8MatMul, or why not. */
function int8MatMul(node: Node, input: InputScale, context: QuantizeContext): Node | string {
  const [, bName, cName = '', residual] = node.inputs;
  const attributes = new Attributes(node);
  const isGemm = node.opType === 'Gemm';
  if (attributes.int('transA', 0) !== 0) {
    return 'its A is transposed';
  }
  if (isGemm && cName && attributes.float('beta', 1) !== 1) {
    return "Gemm's beta is not 1";
  }
  const b = floatWeight(bName, context);
  if (typeof b === 'string') {
    return b;
  }
  if (b.shape.length !== 2) {
    return `its weight '${bName}' has rank ${b.shape.length}, not 2`;
  }
  const aRank = context.graph.valueTypes.get(node.inputs[0])?.shape?.length ?? 0;
  if (aRank < 2) {
    return `its input '${node.inputs[0]}' has rank ${aRank}, not 2 or more`;
  }
  const columns = attributes.int('transB', 0) ? transpose(b) : b;
  const bias = cName ? rowBias(cName, columns.shape[1], context) : '';
  if (bias === undefined) {
    return `its bias '${cName}' is not one value per column`;
  }
  const quantized = quantizeWeightsPerChannel(columns, 1);
  const alpha = attributes.float('alpha', 1);
  const scales = quantized.scales.map(scale => scale * alpha);
  return checkedLayer(
    {
      ...node,
      opType: 'Int8MatMul',
      domain: 'webtrt',
      inputs: [
        input.source,
        addInitializer(context, `${bName}_int8`, quantized.values),
        addInitializer(context, `${bName}_scale`, scaleTensor(scales)),
        ...(residual ? [bias, residual] : bias ? [bias] : [])
      ],
      attributes: {
        a_scale: input.scale,
        ...Object.fromEntries(
          Object.entries(node.attributes).filter(([name]) => !GEMM_ONLY.includes(name))
        )
      },
      fusedFrom: fusedNames(node, input)
    },
    context
  );
}

/** Attributes of Gemm / FusedMatMul that Int8MatMul has folded into its weights. */
const GEMM_ONLY = ['alpha', 'beta', 'transA', 'transB', 'broadcast'];

/** The name of a [N] bias for a GEMM's C (a constant [1, N] is reshaped), if one fits. */
function rowBias(name: string, columns: number, context: QuantizeContext): string | undefined {
  const constant = context.initializers.get(name);
  const shape = constant?.shape ?? context.graph.valueTypes.get(name)?.shape;
  if (shape?.length === 1 && shape[0] === columns) {
    return name;
  }
  if (
    constant &&
    constant.size === columns &&
    shape!.every((d, i) => i === shape!.length - 1 || d === 1)
  ) {
    return addInitializer(
      context,
      `${name}_row`,
      new Tensor(constant.dtype, [columns], constant.data)
    );
  }
  return undefined;
}

/** The float weight `name` as a constant, or why it is none. */
function floatWeight(name: string, context: QuantizeContext): Tensor | string {
  const weight = context.initializers.get(name);
  if (!weight) {
    return `its weight '${name}' is not a constant`;
  }
  if (weight.dtype !== 'float32' && weight.dtype !== 'float16') {
    return `its weight '${name}' is ${weight.dtype}`;
  }
  return weight;
}

/** `layer` when its INT8 kernel takes it, else the kernel's reason. */
function checkedLayer(layer: Node, context: QuantizeContext): Node | string {
  const graph = { ...context.graph, initializers: context.initializers };
  const step = prepareNode(graph, layer);
  const types = layer.inputs.map(name =>
    name ? (context.initializers.get(name) ?? graph.valueTypes.get(name)) : undefined
  );
  const declined = step.op.webgpu?.unsupported?.(
    types.map(type => type?.dtype),
    step.attrs,
    types.map(type => type?.shape)
  );
  return declined ?? layer;
}

function fusedNames(node: Node, input: InputScale): string[] {
  return [...input.absorbed.map(n => n.name).reverse(), ...(node.fusedFrom ?? [node.name])];
}

function scaleTensor(scales: Float32Array): Tensor {
  return new Tensor('float32', [scales.length], scales);
}

function transpose(matrix: Tensor): Tensor {
  const [rows, columns] = matrix.shape;
  const values = matrix.toNumbers();
  return Tensor.fromNumbers(
    matrix.dtype,
    [columns, rows],
    Array.from(
      { length: rows * columns },
      (_, i) => values[(i % rows) * columns + Math.floor(i / rows)]
    )
  );
}

function addInitializer(context: QuantizeContext, base: string, tensor: Tensor): string {
  const name = context.names.fresh(base);
  context.initializers.set(name, tensor);
  return name;
}
