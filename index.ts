/**
 * strata: snapshot storage for container runtimes. Importing this entry
 * registers the built-in drivers; `core/` itself knows none of them.
 */
import { registerDriver } from './core/registry.js'
import { createNativeSnapshotter } from './drivers/native/index.js'
import { createOverlaySnapshotter } from './drivers/overlay/index.js'
import { createRowSnapshotter, type RowOptions } from './drivers/row/index.js'

registerDriver('native', createNativeSnapshotter)
registerDriver('overlay', createOverlaySnapshotter)
registerDriver('row', (root, options) => createRowSnapshotter(root, options as RowOptions | undefined))

export * from './core/snapshotter.js'
export * from './core/errors.js'
export { openSnapshotter, registerDriver, registeredDrivers, type DriverFactory } from './core/registry.js'
export { openBackedSnapshotter, BackedSnapshotter, type OpenOptions } from './core/backed.js'
export type { Backend, BackendFactory, SnapshotRef } from './core/backend.js'
export { Store, Transaction, type Sublevel } from './core/store.js'
export { DirFs, toFileStat, type DirFsOptions } from './fs/dirfs.js'
export { mountAll, unmount, withMount, mountsUnder, unmountUnder, isMountPoint, MountError } from './fs/mount.js'
export { diskUsage } from './fs/diskusage.js'
export { copyTree } from './fs/copytree.js'
export { parseFilters, type Filter, type Selector } from './core/filters.js'
export { createNativeSnapshotter, type NativeOptions } from './drivers/native/index.js'
export { createOverlaySnapshotter, type OverlayOptions } from './drivers/overlay/index.js'
export { createRowSnapshotter, inspectRowStore, ROW_MOUNT_TYPE, type RowOptions, type RowKeyCounts } from './drivers/row/index.js'
export { applyLayer, type ApplyOptions, type ApplyResult } from './layers/apply.js'
export { exportDiff, listChanges, type ExportOptions } from './layers/export.js'
export { diffTrees } from './layers/treediff.js'
export { commitLayer, chainIdOn, type CommitLayerOptions, type CommitLayerResult } from './layers/commit.js'
export {
  importImage,
  openImage,
  unpackLayer,
  type ImportOptions,
  type ImportProgress,
  type ImportResult,
  type UnpackOptions,
} from './image/import.js'
export { imagesOf, LevelImageStore, LabelImageStore, type ImageRecord, type ImageStore } from './image/store.js'
export type { ImageConfig, ImageSource, LayerBlob, SelectOptions } from './image/source.js'
export { chainId, chainIds, sha256Digest, isDigest, DigestMeter, EMPTY_LAYER_DIFF_ID } from './layers/digest.js'
export { InvalidLayerError, isLayerError, type LayerProblem } from './layers/errors.js'
export { DEFAULT_LIMITS, type LayerLimits } from './layers/input.js'
