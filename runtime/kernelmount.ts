/** Whether a snapshot's mounts are ones the kernel can make; a driver's own mount type (row's) is not. */
import { NotImplementedError } from '../core/errors.js'
import type { Mount } from '../core/snapshotter.js'
import { kernelMountTypes } from './hostpath.js'

export async function checkKernelMountable(mounts: Mount[], driver: string, key: string): Promise<void> {
  const known = await kernelMountTypes()
  const foreign = mounts.find((m) => !known.has(m.type))
  if (foreign) {
    throw new NotImplementedError(
      `snapshot ${JSON.stringify(key)}: the ${driver} driver mounts as type ${JSON.stringify(foreign.type)}, which the kernel cannot mount ` +
        `; strata run needs a driver with kernel mounts (native, overlay, row as root)`,
    )
  }
}
