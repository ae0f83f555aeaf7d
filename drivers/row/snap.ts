/**
 * One snapshot at run time: its record and the lock that orders its
 * operations. Every SnapshotFs of the same snapshot shares it, so two
 * handles never interleave halves of two operations. A frozen snapshot
 * (committed, or a view) never changes, so its reads need no lock.
 *
 * Operations on an active snapshot are gathered: each runs in a child of
 * the pending edit and is absorbed when it succeeds, and the pending edit
 * lands as one batch once it carries about GATHER_BYTES, when a SnapshotFs
 * closes, and before commit, usage, changes, verify and close. An image
 * layer of thousands of small files is a few batches instead of one or more
 * per file operation. What is not landed when the process dies is lost
 * whole, never in part (each batch is a consistent tree), which is all an
 * active snapshot promises; a commit lands and syncs everything first.
 */
import { FailedPreconditionError } from '../../core/errors.js'
import { Mutex } from '../../core/mutex.js'
import { encodeTreeRecord } from './format.js'
import { snapKey } from './keys.js'
import type { NodeSource } from './nodestore.js'
import { Edit } from './edit.js'
import type { Format, TreeRecord } from './format.js'
import { Reader, type Items } from './items.js'

/** The pending edit lands once it carries about this much. */
const GATHER_BYTES = 32 << 20

export class Snap {
  readonly id: number
  readonly format: Format
  readonly #src: NodeSource
  readonly #mutex = new Mutex()
  #rec: TreeRecord
  #frozen: boolean
  /** Operations that succeeded but have not landed yet. */
  #pending: Edit | undefined
  /** Removed: nothing of it may land any more. */
  #dropped = false

  constructor(src: NodeSource, format: Format, id: number, rec: TreeRecord, frozen: boolean) {
    this.#src = src
    this.format = format
    this.id = id
    this.#rec = rec
    this.#frozen = frozen
  }

  /** The record as the database has it (call flush() first for the operations gathered since). */
  get record(): TreeRecord {
    return this.#rec
  }

  get frozen(): boolean {
    return this.#frozen
  }

  /** A committed snapshot or a view never changes; an active one does (core tells which by the kind). */
  setFrozen(frozen: boolean): void {
    this.#frozen = frozen
  }

  reader(): Reader {
    return new Reader(this.#src, this.#rec.root, this.format.blockSize)
  }

  /** Runs a read against the tree as it stands (gathered operations included), after any operation in flight. */
  read<T>(fn: (t: Items) => T): Promise<T> {
    if (this.#frozen && this.#pending === undefined) {
      try {
        return Promise.resolve(fn(this.reader()))
      } catch (err) {
        return Promise.reject(err)
      }
    }
    return this.#mutex.run(async () => fn(this.#pending ?? this.reader()))
  }

  /** Runs one operation: all of it or nothing joins the pending edit. */
  write<T>(fn: (e: Edit) => T): Promise<T> {
    return this.#mutex.run(async () => this.#step(fn, true))
  }

  /**
   * Runs steps back to back, nothing else in between, while `fn` says there
   * is more (a large write, one slice of blocks per step, so no batch grows
   * without bound). A `large` write lands before it returns, so its bytes
   * go to LevelDB without a copy of their own; a small one is gathered.
   */
  writeWhile(fn: (e: Edit) => boolean, opts: { large: boolean }): Promise<void> {
    return this.#mutex.run(async () => {
      while (await this.#step(fn, !opts.large));
      if (opts.large) await this.#land()
    })
  }

  async #step<T>(fn: (e: Edit) => T, copy: boolean): Promise<T> {
    if (this.#frozen) throw new FailedPreconditionError(`row: snapshot ${this.id} is frozen`)
    if (this.#dropped) throw new FailedPreconditionError(`row: snapshot ${this.id} was removed`)
    const base = this.#pending
    const e = base?.child() ?? new Edit(this.#src, this.id, this.#rec, this.format)
    const out = fn(e)
    if (!e.changed) return out
    if (base !== undefined) base.absorb(e, copy)
    else {
      if (copy) e.ownBlocks()
      this.#pending = e
    }
    if (this.#pending!.load >= GATHER_BYTES) await this.#land()
    return out
  }

  /** Writes the pending edit as one batch. */
  async #land(): Promise<void> {
    const e = this.#pending
    if (e === undefined) return
    this.#pending = undefined
    if (this.#dropped) return
    this.#rec = await e.commit()
  }

  /** Lands every operation that has finished; resolves once those started before it have too. */
  flush(): Promise<void> {
    return this.#mutex.run(() => this.#land())
  }

  /** Resolves once every operation started before it has finished and landed. */
  /**
   * Makes every operation so far durable (fsync): the pending edit lands, then one synced write of
   * the snapshot's record, and LevelDB syncs its log up to and including it.
   */
  sync(): Promise<void> {
    return this.#mutex.run(async () => {
      await this.#land()
      if (this.#frozen) return
      // classic-level takes `sync` on put; abstract-level's type does not name it.
      await this.#src.db.put(snapKey(this.id), encodeTreeRecord(this.#rec), { sync: true } as never)
    })
  }

  /** Resolves once every operation started before it has finished. */
  idle(): Promise<void> {
    return this.flush()
  }

  /** The snapshot was removed: what is gathered is thrown away, and nothing lands any more. */
  drop(): void {
    this.#dropped = true
    this.#pending = undefined
  }
}
