/**
 * layers/: OCI image layers. Apply a layer tar to a snapshot and export a
 * snapshot's changes as one, the tar entry rules (pure), digests, DiffIDs
 * and ChainIDs, and the one way a committed snapshot is built.
 * Imports core/ and fs/ only.
 */
export { type ApplyOptions, type ApplyResult, applyLayer } from './apply.js'
export { type BuildOptions, type Built, buildSnapshot, WIP_LABEL, type WorkInProgress, workInProgress } from './build.js'
export { type AbandonedWork, abandonedWork, reclaimAbandoned } from './reclaim.js'
export { type CommitLayerOptions, type CommitLayerResult, commitLayer } from './commit.js'
export { chainIds, EMPTY_LAYER_DIFF_ID, isDigest, sha256Digest } from './digest.js'
export { InvalidLayerError, isLayerError, type LayerProblem } from './errors.js'
export { type ExportOptions, exportDiff } from './export.js'
export { DEFAULT_LIMITS, type LayerLimits } from './input.js'
