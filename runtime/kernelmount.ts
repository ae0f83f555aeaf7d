/** Whether a snapshot's mounts are ones the kernel can make; a driver's own mount type (row's) is not. */
import type { Mount } from '../core/snapshotter.js'
import { kernelMountTypes } from './hostpath.js'

/** A feature strata does not have yet: exit 1 with code ERR_NOT_IMPLEMENTED. */
export class NotImplementedError extends Error {
  readonly code = 'ERR_NOT_IMPLEMENTED'
}

export async function checkKernelMountable(mounts: Mount[], driver: string, key: string): Promise<void> {
  const known = await kernelMountTypes()
  const foreign = mounts.find((m) => !known.has(m.type))
  if (foreign) {
    throw new NotImplementedError(
      `snapshot ${JSON.stringify(key)}: the ${driver} driver mounts as type ${JSON.stringify(foreign.type)}, which the kernel cannot mount ` +
        `(no FUSE mount yet); strata run needs a driver with kernel mounts (native, overlay)`,
    )
  }
}
