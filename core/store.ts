/**
 * A store is one root directory owned by one process: `<root>/meta` is the
 * LevelDB every concern shares through sublevels (values in msgpack), and
 * `<root>/tmp` holds work in progress. LevelDB's own LOCK file is the lock
 * between processes; within a process a registry refuses a second open
 * before it can touch (and so drop) that lock; `<root>/holder.json` says who
 * holds it (core/storelock.ts).
 */
import { existsSync } from 'node:fs'
import { mkdir, readdir, rename, rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { Level } from 'level'
import { Packr } from 'msgpackr'
import { fsyncPath, syncBatches } from './durable.js'
import { DataLossError, UnavailableError } from './errors.js'
import { claimRoot, readHolder, removeHolder, StoreInUseError, writeHolder } from './storelock.js'

const packr = new Packr({ useRecords: false, moreTypes: false })

/** LevelDB value encoding for any msgpack-able value. */
export const msgpack = {
  name: 'msgpackr',
  format: 'buffer' as const,
  encode: (value: unknown): Buffer => packr.pack(value),
  decode: (buf: Buffer): unknown => packr.unpack(buf),
}

export type Db = Level<string, Buffer>
export type Sublevel<K = string, V = unknown> = ReturnType<typeof sublevelOf<K, V>>

function sublevelOf<K, V>(db: Db, name: string, keyEncoding: 'utf8' | 'buffer') {
  const valueEncoding = msgpack as typeof msgpack & { decode: (buf: Buffer) => V; encode: (v: V) => Buffer }
  return db.sublevel<K, V>(name, { keyEncoding, valueEncoding })
}

/**
 * LevelDB errors become the vocabulary's at this one boundary: a closed
 * database is ERR_UNAVAILABLE, a corrupt one ERR_DATA_LOSS. Every other
 * error passes through unchanged.
 */
export function translateLevelError(err: unknown): unknown {
  const code = (err as { code?: string } | null)?.code
  if (code === 'LEVEL_DATABASE_NOT_OPEN' || code === 'LEVEL_ITERATOR_NOT_OPEN')
    return new UnavailableError('the store is closed', { cause: err })
  if (code === 'LEVEL_CORRUPTION') return new DataLossError(`the store's database is corrupt: ${(err as Error).message}`, { cause: err })
  return err
}

/** Runs a LevelDB call, translating its error (translateLevelError). */
export async function level<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    throw translateLevelError(err)
  }
}

type BatchOp = { type: 'put' | 'del'; sublevel: unknown; key: unknown; value?: unknown }

/** One batch across sublevels: the unit of atomicity of every mutation. */
export class Transaction {
  readonly #db: Db
  readonly #ops: BatchOp[] = []
  constructor(db: Db) {
    this.#db = db
  }
  put<K, V>(sub: Sublevel<K, V>, key: K, value: V): this {
    this.#ops.push({ type: 'put', sublevel: sub, key, value })
    return this
  }
  del<K, V>(sub: Sublevel<K, V>, key: K): this {
    this.#ops.push({ type: 'del', sublevel: sub, key })
    return this
  }
  get size(): number {
    return this.#ops.length
  }
  /** `sync` makes the batch survive a power cut once this returns (unless STRATA_FLUSH=off, see durable.ts). */
  async write(opts: { sync?: boolean } = {}): Promise<void> {
    const sync = (opts.sync ?? false) && syncBatches()
    if (this.#ops.length > 0) await level(() => this.#db.batch(this.#ops as never, { sync }))
  }
}

/**
 * Makes `<root>/meta` on first open, whole or not at all. LevelDB 1.20
 * (classic-level's) writes its first MANIFEST without syncing it before
 * CURRENT names it, so a power cut there leaves a database that never opens
 * again ("no meta-nextfile entry in descriptor"; the crash disk found it).
 * So a new database is made in `meta.new`, closed, flushed, and renamed into
 * place; a cut before the rename leaves only `meta.new`, made again next time.
 */
async function createMeta(root: string): Promise<void> {
  const meta = join(root, 'meta')
  if (existsSync(meta)) return
  const fresh = join(root, 'meta.new')
  await rm(fresh, { recursive: true, force: true })
  const db = new Level<string, Buffer>(fresh, { valueEncoding: 'buffer' })
  await db.open()
  await db.close()
  if (syncBatches()) {
    for (const name of await readdir(fresh)) await fsyncPath(join(fresh, name))
    await fsyncPath(fresh)
  }
  await rename(fresh, meta)
  if (syncBatches()) {
    await fsyncPath(root)
    await fsyncPath(dirname(root))
  }
}

/** LevelDB tuning a driver may ask for when it opens its store. */
export interface StoreOptions {
  /**
   * Bytes LevelDB buffers in memory before it writes a table (default 4 MiB).
   * A driver that writes large values asks for more: fewer, larger tables
   * mean less compaction work per byte.
   */
  writeBufferSize?: number
  /**
   * How a leftover work tree under `tmp/` is removed at open. A driver whose
   * work trees may carry a mount passes one that unmounts first
   * (fs/removetree.ts); the default is a plain recursive remove.
   */
  removeTree?: (path: string) => Promise<void>
}

const removeRecursively = (path: string) => rm(path, { recursive: true, force: true, maxRetries: 3 })

export class Store {
  readonly root: string
  readonly db: Db
  readonly tmpRoot: string

  readonly #removeTree: (path: string) => Promise<void>
  readonly #unclaim: () => void
  #closed = false

  private constructor(root: string, db: Db, removeTree: (path: string) => Promise<void>, unclaim: () => void) {
    this.root = root
    this.db = db
    this.tmpRoot = join(root, 'tmp')
    this.#removeTree = removeTree
    this.#unclaim = unclaim
  }

  /**
   * Opens (creating if missing) the store at `root`. StoreInUseError
   * (ERR_UNAVAILABLE) if this or another process holds it: this process's
   * own hold is checked before any file of the store is touched.
   */
  static async open(root: string, opts: StoreOptions = {}): Promise<Store> {
    await mkdir(root, { recursive: true, mode: 0o711 })
    const unclaim = await claimRoot(root)
    let db: Db | undefined
    try {
      await createMeta(root)
      db = new Level<string, Buffer>(join(root, 'meta'), { valueEncoding: 'buffer' })
      try {
        await db.open(opts.writeBufferSize === undefined ? {} : { writeBufferSize: opts.writeBufferSize })
      } catch (err) {
        db = undefined
        const cause = (err as { cause?: { code?: string } }).cause
        if (cause?.code === 'LEVEL_LOCKED') throw new StoreInUseError(root, await readHolder(root), { cause: err })
        throw new UnavailableError(`cannot open store ${root}: ${(err as Error).message}`, { cause: err })
      }
      await writeHolder(root)
      const store = new Store(root, db, opts.removeTree ?? removeRecursively, unclaim)
      await store.clearTmp()
      return store
    } catch (err) {
      if (db !== undefined) {
        await removeHolder(root).catch(() => {})
        await db.close().catch(() => {})
      }
      unclaim()
      throw err
    }
  }

  sublevel<V>(name: string): Sublevel<string, V> {
    return sublevelOf<string, V>(this.db, name, 'utf8')
  }

  binarySublevel<V>(name: string): Sublevel<Buffer, V> {
    return sublevelOf<Buffer, V>(this.db, name, 'buffer')
  }

  transaction(): Transaction {
    return new Transaction(this.db)
  }

  /** A fresh directory under `<root>/tmp`, invisible to everything until renamed into place. */
  async tmpDir(prefix = 'w'): Promise<string> {
    const dir = join(this.tmpRoot, `${prefix}-${randomBytes(6).toString('hex')}`)
    await mkdir(dir, { recursive: true, mode: 0o700 })
    return dir
  }

  /** Everything in tmp/ is garbage when no operation is in flight. */
  async clearTmp(): Promise<void> {
    await mkdir(this.tmpRoot, { recursive: true, mode: 0o700 })
    for (const name of await readdir(this.tmpRoot)) {
      await this.#removeTree(join(this.tmpRoot, name))
    }
  }

  /** Gives the store up: the holder record goes first, while the lock still keeps it ours. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    try {
      await removeHolder(this.root).catch(() => {})
      await this.db.close()
    } finally {
      this.#unclaim()
    }
  }
}
