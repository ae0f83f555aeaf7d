/**
 * The row backend: what core calls with ids. `create` and `commit` add a
 * few keys to core's batch whatever the parent's size (a child starts as its
 * parent's root); `remove` marks the snapshot in core's batch and `drop`
 * frees its generation's key ranges; `cleanup` (also run at open) finishes
 * any freeing a crash interrupted.
 */
import { existsSync } from 'node:fs'
import { DataLossError } from '../../core/errors.js'
import type { Backend, SnapshotRef } from '../../core/backend.js'
import type { Capabilities, Change, Mount, SnapshotFs, Usage } from '../../core/snapshotter.js'
import { level, type Store, type Transaction } from '../../core/store.js'
import { changesBetween } from './changes.js'
import { freeGeneration, idsWith } from './gc.js'
import { Prefix, gcKey, snapKey } from './keys.js'
import { ROOT_INO, rootInode } from './namespace.js'
import type { RowMounts } from './fusemounts.js'
import { BlockCache, NodeCache, NodeSource, type RowDb } from './nodestore.js'
import { RowFs } from './rowfs.js'
import { Snap } from './snap.js'
import { verifySnapshot } from './verify.js'
import { Edit } from './edit.js'
import { decodeTreeRecord, encodeTreeRecord, type Format, type TreeRecord } from './format.js'

export const MOUNT_TYPE = 'strata.row'

/** FUSE mounts need root and /dev/fuse; without them row still works through open(). */
export function canMountFuse(): boolean {
  return process.getuid?.() === 0 && existsSync('/dev/fuse')
}

export function rowDb(store: Store): RowDb {
  return store.db.sublevel<Buffer, Buffer>('row', { keyEncoding: 'buffer', valueEncoding: 'buffer' })
}

export class RowBackend implements Backend {
  readonly capabilities: Capabilities
  readonly #store: Store
  readonly #fuse: RowMounts | undefined
  readonly #db: RowDb
  readonly #src: NodeSource
  readonly #format: Format
  readonly #snaps = new Map<number, Snap>()

  constructor(store: Store, db: RowDb, format: Format, cacheNodes: number, fuse?: RowMounts) {
    this.#store = store
    this.#fuse = fuse
    this.capabilities = fuse
      ? { kernelMounts: true, renameLowerDirInMount: true, servedMounts: true }
      : { kernelMounts: false, renameLowerDirInMount: true }
    this.#db = db
    this.#format = format
    // A few blocks: enough for small reads walking through one block, or two files read side by side.
    this.#src = new NodeSource(db, new NodeCache(cacheNodes), new BlockCache(Math.max(1 << 20, 4 * format.blockSize)))
  }

  async #record(id: number): Promise<TreeRecord> {
    const loaded = this.#snaps.get(id)
    if (loaded) return loaded.record
    const buf = await level(() => this.#db.get(snapKey(id)))
    if (buf === undefined) throw new DataLossError(`row: snapshot ${id} has no record`)
    return decodeTreeRecord(buf)
  }

  /** The run-time snapshot, frozen unless the ref says it is active. */
  async #snap(ref: SnapshotRef): Promise<Snap> {
    const id = Number(ref.id)
    let snap = this.#snaps.get(id)
    if (!snap) {
      snap = new Snap(this.#src, this.#format, id, await this.#record(id), true)
      this.#snaps.set(id, snap)
    }
    snap.setFrozen(ref.kind !== 'active')
    return snap
  }

  async create(ref: SnapshotRef, tx: Transaction): Promise<void> {
    const id = Number(ref.id)
    if (ref.parentIds.length > 0) {
      const parent = await this.#record(Number(ref.parentIds[0]))
      const rec: TreeRecord = { root: parent.root, ino: parent.ino, seq: 0, bytes: 0, inodes: 0 }
      tx.put(this.#db, snapKey(id), encodeTreeRecord(rec))
      return
    }
    const e = Edit.empty(this.#src, id, this.#format, ROOT_INO + 1)
    rootInode(e, Date.now())
    for (const op of e.batch().ops) {
      if (op.type === 'put') tx.put(this.#db, op.key, op.value)
      else tx.del(this.#db, op.key)
    }
  }

  async mounts(ref: SnapshotRef): Promise<Mount[]> {
    if (this.#fuse) {
      const point = await this.#fuse.ensure(Number(ref.id), () => this.open(ref))
      return [{ type: 'bind', source: point, options: ['bind', ref.kind === 'active' ? 'rw' : 'ro'] }]
    }
    return [{ type: MOUNT_TYPE, source: this.#store.root, options: [`id=${ref.id}`, ref.kind === 'active' ? 'rw' : 'ro'] }]
  }

  async open(ref: SnapshotRef): Promise<SnapshotFs> {
    return new RowFs(await this.#snap(ref), ref.kind !== 'active')
  }

  async usage(ref: SnapshotRef): Promise<Usage> {
    await this.#snaps.get(Number(ref.id))?.flush()
    const rec = await this.#record(Number(ref.id))
    return { size: rec.bytes, inodes: rec.inodes }
  }

  async commit(ref: SnapshotRef): Promise<Usage> {
    await this.#fuse?.release(Number(ref.id))
    const snap = await this.#snap(ref)
    await snap.idle()
    return { size: snap.record.bytes, inodes: snap.record.inodes }
  }

  async remove(ref: SnapshotRef, tx: Transaction): Promise<void> {
    await this.#fuse?.drop(Number(ref.id))
    tx.put(this.#db, gcKey(Number(ref.id)), Buffer.alloc(0))
  }

  async *changes(ref: SnapshotRef): AsyncIterable<Change> {
    const snap = await this.#snap(ref)
    const before = ref.parentIds.length > 0 ? (await this.#record(Number(ref.parentIds[0]))).root : undefined
    // Gathered under the snapshot's lock, so a writer cannot change the tree mid-walk.
    // The walk reads nodes from the database: what is gathered lands first.
    await snap.flush()
    yield* await snap.read((t) => changesBetween(this.#src, before, t.root))
  }

  async drop(id: string): Promise<void> {
    this.#snaps.get(Number(id))?.drop()
    this.#snaps.delete(Number(id))
    await freeGeneration(this.#store, this.#db, Number(id))
  }

  async list(): Promise<string[]> {
    return (await idsWith(this.#db, Prefix.Snap)).map(String)
  }

  async cleanup(live: ReadonlySet<string>): Promise<void> {
    for (const id of await idsWith(this.#db, Prefix.Gc)) {
      if (!live.has(String(id))) await this.drop(String(id))
    }
  }

  async verify(ref: SnapshotRef): Promise<string | undefined> {
    let rec: TreeRecord
    await this.#snaps.get(Number(ref.id))?.flush()
    try {
      rec = await this.#record(Number(ref.id))
    } catch (err) {
      return (err as Error).message
    }
    return verifySnapshot(this.#src, { id: Number(ref.id), rec, ancestors: ref.parentIds.map(Number) })
  }

  async close(): Promise<void> {
    await this.#fuse?.dropAll()
    for (const snap of this.#snaps.values()) await snap.flush()
    this.#snaps.clear()
    this.#src.cache.clear()
  }
}
