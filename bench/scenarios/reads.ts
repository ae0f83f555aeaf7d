/**
 * Scenario 4: reads of a large file that lives at the bottom of a chain of
 * depth 1, 16 and 128: sequential MB/s, and latency of random 4 KiB and
 * 64 KiB reads (benchmark.js), as ratios to depth 1.
 */
import Benchmark from 'benchmark'
import type { Bench } from '../harness.js'
import { MiB, KiB, prng, writeBigFile } from '../fixtures.js'
import { withOpen } from '../../fs/open.js'
import type { FileHandle, Snapshotter } from '../../core/snapshotter.js'
import { median, time } from '../stats.js'
import { compactStore, settle } from '../space.js'

export const DEPTHS = [1, 16, 128]

export function readFileSize(full: boolean): number {
  return full ? 256 * MiB : 64 * MiB
}

/** Median seconds per call of `fn`, from benchmark.js samples. */
export function latency(name: string, fn: () => Promise<unknown>, maxTime = 0.3): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const bench = new Benchmark(name, {
      defer: true,
      minSamples: 5,
      maxTime,
      fn: (deferred: { resolve(): void }) => {
        fn().then(() => deferred.resolve(), reject)
      },
    })
    bench.on('complete', () => resolve(bench.stats.sample.map((s: number) => s * 1000)))
    bench.on('error', () => reject(bench.error))
    bench.run({ async: true })
  })
}

async function sequential(fh: FileHandle, size: number): Promise<number> {
  const buf = Buffer.allocUnsafe(MiB)
  const [ms] = await time(async () => {
    for (let off = 0; off < size; off += MiB) await fh.read(buf, 0, MiB, off)
  })
  return size / MiB / (ms / 1000)
}

/** Builds a chain of `depth` committed layers with the file in the bottom one; returns the top. */
async function chain(sn: Snapshotter, depth: number, size: number): Promise<string> {
  await sn.prepare('l0-a')
  await withOpen(sn, 'l0-a', (fs) => writeBigFile(fs, '/data', size, 'reads'))
  await sn.commit('l0', 'l0-a')
  for (let i = 1; i < depth; i++) {
    await sn.prepare(`l${i}-a`, `l${i - 1}`)
    await withOpen(sn, `l${i}-a`, (fs) => fs.writeFile(`/layer-${i}`, String(i)))
    await sn.commit(`l${i}`, `l${i}-a`)
  }
  await sn.view('top', `l${depth - 1}`)
  return 'top'
}

/** Native copies the whole parent at every prepare: a deep chain of a large file is a copy each. */
function depthApplies(driver: string, depth: number): boolean {
  return depth === 1 || driver !== 'native'
}

/**
 * Reads a smaller file once before any depth is measured. Without it the
 * first depth measured for a driver often ran 2-3x slower than the others,
 * in whatever order the depths came. It does not remove the machine's own
 * noise: row's 64 MiB reads still vary 0.9-3 GB/s from run to run.
 */
async function warmUp(b: Bench, driver: string, size: number): Promise<void> {
  const { root, sn } = await b.open(driver, 'reads-warm-up')
  const top = await chain(sn, 1, size)
  await withOpen(sn, top, async (fs) => {
    const fh = await fs.open('/data', 'r')
    try {
      for (let i = 0; i < 3; i++) await sequential(fh, size)
      const buf = Buffer.allocUnsafe(64 * KiB)
      for (let i = 0; i < 2000; i++) await fh.read(buf, 0, 64 * KiB, (i * 7919 * KiB) % (size - 64 * KiB))
    } finally {
      await fh.close()
    }
  })
  await sn.close()
  await b.discard(root)
}

export async function reads(b: Bench): Promise<void> {
  const size = readFileSize(b.opts.full)
  const seq: Record<string, Record<number, number[] | null>> = {}
  const rand4: Record<string, Record<number, number[] | null>> = {}
  const rand64: Record<string, Record<number, number[] | null>> = {}
  const stat: Record<string, Record<number, number[] | null>> = {}
  for (const d of b.drivers) {
    b.progress(`reads: ${d}: warm-up`)
    await warmUp(b, d, size / 4)
    seq[d] = {}
    rand4[d] = {}
    rand64[d] = {}
    stat[d] = {}
    for (const depth of DEPTHS) {
      if (!depthApplies(d, depth)) {
        seq[d][depth] = rand4[d][depth] = rand64[d][depth] = stat[d][depth] = null
        continue
      }
      b.progress(`reads: ${d}: chain of depth ${depth}`)
      const opened = await b.open(d, `reads-${depth}`)
      const { root } = opened
      const top = await chain(opened.sn, depth, size)
      // Every depth reads a settled store: a shallow chain is read right
      // after its big write, while LevelDB would still be compacting it.
      await opened.sn.close()
      await compactStore(root)
      const sn = await b.reopen(d, root)
      await settle(1000)
      await withOpen(sn, top, async (fs) => {
        const fh = await fs.open('/data', 'r')
        try {
          seq[d][depth] = [await sequential(fh, size), await sequential(fh, size), await sequential(fh, size)]
          const rand = prng(depth)
          const buf = Buffer.allocUnsafe(64 * KiB)
          rand4[d][depth] = await latency('4k', () => fh.read(buf, 0, 4 * KiB, Math.floor(rand() * (size - 4 * KiB))))
          rand64[d][depth] = await latency('64k', () => fh.read(buf, 0, 64 * KiB, Math.floor(rand() * (size - 64 * KiB))))
          stat[d][depth] = await latency('stat', () => fs.stat('/data'))
        } finally {
          await fh.close()
        }
      })
      await sn.close()
      await b.discard(root)
    }
  }
  const note = 'native copies the parent at every prepare, so its reads do not depend on depth (not built)'
  const put = (name: string, unit: 'MB/s' | 'ms', src: typeof seq) => {
    for (const depth of DEPTHS) {
      b.record(
        '4 reads',
        `${name}, depth ${depth}`,
        unit,
        Object.fromEntries(b.drivers.map((d) => [d, src[d][depth]])),
        depth > 1 ? note : undefined,
      )
    }
    const ratio = Object.fromEntries(
      b.drivers.map((d) => {
        const deep = src[d][128]
        const shallow = src[d][1]
        return [d, deep && shallow ? [median(deep) / median(shallow)] : null]
      }),
    )
    b.record('4 reads', `${name}: depth 128 / depth 1`, 'ratio', ratio)
  }
  put(`sequential read of ${size / MiB} MiB`, 'MB/s', seq)
  put('random 4 KiB read latency', 'ms', rand4)
  put('random 64 KiB read latency', 'ms', rand64)
  put('stat latency', 'ms', stat)
}
