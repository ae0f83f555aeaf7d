/**
 * fsck for one snapshot: walks its whole tree and checks what the design
 * promises. Every node is present, at its level, with keys in order and
 * inside its parent's bounds; every node and block was born in this
 * snapshot's generation or an ancestor's; every block a file points to
 * exists; every key this generation owns is reachable (nothing leaked); and
 * the usage counters equal what the walk finds.
 */
import { ItemType, Prefix, blockDbKey, genRange, itemType } from './keys.js'
import { kidAt, kidCount, type Node, type Ptr } from './node.js'
import type { NodeSource } from './nodestore.js'
import { decodeBlockPtr, decodeInode, type TreeRecord } from './format.js'

const MAX_REPORTED = 5

interface Bounds {
  level?: number
  lo?: Buffer | undefined
  hi?: Buffer | undefined
}

/** One walk of one snapshot's tree, gathering what it owns and what is wrong. */
class TreeCheck {
  readonly problems: string[] = []
  readonly ownNodes = new Set<string>()
  readonly ownBlocks = new Set<string>()
  readonly blockKeys: Buffer[] = []
  bytes = 0
  inodes = 0
  readonly #src: NodeSource
  readonly #id: number
  readonly #allowed: Set<number>

  constructor(src: NodeSource, id: number, ancestors: number[]) {
    this.#src = src
    this.#id = id
    this.#allowed = new Set([id, ...ancestors])
  }

  walk(p: Ptr, b: Bounds): void {
    if (!this.#allowed.has(p.g)) return void this.problems.push(`node ${p.g}:${p.s} belongs to generation ${p.g}, outside the chain`)
    let n: Node
    try {
      n = this.#src.node(p)
    } catch {
      return void this.problems.push(`node ${p.g}:${p.s} is missing`)
    }
    if (b.level !== undefined && n.level !== b.level) this.problems.push(`node ${p.g}:${p.s} is at level ${n.level}, expected ${b.level}`)
    if (p.g === this.#id) {
      this.ownNodes.add(`${p.g}:${p.s}`)
      this.bytes += n.stored
    }
    for (let i = 0; i < n.keys.length; i++) {
      const k = n.keys[i]
      if (i > 0 && Buffer.compare(n.keys[i - 1], k) >= 0) this.problems.push(`node ${p.g}:${p.s} has keys out of order`)
      if ((b.lo && Buffer.compare(k, b.lo) < 0) || (b.hi && Buffer.compare(k, b.hi) >= 0)) {
        this.problems.push(`node ${p.g}:${p.s} has a key outside its parent's bounds`)
      }
    }
    if (n.level === 0) {
      this.#items(n)
      return
    }
    if (kidCount(n) !== n.keys.length + 1) this.problems.push(`node ${p.g}:${p.s} has ${kidCount(n)} children for ${n.keys.length} keys`)
    for (let i = 0; i < kidCount(n); i++) {
      this.walk(kidAt(n, i), { level: n.level - 1, lo: i > 0 ? n.keys[i - 1] : b.lo, hi: i < n.keys.length ? n.keys[i] : b.hi })
    }
  }

  #items(n: Node): void {
    for (let i = 0; i < n.keys.length; i++) {
      const type = itemType(n.keys[i])
      if (type === ItemType.Inode) {
        if (decodeInode(n.vals[i]).gen === this.#id) this.inodes++
      } else if (type === ItemType.Block) {
        const b = decodeBlockPtr(n.vals[i])
        if (!this.#allowed.has(b.g)) this.problems.push(`block ${b.g}:${b.s} belongs to generation ${b.g}, outside the chain`)
        else if (b.g === this.#id) {
          this.ownBlocks.add(`${b.g}:${b.s}`)
          this.bytes += b.len
        }
        this.blockKeys.push(blockDbKey(b.g, b.s))
      }
    }
  }

  async blocksExist(): Promise<void> {
    for (let i = 0; i < this.blockKeys.length; i += 1000) {
      const keys = this.blockKeys.slice(i, i + 1000)
      const present = await this.#src.db.hasMany(keys)
      present.forEach((ok, j) => {
        if (!ok) this.problems.push(`block ${keys[j].readUInt32BE(1)}:${keys[j].readUInt32BE(5)} is missing`)
      })
    }
  }

  /** Every node and block key of this generation must have been reached. */
  async nothingLeaked(): Promise<void> {
    for (const [prefix, reached, what] of [
      [Prefix.Node, this.ownNodes, 'node'],
      [Prefix.Block, this.ownBlocks, 'block'],
    ] as const) {
      const [gte, lt] = genRange(prefix, this.#id)
      for await (const k of this.#src.db.keys({ gte, lt })) {
        const name = `${k.readUInt32BE(1)}:${k.readUInt32BE(5)}`
        if (!reached.has(name)) this.problems.push(`${what} ${name} is owned but unreachable (leaked)`)
      }
    }
  }
}

/** Why the snapshot's tree is broken, or undefined when it is whole. */
export async function verifySnapshot(
  src: NodeSource,
  snap: { id: number; rec: TreeRecord; ancestors: number[] },
): Promise<string | undefined> {
  const c = new TreeCheck(src, snap.id, snap.ancestors)
  c.walk(snap.rec.root, {})
  if (c.problems.length === 0) {
    await c.blocksExist()
    await c.nothingLeaked()
    if (c.bytes !== snap.rec.bytes) c.problems.push(`usage counts ${snap.rec.bytes} bytes, the tree owns ${c.bytes}`)
    if (c.inodes !== snap.rec.inodes) c.problems.push(`usage counts ${snap.rec.inodes} inodes, the tree owns ${c.inodes}`)
  }
  if (c.problems.length === 0) return undefined
  const more = c.problems.length > MAX_REPORTED ? ` (and ${c.problems.length - MAX_REPORTED} more)` : ''
  return c.problems.slice(0, MAX_REPORTED).join('; ') + more
}
