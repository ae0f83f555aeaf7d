/**
 * Where an image import's time goes, for one driver: the wall time, and
 * every LevelDB batch the store wrote (how many, their operations, their
 * bytes, how many synced). Run it under `node --cpu-prof` for the profile:
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof dist/bench/profile-import.js row [image]
 *
 * The image defaults to the bench's Debian docker-archive (bench/debian.ts).
 */
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import '../index.js'
import { openSnapshotter } from '../core/registry.js'
import { removeTree } from '../fs/removetree.js'
import { importImage } from '../image/import.js'
import { debianImage } from './debian.js'
import { fmtBytes, fmtMs, time } from './stats.js'

export interface BatchCounts {
  batches: number
  synced: number
  ops: number
  bytes: number
}

type BatchOp = { type: string; key?: unknown; value?: unknown }
type BatchFn = (ops: BatchOp[], opts: { sync?: boolean }) => Promise<void>

const size = (x: unknown): number => (Buffer.isBuffer(x) ? x.length : typeof x === 'string' ? Buffer.byteLength(x) : 0)

/** Counts every batch any ClassicLevel in this process writes, while `fn` runs. */
export async function countBatches<T>(fn: () => Promise<T>): Promise<[BatchCounts, T]> {
  const counts: BatchCounts = { batches: 0, synced: 0, ops: 0, bytes: 0 }
  const proto = ClassicLevel.prototype as unknown as { _batch: BatchFn }
  const original = proto._batch
  proto._batch = function (this: unknown, ops: BatchOp[], opts: { sync?: boolean }) {
    counts.batches++
    if (opts?.sync) counts.synced++
    counts.ops += ops.length
    for (const op of ops) counts.bytes += size(op.key) + size(op.value)
    return original.call(this, ops, opts)
  }
  try {
    return [counts, await fn()]
  } finally {
    proto._batch = original
  }
}

async function main(): Promise<void> {
  const driver = process.argv[2] ?? 'row'
  const archive = process.argv[3] ?? (await debianImage((m) => process.stderr.write(`${m}\n`))).archive
  const root = await mkdtemp(join(tmpdir(), `strata-profile-${driver}-`))
  try {
    const sn = await openSnapshotter(driver, root)
    try {
      const [counts, [ms]] = await countBatches(() => time(() => importImage(sn, archive)))
      process.stdout.write(
        `${driver}: import ${fmtMs(ms)}; ${counts.batches} LevelDB batches (${counts.synced} synced), ` +
          `${counts.ops} operations, ${fmtBytes(counts.bytes)}\n`,
      )
    } finally {
      await sn.close()
    }
  } finally {
    await removeTree(root)
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
