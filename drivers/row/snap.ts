/**
 * One snapshot at run time: its record and the lock that orders its
 * operations. Every SnapshotFs of the same snapshot shares it, so two
 * handles never interleave halves of two operations. A frozen snapshot
 * (committed, or a view) never changes, so its reads need no lock.
 */
import { FailedPreconditionError } from '../../core/errors.js'
import { Mutex } from '../../core/mutex.js'
import type { NodeSource } from './nodestore.js'
import { Edit } from './edit.js'
import type { Format, TreeRecord } from './format.js'
import { Reader, type Items } from './items.js'

export class Snap {
  readonly id: number
  readonly format: Format
  readonly #src: NodeSource
  readonly #mutex = new Mutex()
  #rec: TreeRecord
  #frozen: boolean

  constructor(src: NodeSource, format: Format, id: number, rec: TreeRecord, frozen: boolean) {
    this.#src = src
    this.format = format
    this.id = id
    this.#rec = rec
    this.#frozen = frozen
  }

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

  /** Runs a read against the tree as it stands, after any operation in flight. */
  read<T>(fn: (t: Items) => T): Promise<T> {
    if (this.#frozen) {
      try {
        return Promise.resolve(fn(this.reader()))
      } catch (err) {
        return Promise.reject(err)
      }
    }
    return this.#mutex.run(async () => fn(this.reader()))
  }

  /** Runs one operation as one batch. */
  write<T>(fn: (e: Edit) => T): Promise<T> {
    return this.#mutex.run(async () => this.#step(fn))
  }

  /**
   * Runs batches back to back, nothing else in between, while `fn` says
   * there is more (a large write, one slice of blocks per batch, so no
   * batch grows without bound).
   */
  writeWhile(fn: (e: Edit) => boolean): Promise<void> {
    return this.#mutex.run(async () => {
      while (await this.#step(fn));
    })
  }

  async #step<T>(fn: (e: Edit) => T): Promise<T> {
    if (this.#frozen) throw new FailedPreconditionError(`row: snapshot ${this.id} is frozen`)
    const e = new Edit(this.#src, this.id, this.#rec, this.format)
    const out = fn(e)
    if (e.changed) this.#rec = await e.commit()
    return out
  }

  /** Resolves once every operation started before it has finished. */
  idle(): Promise<void> {
    return this.#mutex.run(async () => {})
  }
}
