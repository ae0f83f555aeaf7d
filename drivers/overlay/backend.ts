/**
 * The overlay backend: Docker's overlay2 directories (`layout.ts`), mounts in
 * containerd's shape (`mountopts.ts`), open() through reference-counted
 * mounts on merged/ (`mounttable.ts`), changes read from diff/ (`changes.ts`).
 *
 * Crash safety follows core's protocol: a new snapshot's directory is built
 * under `<root>/tmp/` and renamed to `overlay2/<id>` just before core writes
 * its record; its `l/` link is made next. A death before the record leaves a
 * directory and a link no record points to, which `drop()` and `cleanup()`
 * remove. Opening the store unmounts merged/ mounts a dead process left.
 *
 * Durability (core/durable.ts): `create` flushes the new directory (its
 * `link` and `lower` files) and the entries in the home and in `l/`;
 * `commit` flushes diff/. Both before core writes the record; by default
 * one syncfs each.
 */
import { chmod, chown, lstat, mkdir, readFile, readdir, readlink, rename, rmdir, stat, symlink, unlink, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Backend, SnapshotRef } from '../../core/backend.js'
import { makeDurable } from '../../core/durable.js'
import { DirFs } from '../../fs/dirfs.js'
import { diskUsage } from '../../fs/diskusage.js'
import { unlessMissing } from '../../core/errors.js'
import { mountsUnder, unmount } from '../../fs/mount.js'
import { removeTree } from '../../fs/removetree.js'
import type { Capabilities, Change, Mount, SnapshotFs, Usage } from '../../core/snapshotter.js'
import type { Store } from '../../core/store.js'
import { diffChanges } from './changes.js'
import { MAX_LOWERS, pinnedOptions } from './features.js'
import { idOfLinkTarget, Layout, LINK_DIR, lowerList, shortName } from './layout.js'
import { openPlan, snapshotMounts } from './mountopts.js'
import { MountTable } from './mounttable.js'

/** A snapshot's files as a directory, and how to let go of it. */
interface Held {
  dir: string
  readOnly: boolean
  release: () => Promise<void>
}

export class OverlayBackend implements Backend {
  readonly capabilities: Capabilities = { kernelMounts: true, renameLowerDirInMount: false, maxDepth: MAX_LOWERS, needsRoot: true }
  readonly #layout: Layout
  readonly #store: Store
  readonly #extra: string[]
  readonly #mounts = new MountTable()

  constructor(store: Store, extra: string[] = pinnedOptions()) {
    this.#store = store
    this.#layout = new Layout(store.root)
    this.#extra = extra
  }

  /** Creates the home and takes down the merged/ mounts of a process that died holding them. */
  async init(): Promise<this> {
    await mkdir(this.#layout.links, { recursive: true, mode: 0o700 })
    await chmod(this.#layout.home, 0o710)
    for (const target of await mountsUnder(this.#layout.home)) await unmount(target)
    // Nothing is mounted there now, so whatever a merged/ holds is junk written while it was not.
    for (const id of await this.list()) {
      if (existsSync(this.#layout.merged(id))) await removeTree(this.#layout.merged(id))
    }
    return this
  }

  async create(ref: SnapshotRef): Promise<void> {
    const layout = this.#layout
    const tmp = await this.#store.tmpDir('overlay')
    const dir = join(tmp, ref.id)
    await mkdir(join(dir, 'diff'), { recursive: true })
    await chmod(dir, 0o710)
    await this.#rootAttributes(ref, join(dir, 'diff'))
    if (ref.kind === 'active' && ref.parentIds.length > 0) await mkdir(join(dir, 'work'), { mode: 0o700 })
    await writeFile(join(dir, 'link'), shortName(ref.id), { mode: 0o644 })
    if (ref.parentIds.length > 0) await writeFile(join(dir, 'lower'), lowerList(ref.parentIds), { mode: 0o644 })
    // In place but unrecorded until core's batch: an orphan for cleanup() if we die from here on.
    await rename(dir, layout.dir(ref.id))
    await rmdir(tmp)
    await unlessMissing(unlink(layout.link(ref.id)))
    await symlink(layout.linkTarget(ref.id), layout.link(ref.id))
    if (ref.parentIds.length > 0) await writeFile(layout.committedMarker(ref.parentIds[0]), '', { mode: 0o600 })
    // link and lower (which verify reads) and both new names, on disk before core's record.
    await makeDurable({ trees: [layout.dir(ref.id)], dirs: [layout.home, layout.links] })
  }

  /**
   * The root of a merged tree takes its owner and mode from the upper layer,
   * so a new diff/ copies them from the parent's (whose root is what the
   * parent shows); without a parent it is root's 0755.
   */
  async #rootAttributes(ref: SnapshotRef, diff: string): Promise<void> {
    if (ref.parentIds.length === 0) return chmod(diff, 0o755)
    const st = await stat(this.#layout.diff(ref.parentIds[0]))
    await chown(diff, st.uid, st.gid)
    await chmod(diff, st.mode & 0o7777)
  }

  async mounts(ref: SnapshotRef): Promise<Mount[]> {
    return snapshotMounts(this.#layout, ref, this.#extra)
  }

  /** Holds the snapshot's files: its directory as it is, or a shared overlay mount on merged/. */
  async #hold(ref: SnapshotRef): Promise<Held> {
    const plan = openPlan(this.#layout, ref, this.#extra)
    if (plan.kind === 'dir') return { dir: plan.dir, readOnly: plan.readOnly, release: async () => {} }
    const target = this.#layout.merged(ref.id)
    await this.#mounts.acquire(target, [plan.mount])
    let released = false
    return {
      dir: target,
      readOnly: plan.readOnly,
      release: async () => {
        if (released) return
        released = true
        await this.#mounts.release(target)
      },
    }
  }

  async open(ref: SnapshotRef): Promise<SnapshotFs> {
    const held = await this.#hold(ref)
    return new DirFs(held.dir, { readOnly: held.readOnly, onClose: held.release })
  }

  async usage(ref: SnapshotRef): Promise<Usage> {
    return diskUsage(this.#layout.diff(ref.id))
  }

  async commit(ref: SnapshotRef): Promise<Usage> {
    // diff/ holds what DirFs or a container wrote through the kernel mount: flush it before the record.
    await makeDurable({ trees: [this.#layout.diff(ref.id)] })
    return diskUsage(this.#layout.diff(ref.id))
  }

  async *changes(ref: SnapshotRef): AsyncGenerator<Change> {
    const [parent, ...grandparents] = ref.parentIds
    const lower = parent === undefined ? undefined : await this.#hold({ id: parent, kind: 'committed', parentIds: grandparents })
    try {
      yield* diffChanges(this.#layout.diff(ref.id), lower?.dir)
    } finally {
      await lower?.release()
    }
  }

  async drop(id: string): Promise<void> {
    await this.#mounts.forget(this.#layout.merged(id))
    await unlessMissing(unlink(this.#layout.link(id)))
    await removeTree(this.#layout.dir(id))
  }

  async list(): Promise<string[]> {
    return (await readdir(this.#layout.home)).filter((name) => /^\d+$/.test(name))
  }

  /** Removes `l/` links no live snapshot owns, and anything else in the home that is not ours. */
  async cleanup(live: ReadonlySet<string>): Promise<void> {
    for (const name of await readdir(this.#layout.links)) {
      const path = join(this.#layout.links, name)
      const target = await readlink(path).catch(() => '')
      const id = idOfLinkTarget(target)
      if (id === undefined || !live.has(id) || shortName(id) !== name) await unlessMissing(unlink(path))
    }
    for (const name of await readdir(this.#layout.home)) {
      if (name !== LINK_DIR && !/^\d+$/.test(name)) await removeTree(join(this.#layout.home, name))
    }
  }

  async verify(ref: SnapshotRef): Promise<string | undefined> {
    const layout = this.#layout
    const short = shortName(ref.id)
    try {
      if (!(await lstat(layout.diff(ref.id))).isDirectory()) return `${layout.diff(ref.id)} is not a directory`
      if ((await readFile(layout.linkFile(ref.id), 'utf8')) !== short) return `${layout.linkFile(ref.id)} does not hold ${short}`
      if ((await readlink(layout.link(ref.id))) !== layout.linkTarget(ref.id)) return `${layout.link(ref.id)} does not point to its diff`
      if (ref.parentIds.length > 0 && (await readFile(layout.lowerFile(ref.id), 'utf8')) !== lowerList(ref.parentIds)) {
        return `${layout.lowerFile(ref.id)} does not list its parents`
      }
      if (ref.kind === 'active' && ref.parentIds.length > 0 && !(await lstat(layout.work(ref.id))).isDirectory()) {
        return `${layout.work(ref.id)} is not a directory`
      }
    } catch (err) {
      return `${(err as Error).message}`
    }
    return undefined
  }

  async close(): Promise<void> {
    await this.#mounts.releaseAll()
  }
}
