/**
 * strata: snapshot storage for container runtimes. This entry is what a
 * runtime author uses: open a store, the snapshotter contract and its
 * errors, OCI layers and images, kernel mounts. Importing it registers the
 * built-in drivers (native, overlay, row); `core/` itself knows none of them.
 * A driver author's toolkit is `strata/driver`, the shared suite
 * `strata/conformance`, the container prototype `strata/runtime`.
 */
import { registerDriver } from './core/registry.js'
import { createNativeSnapshotter } from './drivers/native/index.js'
import { createOverlaySnapshotter } from './drivers/overlay/index.js'
import { createRowSnapshotter, type RowOptions } from './drivers/row/index.js'

registerDriver('native', createNativeSnapshotter)
registerDriver('overlay', createOverlaySnapshotter)
registerDriver('row', (root, options) => createRowSnapshotter(root, options as RowOptions | undefined))

export type * from './core/snapshotter.js'
export {
  AlreadyExistsError,
  DataLossError,
  type ErrorCode,
  FailedPreconditionError,
  InvalidArgumentError,
  isSnapshotterError,
  NotFoundError,
  NotImplementedError,
  SnapshotterError,
  UnavailableError,
} from './core/errors.js'
export { type DriverFactory, openSnapshotter, registerDriver, registeredDrivers } from './core/registry.js'
export type { NativeOptions } from './drivers/native/index.js'
export type { OverlayOptions } from './drivers/overlay/index.js'
export type { RowOptions } from './drivers/row/index.js'
export { mountAll, unmount, withMount } from './fs/mount.js'
export { withOpen } from './fs/open.js'
export * from './layers/index.js'
export * from './image/index.js'
export * from './registry/index.js'
