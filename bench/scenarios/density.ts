/**
 * Scenario 2: container density. One base image, then N containers that
 * each change a few small files and a few bytes of one large file: total
 * bytes on disk per driver as N grows.
 */
import type { Bench } from '../harness.js'
import { perDriver } from '../harness.js'
import { bytes, committedTree, MiB, type TreeSpec } from '../fixtures.js'
import { withOpen } from '../../fs/open.js'
import { allocatedBytes, compactStore } from '../space.js'
import type { SnapshotFs, Snapshotter } from '../../core/snapshotter.js'

export function densityCounts(full: boolean): number[] {
  return full ? [1, 5, 20, 50] : [1, 5, 20]
}

export function baseImage(full: boolean): TreeSpec {
  return full ? { files: 5000, large: 4, largeSize: 32 * MiB, seed: 11 } : { files: 1000, large: 2, largeSize: 8 * MiB, seed: 11 }
}

/** What a container does: five new small files, two rewritten, four bytes into a large file. */
async function containerWork(fs: SnapshotFs, n: number): Promise<void> {
  await fs.mkdir('/var/run/app', { recursive: true })
  for (let i = 0; i < 5; i++) await fs.writeFile(`/var/run/app/state-${i}`, bytes(`ctr${n}-${i}`, 2048))
  await fs.writeFile('/usr/d0/f1', bytes(`rewrite-${n}-a`, 4096))
  await fs.writeFile('/usr/d1/f101', bytes(`rewrite-${n}-b`, 4096))
  const fh = await fs.open('/big/b0', 'r+')
  await fh.write(Buffer.from('ctr!'), 0, 4, 1 * MiB + n)
  await fh.close()
}

/** Closes the store, measures before and after compaction, reopens it. */
async function measure(b: Bench, driver: string, root: string, sn: Snapshotter): Promise<[number, number, Snapshotter]> {
  await sn.close()
  const before = await allocatedBytes(root)
  await compactStore(root)
  const after = await allocatedBytes(root)
  return [before, after, await b.reopen(driver, root)]
}

export async function density(b: Bench): Promise<void> {
  const counts = densityCounts(b.opts.full)
  const spec = baseImage(b.opts.full)
  const base = perDriver(b.drivers)
  const raw = new Map(counts.map((n) => [n, perDriver(b.drivers)]))
  const compacted = new Map(counts.map((n) => [n, perDriver(b.drivers)]))
  for (const d of b.drivers) {
    let { root, sn } = await b.open(d, 'density')
    b.progress(`density: ${d}: base image (${spec.files} files, ${spec.large} × ${spec.largeSize / MiB} MiB)`)
    await committedTree(sn, 'base', spec)
    let m = await measure(b, d, root, sn)
    sn = m[2]
    base[d].push(m[1])
    let made = 0
    for (const n of counts) {
      for (; made < n; made++) {
        b.progress(`density: ${d}: container ${made + 1}/${counts[counts.length - 1]}`)
        await sn.prepare(`ctr-${made}`, 'base')
        await withOpen(sn, `ctr-${made}`, (fs) => containerWork(fs, made))
      }
      m = await measure(b, d, root, sn)
      sn = m[2]
      raw.get(n)![d].push(m[0])
      compacted.get(n)![d].push(m[1])
    }
    await sn.close()
    await b.discard(root)
  }
  b.record('2 density', `base image (${spec.files} files + ${spec.large} × ${spec.largeSize / MiB} MiB)`, 'bytes', base)
  for (const n of counts) {
    b.record(
      '2 density',
      `store with ${n} container${n > 1 ? 's' : ''}`,
      'bytes',
      compacted.get(n)!,
      'allocated bytes of the whole root, LevelDB compacted',
    )
    b.record('2 density', `store with ${n} container${n > 1 ? 's' : ''}, before compaction`, 'bytes', raw.get(n)!)
  }
}
