/**
 * File access to a snapshot for the length of one function: through the
 * driver's own `open()`, or through a kernel mount of its `mounts()` for a
 * driver without one (or to check what the kernel shows). Either way the
 * access is given back when the function ends, however it ends.
 */
import type { SnapshotFs, Snapshotter } from '../core/snapshotter.js'
import { DirFs } from './dirfs.js'
import { mountAll, unmount } from './mount.js'

/** Runs `fn` with `open(key)`, closing it after. */
export async function withOpen<T>(sn: Snapshotter, key: string, fn: (fs: SnapshotFs) => Promise<T>): Promise<T> {
  const fs = await sn.open(key)
  try {
    return await fn(fs)
  } finally {
    await fs.close()
  }
}

/** Runs `fn` with the snapshot's mounts mounted at `target` (root only), unmounting after. */
export async function withMountedFs<T>(sn: Snapshotter, key: string, target: string, fn: (fs: SnapshotFs) => Promise<T>): Promise<T> {
  await mountAll(await sn.mounts(key), target)
  // A mount this process serves (row's FUSE) must be read without a blocking call.
  const fs = new DirFs(target, { neverBlock: sn.capabilities?.servedMounts === true })
  try {
    return await fn(fs)
  } finally {
    await fs.close()
    await unmount(target)
  }
}
