/**
 * fsck for one snapshot: walks its whole tree and checks what the design
 * promises. Every node is present, at its level, with keys in order and
 * inside its parent's bounds; every node and block was born in this
 * snapshot's generation or an ancestor's; every block a file points to
 * exists; every key this generation owns is reachable (nothing leaked); and
 * the usage counters equal what the walk finds.
 */
import { decodeBlockPtr, decodeInode } from './items.js'
import { ItemType, Prefix, blockDbKey, genRange, itemType } from './keys.js'
import { kidAt, kidCount, type Node, type Ptr } from './node.js'
import type { NodeSource } from './nodestore.js'
import type { SnapRecord } from './edit.js'

const MAX_REPORTED = 5

interface Walk {
  problems: string[]
  ownNodes: Set<string>
  ownBlocks: Set<string>
  otherBlocks: Buffer[]
  bytes: number
  inodes: number
}

export async function verifySnapshot(
  src: NodeSource, id: number, rec: SnapRecord, ancestors: number[],
): Promise<string | undefined> {
  const allowed = new Set([id, ...ancestors])
  const w: Walk = { problems: [], ownNodes: new Set(), ownBlocks: new Set(), otherBlocks: [], bytes: 0, inodes: 0 }
  walkNode(src, w, allowed, id, rec.root, undefined, undefined, undefined)
  if (w.problems.length === 0) {
    await checkBlocksExist(src, w)
    await checkNothingLeaked(src, w, id)
    if (w.bytes !== rec.bytes) w.problems.push(`usage counts ${rec.bytes} bytes, the tree owns ${w.bytes}`)
    if (w.inodes !== rec.inodes) w.problems.push(`usage counts ${rec.inodes} inodes, the tree owns ${w.inodes}`)
  }
  if (w.problems.length === 0) return undefined
  const more = w.problems.length > MAX_REPORTED ? ` (and ${w.problems.length - MAX_REPORTED} more)` : ''
  return w.problems.slice(0, MAX_REPORTED).join('; ') + more
}

function walkNode(
  src: NodeSource, w: Walk, allowed: Set<number>, id: number, p: Ptr,
  level: number | undefined, lo: Buffer | undefined, hi: Buffer | undefined,
): void {
  if (!allowed.has(p.g)) return void w.problems.push(`node ${p.g}:${p.s} belongs to generation ${p.g}, outside the chain`)
  let n: Node
  try {
    n = src.node(p)
  } catch {
    return void w.problems.push(`node ${p.g}:${p.s} is missing`)
  }
  if (level !== undefined && n.level !== level) w.problems.push(`node ${p.g}:${p.s} is at level ${n.level}, expected ${level}`)
  if (p.g === id) {
    w.ownNodes.add(`${p.g}:${p.s}`)
    w.bytes += n.stored
  }
  for (let i = 0; i < n.keys.length; i++) {
    const k = n.keys[i]
    if (i > 0 && Buffer.compare(n.keys[i - 1], k) >= 0) w.problems.push(`node ${p.g}:${p.s} has keys out of order`)
    if ((lo && Buffer.compare(k, lo) < 0) || (hi && Buffer.compare(k, hi) >= 0)) {
      w.problems.push(`node ${p.g}:${p.s} has a key outside its parent's bounds`)
    }
  }
  if (n.level === 0) return leafItems(w, allowed, id, n)
  if (kidCount(n) !== n.keys.length + 1) w.problems.push(`node ${p.g}:${p.s} has ${kidCount(n)} children for ${n.keys.length} keys`)
  for (let i = 0; i < kidCount(n); i++) {
    walkNode(src, w, allowed, id, kidAt(n, i), n.level - 1, i > 0 ? n.keys[i - 1] : lo, i < n.keys.length ? n.keys[i] : hi)
  }
}

function leafItems(w: Walk, allowed: Set<number>, id: number, n: Node): void {
  for (let i = 0; i < n.keys.length; i++) {
    const type = itemType(n.keys[i])
    if (type === ItemType.Inode) {
      if (decodeInode(n.vals[i]).gen === id) w.inodes++
    } else if (type === ItemType.Block) {
      const b = decodeBlockPtr(n.vals[i])
      if (!allowed.has(b.g)) w.problems.push(`block ${b.g}:${b.s} belongs to generation ${b.g}, outside the chain`)
      else if (b.g === id) {
        w.ownBlocks.add(`${b.g}:${b.s}`)
        w.bytes += b.len
      }
      w.otherBlocks.push(blockDbKey(b.g, b.s))
    }
  }
}

async function checkBlocksExist(src: NodeSource, w: Walk): Promise<void> {
  for (let i = 0; i < w.otherBlocks.length; i += 1000) {
    const keys = w.otherBlocks.slice(i, i + 1000)
    const present = await src.db.hasMany(keys)
    present.forEach((ok, j) => {
      if (!ok) w.problems.push(`block ${keys[j].readUInt32BE(1)}:${keys[j].readUInt32BE(5)} is missing`)
    })
  }
}

async function checkNothingLeaked(src: NodeSource, w: Walk, id: number): Promise<void> {
  for (const [prefix, reached, what] of [[Prefix.Node, w.ownNodes, 'node'], [Prefix.Block, w.ownBlocks, 'block']] as const) {
    const [gte, lt] = genRange(prefix, id)
    for await (const k of src.db.keys({ gte, lt })) {
      const name = `${k.readUInt32BE(1)}:${k.readUInt32BE(5)}`
      if (!reached.has(name)) w.problems.push(`${what} ${name} is owned but unreachable (leaked)`)
    }
  }
}
