/**
 * Changes to one active snapshot, gathered in memory and written as one
 * LevelDB batch: the nodes copied or changed, the nodes and blocks freed,
 * the blocks written, and the snapshot's record (root, counters). Until the
 * batch lands nothing outside the edit changes.
 *
 * Edits stack: each file-system operation runs in a child of the snapshot's
 * pending edit and is absorbed into it only when it succeeds, so an
 * operation that fails half-way leaves no trace, while many operations
 * share one batch (and each node they touch is encoded once, not once per
 * operation).
 *
 * Usage counters move in the same batch: bytes are the encoded nodes and
 * block bytes born in this generation, inodes the inode items it wrote.
 */
import { level } from '../../core/store.js'
import { DataLossError, FailedPreconditionError } from '../../core/errors.js'
import { blockDbKey, nodeKey, snapKey } from './keys.js'
import { cloneNode, emptyNode, encodeNode, type Node, type Ptr } from './node.js'
import type { NodeSource } from './nodestore.js'
import { insert, lookup, remove, removeRange, scan, type NodeReader, type NodeWriter } from './tree.js'
import { type BlockPtr, encodeTreeRecord, type Format, type TreeRecord } from './format.js'
import type { ItemEdit } from './items.js'

export type BatchOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer }

const idOf = (g: number, s: number): string => `${g}:${s}`

export class Edit implements ItemEdit, NodeWriter, NodeReader {
  readonly gen: number
  readonly blockSize: number
  readonly inlineMax: number
  readonly maxBytes: number
  root: Ptr
  readonly #src: NodeSource
  readonly #rec: TreeRecord
  readonly #dirty = new Map<string, Node>()
  readonly #dead = new Map<string, Node>()
  readonly #blocks = new Map<string, { p: BlockPtr; data: Buffer | null }>()
  /** Nodes of this generation dropped here that the edit below may still hold. */
  readonly #released = new Set<string>()
  /** The edit this one stacks on (undefined: the database). */
  readonly #under: Edit | undefined
  readonly #format: Format
  #touched = false
  #blockBytes = 0

  constructor(src: NodeSource, gen: number, rec: TreeRecord, format: Format, under?: Edit) {
    this.#src = src
    this.#under = under
    this.#format = format
    this.gen = gen
    this.#rec = { ...rec, root: { ...rec.root } }
    this.root = this.#rec.root
    this.blockSize = format.blockSize
    this.inlineMax = format.inlineMax
    this.maxBytes = format.nodeBytes
  }

  /** An edit of a new, empty tree whose root is a leaf born in `gen`. */
  static empty(src: NodeSource, gen: number, format: Format, firstIno: number): Edit {
    const e = new Edit(src, gen, { root: { g: gen, s: 0 }, ino: firstIno, seq: 0, bytes: 0, inodes: 0 }, format)
    e.root = e.create(0)
    return e
  }

  get changed(): boolean {
    return this.#touched
  }

  /** Roughly what the batch would carry now: block bytes and changed nodes at their size limit. */
  get load(): number {
    return this.#blockBytes + (this.#dirty.size + this.#dead.size) * this.maxBytes
  }

  /** An edit on top of this one: it sees this edit's changes, and changes nothing here until absorbed. */
  child(): Edit {
    return new Edit(this.#src, this.gen, { ...this.#rec, root: this.root }, this.#format, this)
  }

  /**
   * Takes a child's changes in (the child is done with). With `copy`, block
   * bytes are copied: they may be the caller's buffer, which it may reuse
   * once the operation returned, and this edit lands later.
   */
  absorb(c: Edit, copy: boolean): void {
    if (c.#under !== this) throw new FailedPreconditionError('row: an edit absorbs only its own child')
    if (!c.#touched) return
    this.#touched = true
    for (const id of c.#released) {
      this.#dirty.delete(id)
      this.#released.add(id)
    }
    for (const [id, n] of c.#dead) this.#dead.set(id, n)
    for (const [id, n] of c.#dirty) this.#dirty.set(id, n)
    for (const [id, b] of c.#blocks) {
      this.#blocks.set(id, copy && b.data !== null ? { p: b.p, data: Buffer.from(b.data) } : b)
    }
    this.#blockBytes += c.#blockBytes
    Object.assign(this.#rec, c.#rec, { root: { ...c.#rec.root } })
    this.root = c.root
  }

  /** Copies every block's bytes (a first operation's edit, kept as the pending one). */
  ownBlocks(): void {
    for (const b of this.#blocks.values()) if (b.data !== null) b.data = Buffer.from(b.data)
  }

  // ---- NodeWriter ----

  node(p: Ptr): Node {
    return this.#dirty.get(idOf(p.g, p.s)) ?? (this.#under ?? this.#src).node(p)
  }

  writable(n: Node): Node {
    this.#touched = true
    const own = this.#dirty.get(idOf(n.g, n.s))
    if (own !== undefined) return own
    const c = n.g === this.gen ? cloneNode(n, n.g, n.s) : cloneNode(n, this.gen, this.#rec.seq++)
    this.#dirty.set(idOf(c.g, c.s), c)
    return c
  }

  create(level: number): Node {
    this.#touched = true
    const n = emptyNode(this.gen, this.#rec.seq++, level)
    this.#dirty.set(idOf(n.g, n.s), n)
    return n
  }

  release(n: Node): void {
    if (n.g !== this.gen) return
    const id = idOf(n.g, n.s)
    this.#dirty.delete(id)
    if (this.#under !== undefined) this.#released.add(id)
    if (n.stored > 0) this.#dead.set(id, n)
  }

  // ---- ItemEdit ----

  get(key: Buffer): Buffer | undefined {
    return lookup(this, this.root, key)
  }

  scan(lo: Buffer, hi: Buffer, fn: (k: Buffer, v: Buffer) => boolean | void): void {
    scan(this, this.root, lo, hi, fn)
  }

  put(key: Buffer, val: Buffer): void {
    this.root = insert(this, this.root, key, val)
  }

  del(key: Buffer): Buffer | undefined {
    const { root, old } = remove(this, this.root, key)
    this.root = root
    return old
  }

  delRange(lo: Buffer, hi: Buffer, onItem: (k: Buffer, v: Buffer) => void): void {
    this.root = removeRange(this, this.root, lo, hi, onItem)
  }

  allocIno(): number {
    this.#touched = true
    return this.#rec.ino++
  }

  block(p: BlockPtr): Buffer {
    const pending = this.#blocks.get(idOf(p.g, p.s))
    if (pending === undefined) return (this.#under ?? this.#src).block(p)
    if (pending.data === null) throw new DataLossError(`row: block ${p.g}:${p.s} was freed in this edit`)
    return pending.data
  }

  newBlock(data: Buffer): BlockPtr {
    this.#touched = true
    const p = { g: this.gen, s: this.#rec.seq++, len: data.length }
    this.#blocks.set(idOf(p.g, p.s), { p, data })
    this.#rec.bytes += data.length
    this.#blockBytes += data.length
    return p
  }

  rewriteBlock(p: BlockPtr, data: Buffer): BlockPtr {
    if (p.g !== this.gen) throw new DataLossError(`row: block ${p.g}:${p.s} belongs to an ancestor`)
    this.#touched = true
    const q = { g: p.g, s: p.s, len: data.length }
    this.#blocks.set(idOf(p.g, p.s), { p: q, data })
    this.#rec.bytes += data.length - p.len
    this.#blockBytes += data.length
    return q
  }

  freeBlock(p: BlockPtr): void {
    if (p.g !== this.gen) return
    this.#touched = true
    this.#blocks.set(idOf(p.g, p.s), { p, data: null })
    this.#rec.bytes -= p.len
  }

  countInodes(delta: number): void {
    this.#touched = true
    this.#rec.inodes += delta
  }

  // ---- the batch ----

  /**
   * The batch that makes this edit real, and what to do once it landed
   * (publish the written nodes to the cache). Counters include the nodes'
   * encoded sizes, known only now.
   */
  batch(): { ops: BatchOp[]; record: TreeRecord; landed: () => void } {
    if (this.#under !== undefined) throw new FailedPreconditionError('row: a child edit lands through the edit it stacks on')
    const ops: BatchOp[] = []
    const rec = this.#rec
    const written: Array<[Node, number]> = []
    for (const n of this.#dirty.values()) {
      const value = encodeNode(n)
      rec.bytes += value.length - n.stored
      ops.push({ type: 'put', key: nodeKey(n.g, n.s), value })
      written.push([n, value.length])
    }
    for (const n of this.#dead.values()) {
      rec.bytes -= n.stored
      ops.push({ type: 'del', key: nodeKey(n.g, n.s) })
    }
    for (const { p, data } of this.#blocks.values()) {
      ops.push(data === null ? { type: 'del', key: blockDbKey(p.g, p.s) } : { type: 'put', key: blockDbKey(p.g, p.s), value: data })
    }
    rec.root = { g: this.root.g, s: this.root.s }
    ops.push({ type: 'put', key: snapKey(this.gen), value: encodeTreeRecord(rec) })
    const landed = (): void => {
      for (const [n, len] of written) {
        n.stored = len
        this.#src.cache.set(n)
      }
      for (const n of this.#dead.values()) this.#src.cache.delete(n.g, n.s)
      for (const { p } of this.#blocks.values()) this.#src.blocks.delete(p.g, p.s)
    }
    return { ops, record: { ...rec }, landed }
  }

  /** Writes the batch; returns the snapshot's new record. */
  async commit(): Promise<TreeRecord> {
    const { ops, record, landed } = this.batch()
    await level(() => this.#src.db.batch(ops))
    landed()
    return record
  }
}
