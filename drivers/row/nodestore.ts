/**
 * Where committed nodes come from: an LRU of decoded nodes in front of the
 * database. A node's id never names two contents (ids are never reused, and
 * a node changes in place only inside its own generation's edits, which
 * update this cache after their batch lands), so nothing is invalidated.
 */
import type { Sublevel } from '../../core/store.js'
import { decodeNode, type Node, type Ptr } from './node.js'
import { blockDbKey, nodeKey } from './keys.js'
import type { BlockPtr } from './items.js'

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

/** Reads committed nodes and blocks, synchronously (classic-level's getSync). */
export class NodeSource {
  readonly db: RowDb
  readonly cache: NodeCache

  constructor(db: RowDb, cache: NodeCache) {
    this.db = db
    this.cache = cache
  }

  node(p: Ptr): Node {
    const hit = this.cache.get(p.g, p.s)
    if (hit !== undefined) return hit
    const buf = this.db.getSync(nodeKey(p.g, p.s))
    if (buf === undefined) throw new Error(`row: tree node ${p.g}:${p.s} is missing`)
    const n = decodeNode(p.g, p.s, buf)
    this.cache.set(n)
    return n
  }

  block(p: BlockPtr): Buffer {
    const buf = this.db.getSync(blockDbKey(p.g, p.s))
    if (buf === undefined) throw new Error(`row: data block ${p.g}:${p.s} is missing`)
    return buf
  }
}
