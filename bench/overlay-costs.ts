/**
 * What a layer costs a driver, measured side by side in one run:
 *
 * 1. `prepare` on a 1 GiB parent against `prepare` on a 10 MiB parent, in
 *    interleaved rounds (median, min–max, and the ratio of the medians). A
 *    driver that copies the parent pays for its size; overlay should not.
 * 2. The usage a 1-byte write into a 256 MiB file of the parent adds to the
 *    child: overlay copies the whole file up, a block-level driver should not.
 *
 *   node dist/bench/overlay-costs.js [driver=overlay] [rounds=15] [workdir=$TMPDIR]
 *
 * The measuring functions take any Snapshotter and are exported for the
 * project's benchmark suite.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { openSnapshotter } from '../index.js'
import { removeTree } from '../fs/removetree.js'
import type { Snapshotter, Usage } from '../core/snapshotter.js'

const MiB = 1 << 20
const GiB = 1 << 30
const CHUNK = 8 * MiB

/**
 * Commits `name` (no parent) holding `bytes` of random data, in files of at
 * most `fileBytes` (default 8 MiB) named /data-0, /data-1, …
 */
export async function commitFilled(sn: Snapshotter, opts: { name: string; bytes: number; fileBytes?: number }): Promise<void> {
  const { name, bytes, fileBytes = 8 * MiB } = opts
  const key = `${name}-fill`
  await sn.prepare(key)
  const fs = await sn.open(key)
  try {
    for (let i = 0, left = bytes; left > 0; i++, left -= fileBytes) {
      const fh = await fs.open(`/data-${i}`, 'w')
      const size = Math.min(fileBytes, left)
      for (let pos = 0; pos < size; pos += CHUNK) {
        // Fresh random bytes everywhere, so no driver can share blocks between files.
        const buf = randomBytes(Math.min(CHUNK, size - pos))
        await fh.write(buf, 0, buf.length, pos)
      }
      await fh.close()
    }
  } finally {
    await fs.close()
  }
  await sn.commit(name, key)
}

/** Milliseconds one `prepare` on `parent` takes (the snapshot is removed untimed). */
export async function timePrepare(sn: Snapshotter, opts: { parent: string; key: string }): Promise<number> {
  const { parent, key } = opts
  const start = process.hrtime.bigint()
  await sn.prepare(key, parent)
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  await sn.remove(key)
  return ms
}

export interface Summary {
  median: number
  min: number
  max: number
  samples: number[]
}

export function summarize(samples: number[]): Summary {
  const s = [...samples].sort((a, b) => a - b)
  const mid = s.length >> 1
  const median = s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
  return { median, min: s[0], max: s[s.length - 1], samples }
}

/** `prepare` timings on each parent, in alternating rounds so drift hits all alike. */
export async function comparePrepare(sn: Snapshotter, opts: { parents: string[]; rounds: number }): Promise<Map<string, Summary>> {
  const { parents, rounds } = opts
  const samples = new Map(parents.map((p) => [p, [] as number[]]))
  for (let r = 0; r < rounds; r++) {
    for (const p of parents) samples.get(p)!.push(await timePrepare(sn, { parent: p, key: `bench-prepare-${r}-${p}` }))
  }
  return new Map([...samples].map(([p, s]) => [p, summarize(s)]))
}

export interface CopyUpCost {
  fileBytes: number
  before: Usage
  after: Usage
  /** Bytes the child's usage grew by after the 1-byte write. */
  added: number
}

/** Writes 1 byte into the middle of a `fileBytes` file of the parent, through a child. */
export async function copyUpCost(sn: Snapshotter, opts: { fileBytes: number; prefix?: string }): Promise<CopyUpCost> {
  const { fileBytes, prefix = 'bench-copyup' } = opts
  await commitFilled(sn, { name: `${prefix}-base`, bytes: fileBytes, fileBytes })
  const child = `${prefix}-child`
  await sn.prepare(child, `${prefix}-base`)
  const before = await sn.usage(child)
  const fs = await sn.open(child)
  try {
    const fh = await fs.open('/data-0', 'r+')
    await fh.write(Buffer.from('x'), 0, 1, Math.floor(fileBytes / 2))
    await fh.close()
  } finally {
    await fs.close()
  }
  const after = await sn.usage(child)
  return { fileBytes, before, after, added: after.size - before.size }
}

function ms(n: number): string {
  return `${n.toFixed(2)} ms`
}

function mib(n: number): string {
  return `${(n / MiB).toFixed(1)} MiB`
}

async function main(): Promise<void> {
  const [driver = 'overlay', roundsArg = '15', workArg = tmpdir()] = process.argv.slice(2)
  const rounds = Number(roundsArg)
  const dir = await mkdtemp(join(workArg, 'strata-bench-'))
  const sn = await openSnapshotter(driver, join(dir, 'root'))
  try {
    console.log(`driver ${driver}, store ${join(dir, 'root')}, ${rounds} rounds`)
    await commitFilled(sn, { name: 'parent-10MiB', bytes: 10 * MiB })
    await commitFilled(sn, { name: 'parent-1GiB', bytes: GiB })
    const prep = await comparePrepare(sn, { parents: ['parent-10MiB', 'parent-1GiB'], rounds })
    for (const [p, s] of prep)
      console.log(`prepare on ${p.slice('parent-'.length)} parent: median ${ms(s.median)} (min ${ms(s.min)}, max ${ms(s.max)})`)
    const ratio = prep.get('parent-1GiB')!.median / prep.get('parent-10MiB')!.median
    console.log(`ratio of medians, 1 GiB / 10 MiB: ${ratio.toFixed(2)}`)
    const copy = await copyUpCost(sn, { fileBytes: 256 * MiB })
    console.log(
      `1-byte write into a ${mib(copy.fileBytes)} lower file: usage ${mib(copy.before.size)} -> ${mib(copy.after.size)}, added ${mib(copy.added)} (${copy.added} bytes), inodes ${copy.before.inodes} -> ${copy.after.inodes}`,
    )
  } finally {
    await sn.close()
    await removeTree(dir)
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err)
    process.exit(1)
  })
}
