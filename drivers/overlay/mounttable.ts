/**
 * Reference-counted mounts on a snapshot's merged/ directory: the first
 * holder mounts, later ones share the mount, the last release unmounts and
 * removes the mount point (as Docker's Get/Put do, so no empty merged/ stays
 * behind). Calls on one target run one at a time; different targets run
 * side by side.
 */
import { mkdir, rmdir } from 'node:fs/promises'
import { mountAll, unmount } from '../../fs/mount.js'
import type { Mount } from '../../core/snapshotter.js'

export class MountTable {
  readonly #counts = new Map<string, number>()
  readonly #queues = new Map<string, Promise<unknown>>()

  /** Runs `fn` after every earlier call on `target` has settled. */
  #serial<T>(target: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(target) ?? Promise.resolve()
    const next = previous.catch(() => {}).then(fn)
    const tail = next.catch(() => {})
    this.#queues.set(target, tail)
    void tail.then(() => {
      if (this.#queues.get(target) === tail) this.#queues.delete(target)
    })
    return next
  }

  /** Mounts `mounts` on `target` unless it is already mounted here; counts the holder. */
  acquire(target: string, mounts: Mount[]): Promise<void> {
    return this.#serial(target, async () => {
      const count = this.#counts.get(target) ?? 0
      if (count === 0) {
        await mkdir(target, { recursive: true, mode: 0o700 })
        try {
          await mountAll(mounts, target)
        } catch (err) {
          await rmdir(target).catch(() => {})
          throw err
        }
      }
      this.#counts.set(target, count + 1)
    })
  }

  /** Drops one holder; the last one unmounts. */
  release(target: string): Promise<void> {
    return this.#serial(target, async () => {
      const count = this.#counts.get(target) ?? 0
      if (count > 1) {
        this.#counts.set(target, count - 1)
        return
      }
      this.#counts.delete(target)
      if (count === 1) {
        await unmount(target)
        await rmdir(target).catch(() => {})
      }
    })
  }

  /** Forgets `target` without unmounting (its directory is about to be removed with its mounts). */
  forget(target: string): Promise<void> {
    return this.#serial(target, async () => {
      this.#counts.delete(target)
    })
  }

  /** Unmounts everything still held (the store is closing). */
  async releaseAll(): Promise<void> {
    for (const target of [...this.#counts.keys()]) {
      await this.#serial(target, async () => {
        if (!this.#counts.delete(target)) return
        await unmount(target)
        await rmdir(target).catch(() => {})
      })
    }
  }
}
