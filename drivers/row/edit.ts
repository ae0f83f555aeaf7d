/**
 * One file-system operation's change to one active snapshot, gathered in
 * memory and written as one LevelDB batch: the nodes it copied or changed,
 * the nodes and blocks it freed, the blocks it wrote, and the snapshot's
 * record (root, counters). Until the batch lands nothing outside the edit
 * changes, so an operation that fails half-way leaves no trace.
 *
 * Usage counters move in the same batch: bytes are the encoded nodes and
 * block bytes born in this generation, inodes the inode items it wrote.
 */
import { level } from '../../core/store.js'
import { DataLossError } from '../../core/errors.js'
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
  #touched = false

  constructor(src: NodeSource, gen: number, rec: TreeRecord, format: Format) {
    this.#src = src
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

  // ---- NodeWriter ----

  node(p: Ptr): Node {
    return this.#dirty.get(idOf(p.g, p.s)) ?? this.#src.node(p)
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
    if (pending === undefined) return this.#src.block(p)
    if (pending.data === null) throw new DataLossError(`row: block ${p.g}:${p.s} was freed in this edit`)
    return pending.data
  }

  newBlock(data: Buffer): BlockPtr {
    this.#touched = true
    const p = { g: this.gen, s: this.#rec.seq++, len: data.length }
    this.#blocks.set(idOf(p.g, p.s), { p, data })
    this.#rec.bytes += data.length
    return p
  }

  rewriteBlock(p: BlockPtr, data: Buffer): BlockPtr {
    if (p.g !== this.gen) throw new DataLossError(`row: block ${p.g}:${p.s} belongs to an ancestor`)
    this.#touched = true
    const q = { g: p.g, s: p.s, len: data.length }
    this.#blocks.set(idOf(p.g, p.s), { p: q, data })
    this.#rec.bytes += data.length - p.len
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
