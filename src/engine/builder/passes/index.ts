import { Pass } from '../pass';
import { eliminateDeadNodes } from './eliminate-dead-nodes';
import { eliminateIdentities } from './eliminate-identities';
import { foldBatchNormalization } from './fold-batch-normalization';
import { foldConstants } from './fold-constants';

export { eliminateDeadNodes, eliminateIdentities, foldBatchNormalization, foldConstants };

/**
 * The graph passes of a build, in order: fold what is constant first (so that Reshape
 * targets and weights are known), then bypass identities and fold BatchNormalization, and
 * sweep away what those left unread last.
 */
export const STANDARD_PASSES: readonly Pass[] = [
  foldConstants,
  eliminateIdentities,
  foldBatchNormalization,
  eliminateDeadNodes
];
