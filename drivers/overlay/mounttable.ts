/**
 * Reference-counted mounts on a snapshot's merged/ directory: the first
 * holder mounts, later ones share the mount, the last release unmounts and
 * removes the mount point (as Docker's Get/Put do, so no empty merged/ stays
 * behind). Calls on one target run one at a time; different targets run
 * side by side.
 */
import { mkdir, rmdir } from 'node:fs/promises'
import { mountAll, unmount } from '../../fs/mount.js'
import { cleanupAfter } from '../../core/errors.js'
import { KeyedMutex } from '../../core/mutex.js'
import type { Mount } from '../../core/snapshotter.js'

export class MountTable {
  readonly #counts = new Map<string, number>()
  readonly #serial = new KeyedMutex()

  /** Mounts `mounts` on `target` unless it is already mounted here; counts the holder. */
  acquire(target: string, mounts: Mount[]): Promise<void> {
    return this.#serial.run(target, async () => {
      const count = this.#counts.get(target) ?? 0
      if (count === 0) {
        await mkdir(target, { recursive: true, mode: 0o700 })
        try {
          await mountAll(mounts, target)
        } catch (err) {
          throw await cleanupAfter(err, () => rmdir(target))
        }
      }
      this.#counts.set(target, count + 1)
    })
  }

  /** Drops one holder; the last one unmounts. */
  release(target: string): Promise<void> {
    return this.#serial.run(target, async () => {
      const count = this.#counts.get(target) ?? 0
      if (count > 1) {
        this.#counts.set(target, count - 1)
        return
      }
      this.#counts.delete(target)
      if (count === 1) {
        await unmount(target)
        // The mount is gone, which is what matters; an empty merged/ left behind is removed with the snapshot.
        await rmdir(target).catch(() => {})
      }
    })
  }

  /** Forgets `target` without unmounting (its directory is about to be removed with its mounts). */
  forget(target: string): Promise<void> {
    return this.#serial.run(target, async () => {
      this.#counts.delete(target)
    })
  }

  /** Unmounts everything still held (the store is closing). */
  async releaseAll(): Promise<void> {
    for (const target of [...this.#counts.keys()]) {
      await this.#serial.run(target, async () => {
        if (!this.#counts.delete(target)) return
        await unmount(target)
        // The mount is gone, which is what matters; an empty merged/ left behind is removed with the snapshot.
        await rmdir(target).catch(() => {})
      })
    }
  }
}
