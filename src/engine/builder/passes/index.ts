import { Pass } from '../pass';
import { assignPrecision } from './assign-precision';
import { eliminateDeadNodes } from './eliminate-dead-nodes';
import { eliminateIdentities } from './eliminate-identities';
import { foldBatchNormalization } from './fold-batch-normalization';
import { foldConstants } from './fold-constants';
import { fuseMatMulBias } from './fuse-matmul-bias';

export {
  assignPrecision,
  eliminateDeadNodes,
  eliminateIdentities,
  foldBatchNormalization,
  foldConstants,
  fuseMatMulBias
};

/**
 * The graph passes of a build, in order: fold what is constant first (so that Reshape
 * targets and weights are known), then bypass identities, fold BatchNormalization (which
 * may leave a MatMul and an Add) and fuse MatMul with its bias, and sweep away what those
 * left unread last.
 */
export const STANDARD_PASSES: readonly Pass[] = [
  foldConstants,
  eliminateIdentities,
  foldBatchNormalization,
  fuseMatMulBias,
  eliminateDeadNodes
];
