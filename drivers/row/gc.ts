/**
 * Freeing by birth. A snapshot is removed only once it has no children, so
 * every node and block its generation wrote is reachable from it alone:
 * freeing is deleting its generation's key ranges, with no reference counts
 * and no walk of the tree. Each range is cleared in chunks, and the
 * snapshot's record and removal mark go last, so a process that dies
 * half-way simply clears again at the next open.
 */
import type { Store } from '../../core/store.js'
import { Prefix, gcKey, genRange, prefixRange, snapKey } from './keys.js'
import type { RowDb } from './nodestore.js'

/** classic-level's option for iterators over 64 KiB values: fill each native round trip. */
export const LARGE_VALUES: Record<string, unknown> = { highWaterMarkBytes: 4 << 20 }

export async function freeGeneration(store: Store, db: RowDb, id: number): Promise<void> {
  for (const prefix of [Prefix.Node, Prefix.Block]) {
    const [gte, lt] = genRange(prefix, id)
    await db.clear({ gte, lt })
  }
  await store.transaction().del(db, snapKey(id)).del(db, gcKey(id)).write({ sync: true })
}

/** Ids with a key of this prefix (snapshot records, removal marks). */
export async function idsWith(db: RowDb, prefix: number): Promise<number[]> {
  const [gte, lt] = prefixRange(prefix)
  const out: number[] = []
  for await (const k of db.keys({ gte, lt })) out.push(k.readUInt32BE(1))
  return out
}

/** What the driver's keys hold, by kind: what "nothing left" is checked against. */
export interface RowKeyCounts {
  /** Snapshot records. */
  snapshots: number
  /** Snapshots removed whose objects still await freeing. */
  pendingRemovals: number
  nodes: number
  nodeBytes: number
  blocks: number
  blockBytes: number
}

export async function countKeys(db: RowDb): Promise<RowKeyCounts> {
  const c: RowKeyCounts = { snapshots: 0, pendingRemovals: 0, nodes: 0, nodeBytes: 0, blocks: 0, blockBytes: 0 }
  for await (const [k, v] of db.iterator(LARGE_VALUES)) {
    switch (k[0]) {
      case Prefix.Snap:
        c.snapshots++
        break
      case Prefix.Gc:
        c.pendingRemovals++
        break
      case Prefix.Node:
        c.nodes++
        c.nodeBytes += v.length
        break
      case Prefix.Block:
        c.blocks++
        c.blockBytes += v.length
        break
    }
  }
  return c
}
