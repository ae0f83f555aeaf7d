/**
 * Where committed nodes come from: an LRU of decoded nodes in front of the
 * database. A node's id never names two contents (ids are never reused, and
 * a node changes in place only inside its own generation's edits, which
 * update this cache after their batch lands), so nothing is invalidated.
 */
import { DataLossError } from '../../core/errors.js'
import type { Sublevel } from '../../core/store.js'
import { decodeNode, type Node, type Ptr } from './node.js'
import { blockDbKey, nodeKey } from './keys.js'
import type { BlockPtr } from './format.js'

/** The driver's sublevel: binary keys, raw values (nodes encode themselves; blocks are bytes). */
export type RowDb = Sublevel<Buffer, Buffer>

function cacheKey(g: number, s: number): string {
  return `${g}:${s}`
}

export class NodeCache {
  readonly #capacity: number
  readonly #map = new Map<string, Node>()

  constructor(capacity: number) {
    this.#capacity = capacity
  }

  get(g: number, s: number): Node | undefined {
    const k = cacheKey(g, s)
    const n = this.#map.get(k)
    if (n !== undefined) {
      this.#map.delete(k)
      this.#map.set(k, n)
    }
    return n
  }

  set(n: Node): void {
    const k = cacheKey(n.g, n.s)
    this.#map.delete(k)
    this.#map.set(k, n)
    if (this.#map.size > this.#capacity) this.#map.delete(this.#map.keys().next().value as string)
  }

  delete(g: number, s: number): void {
    this.#map.delete(cacheKey(g, s))
  }

  clear(): void {
    this.#map.clear()
  }
}

/**
 * The last few data blocks read. Small sequential reads (4 KiB through a
 * 64 KiB block) would otherwise fetch, and copy out of LevelDB, the same
 * block sixteen times. Unlike a node, a block of an active snapshot's own
 * generation is rewritten in place, so an edit drops the ids it wrote or
 * freed once its batch lands.
 */
export class BlockCache {
  readonly #maxBytes: number
  readonly #map = new Map<string, Buffer>()
  #bytes = 0

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes
  }

  get(g: number, s: number): Buffer | undefined {
    return this.#map.get(cacheKey(g, s))
  }

  set(g: number, s: number, data: Buffer): void {
    if (data.length > this.#maxBytes) return
    this.delete(g, s)
    this.#map.set(cacheKey(g, s), data)
    this.#bytes += data.length
    for (const [k, v] of this.#map) {
      if (this.#bytes <= this.#maxBytes) break
      this.#map.delete(k)
      this.#bytes -= v.length
    }
  }

  delete(g: number, s: number): void {
    const k = cacheKey(g, s)
    const v = this.#map.get(k)
    if (v === undefined) return
    this.#map.delete(k)
    this.#bytes -= v.length
  }
}

/** Reads committed nodes and blocks, synchronously (classic-level's getSync). */
export class NodeSource {
  readonly db: RowDb
  readonly cache: NodeCache
  readonly blocks: BlockCache

  constructor(db: RowDb, cache: NodeCache, blocks: BlockCache) {
    this.db = db
    this.cache = cache
    this.blocks = blocks
  }

  node(p: Ptr): Node {
    const hit = this.cache.get(p.g, p.s)
    if (hit !== undefined) return hit
    const buf = this.db.getSync(nodeKey(p.g, p.s))
    if (buf === undefined) throw new DataLossError(`row: tree node ${p.g}:${p.s} is missing`)
    const n = decodeNode(p.g, p.s, buf)
    this.cache.set(n)
    return n
  }

  /** A block's bytes, shared with the cache: callers copy out of it and never write into it. */
  block(p: BlockPtr): Buffer {
    const hit = this.blocks.get(p.g, p.s)
    if (hit !== undefined) return hit
    const buf = this.db.getSync(blockDbKey(p.g, p.s))
    if (buf === undefined) throw new DataLossError(`row: data block ${p.g}:${p.s} is missing`)
    this.blocks.set(p.g, p.s, buf)
    return buf
  }
}
