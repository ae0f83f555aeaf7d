/**
 * native: the naive full-copy driver. `prepare` copies the parent's whole
 * tree (GNU cp -a, fs/copytree.ts copyTree where there is none), so every
 * snapshot pays for everything it sees; a view with a parent
 * copies nothing and is a read-only bind of the parent. Mounts are the ones
 * containerd's native snapshotter returns.
 *
 *   <root>/native/<id>/   the snapshot's full tree
 *
 * Durability (core/durable.ts): `create` and `commit` flush the snapshot's
 * tree and the home directory's entry before core writes the record, so a
 * record never survives a power cut without the files it points to. By
 * default that is one syncfs of the store's file system per call.
 */
import { mkdir, readdir, rename, stat, chmod } from 'node:fs/promises'
import { join } from 'node:path'
import type { Backend, SnapshotRef } from '../../core/backend.js'
import { copyTreeByCp } from '../../fs/copytree.js'
import { makeDurable } from '../../core/durable.js'
import { DirFs } from '../../fs/dirfs.js'
import { diskUsage } from '../../fs/diskusage.js'
import { removeTree } from '../../fs/removetree.js'
import { openBackedSnapshotter } from '../../core/backed.js'
import type { Capabilities, Mount, SnapshotFs, Snapshotter, Usage } from '../../core/snapshotter.js'
import type { Store } from '../../core/store.js'

export interface NativeOptions {
  /** Reserved for future use; the native driver has no options today. */
  readonly [key: string]: unknown
}

class NativeBackend implements Backend {
  readonly capabilities: Capabilities = { kernelMounts: true, renameLowerDirInMount: true }
  readonly #store: Store
  readonly #home: string

  constructor(store: Store) {
    this.#store = store
    this.#home = join(store.root, 'native')
  }

  async init(): Promise<this> {
    await mkdir(this.#home, { recursive: true, mode: 0o700 })
    return this
  }

  #dir(id: string): string {
    return join(this.#home, id)
  }

  /** A view with a parent owns no tree: it shows its parent's. */
  #borrows(ref: SnapshotRef): boolean {
    return ref.kind === 'view' && ref.parentIds.length > 0
  }

  #tree(ref: SnapshotRef): string {
    return this.#borrows(ref) ? this.#dir(ref.parentIds[0]) : this.#dir(ref.id)
  }

  async create(ref: SnapshotRef): Promise<void> {
    if (this.#borrows(ref)) return
    const tmp = await this.#store.tmpDir('native')
    const work = join(tmp, 'fs')
    if (ref.parentIds.length > 0) {
      await copyTreeByCp(this.#dir(ref.parentIds[0]), work)
    } else {
      await mkdir(work)
      await chmod(work, 0o755)
    }
    // In place but unrecorded until core's batch: an orphan for cleanup() if we die now.
    await rename(work, this.#dir(ref.id))
    await removeTree(tmp)
    // The copy (or the empty root) and its name must be on disk before the record that points to it.
    await makeDurable({ trees: [this.#dir(ref.id)], dirs: [this.#home] })
  }

  async mounts(ref: SnapshotRef): Promise<Mount[]> {
    return [{ type: 'bind', source: this.#tree(ref), options: ['rbind', ref.kind === 'active' ? 'rw' : 'ro'] }]
  }

  async open(ref: SnapshotRef): Promise<SnapshotFs> {
    return new DirFs(this.#tree(ref), { readOnly: ref.kind !== 'active' })
  }

  async usage(ref: SnapshotRef): Promise<Usage> {
    if (this.#borrows(ref)) return { size: 0, inodes: 0 }
    return diskUsage(this.#dir(ref.id))
  }

  async commit(ref: SnapshotRef): Promise<Usage> {
    // What was written into the active tree may be only in the page cache: flush it before the record says committed.
    await makeDurable({ trees: [this.#dir(ref.id)] })
    return diskUsage(this.#dir(ref.id))
  }

  async drop(id: string): Promise<void> {
    await removeTree(this.#dir(id))
  }

  async list(): Promise<string[]> {
    return (await readdir(this.#home)).filter((name) => /^\d+$/.test(name))
  }

  async verify(ref: SnapshotRef): Promise<string | undefined> {
    try {
      if (!(await stat(this.#tree(ref))).isDirectory()) return `${this.#tree(ref)} is not a directory`
    } catch {
      return `${this.#tree(ref)} is missing`
    }
    return undefined
  }

  async close(): Promise<void> {}
}

export async function createNativeSnapshotter(root: string, _options: NativeOptions = {}): Promise<Snapshotter> {
  return openBackedSnapshotter({ root, driver: 'native', backend: (store) => new NativeBackend(store).init(), store: { removeTree } })
}
