/**
 * The metastore every driver shares: it owns names, kinds, parentage, labels,
 * timestamps and stored usage; drivers only ever see numeric ids. Records live
 * in sublevels of the store's LevelDB and every mutation is one batch.
 *
 *   snapshots  key            → SnapshotRecord
 *   ids        id (decimal)   → key
 *   children   <pid>/<cid>    → key of the child (answers "has children?" with one seek)
 *   meta       'nextId'       → the next id; reserved in its own batch before any data
 *                               exists, so a crash can never hand out an id twice
 *              'driver'       → the driver that owns this root
 */
import type { Info, Kind, Usage } from './snapshotter.js'
import { NotFoundError } from './errors.js'
import { level, translateLevelError, type Store, type Sublevel, type Transaction } from './store.js'

export interface SnapshotRecord {
  id: number
  kind: Kind
  parent?: string
  /** Ancestor ids, nearest first. Parents cannot change or go away while a child exists. */
  parentIds: number[]
  labels: Record<string, string>
  created: number
  updated: number
  /** Stored at commit for committed snapshots. */
  usage?: Usage
}

export function toInfo(name: string, rec: SnapshotRecord): Info {
  const info: Info = {
    name,
    kind: rec.kind,
    labels: { ...rec.labels },
    created: new Date(rec.created),
    updated: new Date(rec.updated),
  }
  if (rec.parent !== undefined) info.parent = rec.parent
  return info
}

function childKey(parentId: number, childId: number): string {
  return `${parentId}/${childId}`
}

export class Metastore {
  readonly #store: Store
  readonly #snapshots: Sublevel<string, SnapshotRecord>
  readonly #ids: Sublevel<string, string>
  readonly #children: Sublevel<string, string>
  readonly #meta: Sublevel<string, unknown>

  constructor(store: Store) {
    this.#store = store
    this.#snapshots = store.sublevel<SnapshotRecord>('snapshots')
    this.#ids = store.sublevel<string>('ids')
    this.#children = store.sublevel<string>('children')
    this.#meta = store.sublevel<unknown>('meta')
  }

  async get(key: string): Promise<SnapshotRecord | undefined> {
    return level(() => this.#snapshots.get(key))
  }

  async mustGet(key: string): Promise<SnapshotRecord> {
    const rec = await this.get(key)
    if (rec === undefined) throw new NotFoundError(`snapshot ${JSON.stringify(key)} does not exist`)
    return rec
  }

  async keyOf(id: number): Promise<string | undefined> {
    return level(() => this.#ids.get(String(id)))
  }

  async getMeta<T>(name: string): Promise<T | undefined> {
    return (await level(() => this.#meta.get(name))) as T | undefined
  }

  setMeta(tx: Transaction, name: string, value: unknown): void {
    tx.put(this.#meta, name, value)
  }

  /** Reserves a fresh id in a batch of its own, before any data for it exists. */
  async reserveId(): Promise<number> {
    const next = (await this.getMeta<number>('nextId')) ?? 1
    await this.#store
      .transaction()
      .put(this.#meta, 'nextId', next + 1)
      .write({ sync: true })
    return next
  }

  /** The highest id ever handed out. */
  async lastId(): Promise<number> {
    return ((await this.getMeta<number>('nextId')) ?? 1) - 1
  }

  insert(tx: Transaction, key: string, rec: SnapshotRecord): void {
    tx.put(this.#snapshots, key, rec)
    tx.put(this.#ids, String(rec.id), key)
    if (rec.parentIds.length > 0) tx.put(this.#children, childKey(rec.parentIds[0], rec.id), key)
  }

  /** Writes a changed record under its key (labels, timestamps). */
  replace(tx: Transaction, key: string, rec: SnapshotRecord): void {
    tx.put(this.#snapshots, key, rec)
  }

  /** Moves a record to a new key (commit keeps the id and the parent). */
  rename(tx: Transaction, from: string, to: string, rec: SnapshotRecord): void {
    tx.del(this.#snapshots, from)
    this.insert(tx, to, rec)
  }

  delete(tx: Transaction, key: string, rec: SnapshotRecord): void {
    tx.del(this.#snapshots, key)
    tx.del(this.#ids, String(rec.id))
    if (rec.parentIds.length > 0) tx.del(this.#children, childKey(rec.parentIds[0], rec.id))
  }

  async hasChildren(id: number): Promise<boolean> {
    const prefix = `${id}/`
    // '0' sorts right after '/', so this range holds exactly the keys "<id>/…".
    return level(async () => {
      for await (const _ of this.#children.keys({ gte: prefix, lt: `${id}0`, limit: 1 })) return true
      return false
    })
  }

  /** Every record, from one consistent LevelDB snapshot; mutations may run meanwhile. */
  async *entries(): AsyncGenerator<[string, SnapshotRecord]> {
    try {
      for await (const entry of this.#snapshots.iterator()) yield entry
    } catch (err) {
      throw translateLevelError(err)
    }
  }

  /** id → key for every snapshot. */
  async idMap(): Promise<Map<number, string>> {
    const map = new Map<number, string>()
    await level(async () => {
      for await (const [id, key] of this.#ids.iterator()) map.set(Number(id), key)
    })
    return map
  }
}
