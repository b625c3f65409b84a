import { Pass } from '../pass';
import { assignPrecision } from './assign-precision';
import { eliminateDeadNodes } from './eliminate-dead-nodes';
import { eliminateIdentities } from './eliminate-identities';
import { foldBatchNormalization } from './fold-batch-normalization';
import { foldConstants } from './fold-constants';
import { fuseConvActivation, fuseMatMulActivation } from './fuse-activations';
import { fuseAttention } from './fuse-attention';
import { fuseElementwiseChains } from './fuse-elementwise-chains';
import { fuseMatMulBias } from './fuse-matmul-bias';
import { mergeSiblingMatMuls } from './merge-sibling-matmuls';
import { quantizeLayers } from './quantize-layers';
import { recognizeActivations } from './recognize-activations';
import { recognizeGelu } from './recognize-gelu';
import { recognizeLayerNorm } from './recognize-layer-norm';
import { recognizeSoftmax } from './recognize-softmax';

export {
  assignPrecision,
  eliminateDeadNodes,
  eliminateIdentities,
  foldBatchNormalization,
  foldConstants,
  fuseAttention,
  fuseConvActivation,
  fuseElementwiseChains,
  fuseMatMulActivation,
  fuseMatMulBias,
  mergeSiblingMatMuls,
  quantizeLayers,
  recognizeActivations,
  recognizeGelu,
  recognizeLayerNorm,
  recognizeSoftmax
};

/**
 * The graph passes of a build, in order: fold what is constant first (so that Reshape
 * targets and weights are known), then bypass identities, fold BatchNormalization (which
 * may leave a MatMul and an Add), recognize ops spelled out in primitives, fuse MatMul with
 * its bias, fuse attention and read its Q, K and V from one merged projection, grow Convs
 * and GEMMs by the bias, residual and activation after them, fuse the elementwise chains
 * left into single kernels, and sweep away what those left unread last.
 */
export const STANDARD_PASSES: readonly Pass[] = [
  foldConstants,
  eliminateIdentities,
  foldBatchNormalization,
  recognizeActivations,
  recognizeLayerNorm,
  recognizeSoftmax,
  recognizeGelu,
  fuseMatMulBias,
  fuseAttention,
  mergeSiblingMatMuls,
  fuseConvActivation,
  fuseMatMulActivation,
  fuseElementwiseChains,
  eliminateDeadNodes
];
