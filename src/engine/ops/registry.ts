import { attentionOps } from './attention';
import { convOps } from './conv';
import { elementwiseOps } from './elementwise';
import { fusedElementwiseOps } from './fused-elementwise';
import { int8Ops } from './int8';
import { layoutOps } from './layout';
import { matmulOps } from './matmul';
import { normalizationOps } from './normalization';
import { poolOps } from './pool';
import { quantizeOps } from './quantize';
import { reduceOps } from './reduce';
import { resizeOps } from './resize';
import { shapeOps } from './shape';
import { OpDefinition } from './types';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyOp = OpDefinition<any>;

const ALL_OPS: readonly AnyOp[] = [
  ...elementwiseOps,
  ...convOps,
  ...poolOps,
  ...matmulOps,
  ...normalizationOps,
  ...reduceOps,
  ...shapeOps,
  ...layoutOps,
  ...resizeOps,
  ...attentionOps,
  ...fusedElementwiseOps,
  ...quantizeOps,
  ...int8Ops
];

const REGISTRY = new Map<string, AnyOp>();
for (const op of ALL_OPS) {
  const key = registryKey(op.opType, op.domain ?? '');
  if (REGISTRY.has(key)) {
    throw new Error(`op ${key} is defined twice`);
  }
  REGISTRY.set(key, op);
}

function registryKey(opType: string, domain: string): string {
  const normalized = domain === 'ai.onnx' ? '' : domain;
  return normalized ? `${normalized}::${opType}` : opType;
}

/** The definition of an op, or undefined when the engine does not know it. */
export function findOp(opType: string, domain = ''): AnyOp | undefined {
  return REGISTRY.get(registryKey(opType, domain));
}

/**
 * Adds an op webtrt does not define, as TensorRT's plugin registry does: a custom-domain op
 * of a model, with its shape inference and CPU reference (and a WebGPU kernel if it has
 * one). A model using it then converts, the op falling back to its CPU reference when it
 * has no kernel. Returns a function that removes it again.
 */
export function registerOp(op: AnyOp): () => void {
  const key = registryKey(op.opType, op.domain ?? '');
  if (REGISTRY.has(key)) {
    throw new Error(`op ${key} is already defined`);
  }
  REGISTRY.set(key, op);
  return () => {
    if (REGISTRY.get(key) === op) {
      REGISTRY.delete(key);
    }
  };
}

/** Every op the engine defines, for `webtrt inspect` and the conformance report. */
export function supportedOps(): { opType: string; domain: string; webgpu: boolean }[] {
  return ALL_OPS.map(op => ({
    opType: op.opType,
    domain: op.domain ?? '',
    webgpu: op.webgpu !== undefined
  }));
}
