/**
 * Space as the disk sees it: allocated blocks (st_blocks × 512), each
 * hard-linked inode once, LevelDB's files included. LevelDB keeps deleted
 * values until compaction, so figures are reported before and after one.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, lstatSync } from 'node:fs'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { diskUsage } from '../fs/diskusage.js'

export async function allocatedBytes(dir: string): Promise<number> {
  return (await diskUsage(dir)).size
}

/**
 * Allocated bytes of a store without LevelDB's own bookkeeping: its text LOG
 * and its MANIFEST (the list of table files, rewritten at every open). Those
 * move by tens to hundreds of KiB with the compaction history, whatever the
 * data, and would drown the 64 KiB a redirect-on-write costs.
 */
export async function dataBytes(root: string): Promise<number> {
  let bookkeeping = 0
  const meta = join(root, 'meta')
  if (existsSync(meta)) {
    for (const name of readdirSync(meta)) {
      if (name === 'LOG' || name === 'LOG.old' || name.startsWith('MANIFEST-')) bookkeeping += lstatSync(join(meta, name)).blocks * 512
    }
  }
  return (await allocatedBytes(root)) - bookkeeping
}

/** Compacts the LevelDB of a closed store (every key range). */
export async function compactStore(root: string): Promise<void> {
  if (!existsSync(join(root, 'meta'))) return
  const db = new ClassicLevel<Buffer, Buffer>(join(root, 'meta'), { keyEncoding: 'buffer', valueEncoding: 'buffer' })
  await db.open()
  try {
    await db.compactRange(Buffer.alloc(0), Buffer.alloc(64, 0xff))
  } finally {
    await db.close()
  }
}

/**
 * This machine's root ext4 creates files slowly right after a large delete
 * (research/node-deps.md §3): flush and give it a moment before measuring.
 */
export async function settle(ms = 1500): Promise<void> {
  try {
    execFileSync('sync')
  } catch {
    // sync is best effort
  }
  await new Promise((r) => setTimeout(r, ms))
}
