/**
 * row read through its FUSE mount beside the bare probe (bench/fuse-probe.ts)
 * in one run: the same dd and fio figures on a 256 MiB file and four 64 MiB
 * files written through open() and read through the active snapshot's mount.
 * Run as root: `node dist/bench/row-fuse.js`.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRowSnapshotter } from '../drivers/row/index.js'
import { measure } from './fuse-probe.js'

const MiB = 1 << 20

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'strata-rowfuse-'))
  const sn = await createRowSnapshotter(join(dir, 'root'))
  try {
    await sn.prepare('w')
    const fs = await sn.open('w')
    const chunk = Buffer.alloc(8 * MiB, 7)
    for (const [name, size] of [
      ['big', 256],
      ['part0', 64],
      ['part1', 64],
      ['part2', 64],
      ['part3', 64],
    ] as const) {
      const h = await fs.open(`/${name}`, 'w')
      for (let off = 0; off < size * MiB; off += chunk.length) await h.write(chunk, 0, chunk.length, off)
      await h.close()
    }
    await fs.close()
    // The active snapshot's mount, not a view's: a read-only mount keeps the page cache across opens.
    const f = await measure((await sn.mounts('w'))[0].source)
    console.log(`| row via FUSE | ${f.seq1.toFixed(0)} | ${f.seq4.toFixed(0)} | ${f.iops.toFixed(0)} | ${f.statUs.toFixed(1)} |`)
  } finally {
    await sn.close()
    await rm(dir, { recursive: true, force: true })
  }
}

await main()
