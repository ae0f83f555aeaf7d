/**
 * The row driver's costs, every figure of its issue from one run:
 *
 *   npx tsc -p tsconfig.json && node dist/bench/row-costs.js [--rounds N] [--quick] [--only big,depth,seq,blocks]
 *
 * 1. new bytes on disk after a 1-byte write into a 1 GiB file (LevelDB
 *    compacted before and after, the whole root measured);
 * 2. prepare on a 1 GiB parent vs a 10 MiB parent;
 * 3. median stat and 64 KiB read latency at chain depth 128 vs depth 1;
 * 4. sequential read and write MB/s of a 256 MiB file, row vs native (DirFs);
 * 5. keys left in the database once every snapshot is removed;
 * 6. the same at 16, 64 and 256 KiB blocks.
 *
 * Figures are medians with min–max over rounds; ratios are taken per round.
 * The measuring functions take any driver (by name) and are exported for
 * the project's benchmark suite.
 */
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import '../index.js'
import { openSnapshotter } from '../core/registry.js'
import { removeTree } from '../fs/removetree.js'
import type { FileHandle, SnapshotFs, Snapshotter } from '../core/snapshotter.js'
import { inspectRowStore } from '../drivers/row/index.js'
import { GiB, KiB, MiB, bytes, committedTree, prng, treeOfSize, writeBigFile } from './fixtures.js'
import { withOpen } from '../fs/open.js'
import { machine } from './machine.js'
import { allocatedBytes, compactStore, dataBytes, settle } from './space.js'
import { fmtBytes, fmtMs, median, spread, type Spread } from './stats.js'

/** A store by driver name, reopened as often as a measurement needs. */
export interface StoreRef {
  driver: string
  root: string
  options?: Record<string, unknown> | undefined
}

export function openStore(s: StoreRef): Promise<Snapshotter> {
  return openSnapshotter(s.driver, s.root, s.options)
}

function now(): number {
  return Number(process.hrtime.bigint()) / 1e6
}

/** Milliseconds of each of `n` calls. */
export async function latencies(n: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    const t = now()
    await fn(i)
    out.push(now() - t)
  }
  return out
}

/** MB/s of writing `size` bytes to a new file in `chunk`-sized writes (open to close). */
export async function sequentialWrite(fs: SnapshotFs, path: string, size: number, chunk = 4 * MiB): Promise<number> {
  const data = bytes(path, chunk)
  const t = now()
  const fh = await fs.open(path, 'w')
  for (let off = 0; off < size; off += chunk) await fh.write(data, 0, Math.min(chunk, size - off), off)
  await fh.close()
  return size / MiB / ((now() - t) / 1000)
}

/** MB/s of reading `size` bytes of `fh` front to back in `chunk`-sized reads. */
export async function sequentialRead(fh: FileHandle, size: number, chunk = MiB): Promise<number> {
  const buf = Buffer.allocUnsafe(chunk)
  const t = now()
  for (let off = 0; off < size; off += chunk) await fh.read(buf, 0, chunk, off)
  return size / MiB / ((now() - t) / 1000)
}

/** Latencies of `len`-byte reads at random offsets of a `size`-byte file. */
export function randomReads(fh: FileHandle, size: number, len: number, n: number, seed: number): Promise<number[]> {
  const rand = prng(seed)
  const buf = Buffer.allocUnsafe(len)
  return latencies(n, () => fh.read(buf, 0, len, Math.floor(rand() * (size - len))))
}

export interface SmallWriteCost {
  /** Allocated bytes of the root, LevelDB compacted, after minus before the write (see storeBytes). */
  disk: number
  /** What usage() of the child grew by. */
  usage: number
}

/**
 * Prepares `key` on `parent`, then writes one byte at `offset` of `path`.
 * The store is closed and compacted around the write, so only what the write
 * itself added is counted.
 */
export async function smallWriteCost(s: StoreRef, parent: string, key: string, path: string, offset: number): Promise<SmallWriteCost> {
  let sn = await openStore(s)
  await sn.prepare(key, parent)
  await sn.close()
  await compactStore(s.root)
  const before = await dataBytes(s.root)
  sn = await openStore(s)
  const u0 = (await sn.usage(key)).size
  await withOpen(sn, key, async (fs) => {
    const fh = await fs.open(path, 'r+')
    await fh.write(Buffer.from('!'), 0, 1, offset)
    await fh.close()
  })
  const u1 = (await sn.usage(key)).size
  await sn.close()
  await compactStore(s.root)
  return { disk: (await dataBytes(s.root)) - before, usage: u1 - u0 }
}

/** Removes every snapshot, leaves first. */
export async function removeAll(sn: Snapshotter): Promise<void> {
  for (;;) {
    const infos: Array<{ name: string; parent?: string }> = []
    for await (const i of sn.walk()) infos.push(i)
    if (infos.length === 0) return
    const parents = new Set(infos.map((i) => i.parent))
    for (const i of infos) if (!parents.has(i.name)) await sn.remove(i.name)
  }
}

// ---- the run ----

const PARTS = ['big', 'depth', 'seq', 'blocks'] as const

interface Args {
  rounds: number
  quick: boolean
  only: string[]
}

function parseArgs(argv: string[]): Args {
  const args: Args = { rounds: 3, quick: false, only: [...PARTS] }
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--rounds') args.rounds = Math.max(1, Number(argv[++i]))
    else if (argv[i] === '--quick') args.quick = true
    else if (argv[i] === '--only') args.only = argv[++i].split(',')
    else throw new Error(`unknown argument ${argv[i]} (use --rounds N, --quick, --only ${PARTS.join(',')})`)
  }
  return args
}

const out = (line = ''): void => {
  process.stdout.write(line + '\n')
}

function fmtSpreadOf(xs: number[], fmt: (n: number) => string): string {
  const s: Spread = spread(xs)
  return s.n <= 1 ? fmt(s.median) : `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`
}

const fmtRate = (n: number): string => `${n.toFixed(0)} MB/s`
const fmtX = (n: number): string => `${n.toFixed(2)}×`
const fmtUs = (n: number): string => fmtMs(n)

function row(label: string, value: string, target = ''): void {
  out(`  ${label.padEnd(58)} ${value}${target ? `   [${target}]` : ''}`)
}

async function store(base: string, name: string, driver: string, options?: Record<string, unknown>): Promise<StoreRef> {
  return { driver, root: join(base, name), options }
}

/** 1 and 5: the 1-byte write, prepare on large and small parents, what is left after removing all. */
async function bigParent(base: string, a: Args): Promise<void> {
  const fileSize = a.quick ? 256 * MiB : GiB
  const label = a.quick ? '256 MiB' : '1 GiB'
  const s = await store(base, 'row-big', 'row')
  let sn = await openStore(s)
  out(`writing a ${label} file and a ${label} and a 10 MiB tree…`)
  await sn.prepare('file-a')
  await withOpen(sn, 'file-a', (fs) => writeBigFile(fs, '/big', fileSize, 'big'))
  await sn.commit('file', 'file-a')
  await committedTree(sn, 'tree-large', treeOfSize(fileSize, 3))
  await committedTree(sn, 'tree-small', treeOfSize(10 * MiB, 4))
  await sn.close()

  const disk: number[] = []
  const usage: number[] = []
  for (let r = 0; r < a.rounds; r++) {
    const c = await smallWriteCost(s, 'file', `child-${r}`, '/big', Math.floor(fileSize / 2) + 12345 + r)
    disk.push(c.disk)
    usage.push(c.usage)
  }
  out(`1-byte write into a ${label} file of the parent (64 KiB blocks), ${a.rounds} rounds:`)
  row('new bytes on disk (data files, LevelDB compacted)', fmtSpreadOf(disk, fmtBytes), '≤ 100 KiB')
  row('usage() growth of the child', fmtSpreadOf(usage, fmtBytes))

  sn = await openStore(s)
  const large: number[] = []
  const small: number[] = []
  const ratios: number[] = []
  const n = a.quick ? 20 : 50
  for (let r = 0; r < a.rounds; r++) {
    const l: number[] = []
    const m: number[] = []
    for (let i = 0; i < n; i++) {
      l.push(...(await latencies(1, () => sn.prepare(`pl-${r}-${i}`, 'tree-large'))))
      m.push(...(await latencies(1, () => sn.prepare(`ps-${r}-${i}`, 'tree-small'))))
    }
    for (let i = 0; i < n; i++) {
      await sn.remove(`pl-${r}-${i}`)
      await sn.remove(`ps-${r}-${i}`)
    }
    large.push(median(l))
    small.push(median(m))
    ratios.push(median(l) / median(m))
  }
  out(`prepare, ${n} per parent per round, interleaved:`)
  row(`prepare on a ${label} parent (median per round)`, fmtSpreadOf(large, fmtMs))
  row('prepare on a 10 MiB parent (median per round)', fmtSpreadOf(small, fmtMs))
  row(`ratio ${label} / 10 MiB`, fmtSpreadOf(ratios, fmtX), '≤ 1.2')

  await removeAll(sn)
  await sn.close()
  const left = await inspectRowStore(s.root)
  await compactStore(s.root)
  out('after removing every snapshot:')
  row(
    'tree nodes / data blocks left in the database',
    `${left.nodes} nodes (${left.nodeBytes} B), ${left.blocks} blocks (${left.blockBytes} B)`,
    '0 and 0',
  )
  row('snapshot records / pending removals left', `${left.snapshots} / ${left.pendingRemovals}`)
  row('allocated bytes of the root (LevelDB compacted)', fmtBytes(await allocatedBytes(s.root)))
  await removeTree(s.root)
  await settle(500)
}

/** 3: stat and 64 KiB read latency at the top of a 128-layer chain vs a single layer. */
async function depth(base: string, a: Args): Promise<void> {
  const size = 64 * MiB
  const s = await store(base, 'row-depth', 'row')
  const sn = await openStore(s)
  out('building a chain of 128 layers over a 64 MiB file…')
  await sn.prepare('l0-a')
  await withOpen(sn, 'l0-a', (fs) => writeBigFile(fs, '/data', size, 'depth'))
  await sn.commit('l0', 'l0-a')
  for (let i = 1; i < 128; i++) {
    await sn.prepare(`l${i}-a`, `l${i - 1}`)
    await withOpen(sn, `l${i}-a`, (fs) => fs.writeFile(`/layer-${i}`, String(i)))
    await sn.commit(`l${i}`, `l${i}-a`)
  }
  await sn.view('d1', 'l0')
  await sn.view('d128', 'l127')
  const fs1 = await sn.open('d1')
  const fs128 = await sn.open('d128')
  const fh1 = await fs1.open('/data', 'r')
  const fh128 = await fs128.open('/data', 'r')
  const n = a.quick ? 200 : 1000
  const figures = { stat1: [] as number[], stat128: [] as number[], read1: [] as number[], read128: [] as number[] }
  const ratios = { stat: [] as number[], read: [] as number[] }
  // Warm both trees, then alternate the two depths in slices so drift and noise fall on both alike.
  await latencies(200, () => fs1.stat('/data'))
  await latencies(200, () => fs128.stat('/data'))
  await randomReads(fh1, size, 64 * KiB, 200, 99)
  await randomReads(fh128, size, 64 * KiB, 200, 99)
  const slices = 10
  for (let r = 0; r < a.rounds; r++) {
    const got = { s1: [] as number[], s128: [] as number[], r1: [] as number[], r128: [] as number[] }
    for (let i = 0; i < slices; i++) {
      got.s1.push(...(await latencies(n / slices, () => fs1.stat('/data'))))
      got.s128.push(...(await latencies(n / slices, () => fs128.stat('/data'))))
      got.r1.push(...(await randomReads(fh1, size, 64 * KiB, n / slices, r * slices + i)))
      got.r128.push(...(await randomReads(fh128, size, 64 * KiB, n / slices, r * slices + i)))
    }
    const [s1, s128, r1, r128] = [median(got.s1), median(got.s128), median(got.r1), median(got.r128)]
    figures.stat1.push(s1)
    figures.stat128.push(s128)
    figures.read1.push(r1)
    figures.read128.push(r128)
    ratios.stat.push(s128 / s1)
    ratios.read.push(r128 / r1)
  }
  out(`latency at chain depth 128 vs 1 (${n} calls per depth per round, the depths alternating, warm cache):`)
  row('stat, depth 1 (median per round)', fmtSpreadOf(figures.stat1, fmtUs))
  row('stat, depth 128 (median per round)', fmtSpreadOf(figures.stat128, fmtUs))
  row('stat ratio 128 / 1', fmtSpreadOf(ratios.stat, fmtX), '≤ 1.2')
  row('64 KiB random read, depth 1 (median per round)', fmtSpreadOf(figures.read1, fmtUs))
  row('64 KiB random read, depth 128 (median per round)', fmtSpreadOf(figures.read128, fmtUs))
  row('64 KiB read ratio 128 / 1', fmtSpreadOf(ratios.read, fmtX), '≤ 1.2')
  for (const h of [fh1, fh128, fs1, fs128]) await h.close()
  await sn.close()
  await removeTree(s.root)
}

/** 4: sequential write and read of a 256 MiB file, row vs native. */
async function sequential(base: string, a: Args): Promise<void> {
  const size = a.quick ? 64 * MiB : 256 * MiB
  const label = `${size / MiB} MiB`
  const drivers = ['row', 'native']
  const w: Record<string, number[]> = { row: [], native: [] }
  const rd: Record<string, number[]> = { row: [], native: [] }
  const small: Record<string, number[]> = { row: [], native: [] }
  const wRatio: number[] = []
  const rRatio: number[] = []
  const smallRatio: number[] = []
  const stores = new Map<string, { s: StoreRef; sn: Snapshotter }>()
  for (const d of drivers) {
    const s = await store(base, `seq-${d}`, d)
    stores.set(d, { s, sn: await openStore(s) })
  }
  out(`sequential ${label}, row vs native (DirFs over the native snapshot), ${a.rounds} rounds…`)
  for (let r = 0; r < a.rounds; r++) {
    const round: Record<string, { w: number; r: number; small: number }> = {}
    for (const d of r % 2 === 0 ? drivers : [...drivers].reverse()) {
      const { sn } = stores.get(d)!
      await sn.prepare(`w-${r}`)
      const wr = await withOpen(sn, `w-${r}`, (fs) => sequentialWrite(fs, '/seq', size))
      await sn.commit(`c-${r}`, `w-${r}`)
      await sn.view(`v-${r}`, `c-${r}`)
      // Reads right after a large write compete with LevelDB's flush and compaction: measure the settled store.
      await settle(2000)
      const rr = await withOpen(sn, `v-${r}`, async (fs) => {
        const fh = await fs.open('/seq', 'r')
        await sequentialRead(fh, size)
        const mbs = await sequentialRead(fh, size)
        const smallMbs = await sequentialRead(fh, size, 4 * KiB)
        await fh.close()
        return { mbs, smallMbs }
      })
      await sn.remove(`v-${r}`)
      await sn.remove(`c-${r}`)
      round[d] = { w: wr, r: rr.mbs, small: rr.smallMbs }
      w[d].push(wr)
      rd[d].push(rr.mbs)
      small[d].push(rr.smallMbs)
    }
    wRatio.push(round.row.w / round.native.w)
    rRatio.push(round.row.r / round.native.r)
    smallRatio.push(round.row.small / round.native.small)
    await settle(500)
  }
  out(`sequential ${label}:`)
  row('write, row (open, 4 MiB writes, close)', fmtSpreadOf(w.row, fmtRate))
  row('write, native', fmtSpreadOf(w.native, fmtRate))
  row('write ratio row / native', fmtSpreadOf(wRatio, fmtX))
  row('read, row (1 MiB reads, second pass, 2 s after the write)', fmtSpreadOf(rd.row, fmtRate))
  row('read, native', fmtSpreadOf(rd.native, fmtRate))
  row('read ratio row / native', fmtSpreadOf(rRatio, fmtX), 'aim ≥ 0.5')
  row('read, row (4 KiB reads)', fmtSpreadOf(small.row, fmtRate))
  row('read, native (4 KiB reads)', fmtSpreadOf(small.native, fmtRate))
  row('4 KiB read ratio row / native', fmtSpreadOf(smallRatio, fmtX))
  for (const { s, sn } of stores.values()) {
    await sn.close()
    await removeTree(s.root)
  }
}

/** 6: the block size trade-off. */
async function blockSizes(base: string, a: Args): Promise<void> {
  const size = a.quick ? 64 * MiB : 256 * MiB
  out(`block sizes: a ${size / MiB} MiB file per store, ${a.rounds} rounds…`)
  const table: string[][] = []
  for (const bs of [16 * KiB, 64 * KiB, 256 * KiB]) {
    const s = await store(base, `bs-${bs}`, 'row', { blockSize: bs })
    const f = { w: [] as number[], r: [] as number[], r4: [] as number[], r64: [] as number[], disk: [] as number[], usage: [] as number[] }
    let sn = await openStore(s)
    for (let r = 0; r < a.rounds; r++) {
      await sn.prepare(`w-${r}`)
      f.w.push(await withOpen(sn, `w-${r}`, (fs) => sequentialWrite(fs, '/f', size)))
      await sn.commit(`c-${r}`, `w-${r}`)
      await sn.view(`v-${r}`, `c-${r}`)
      await settle(2000)
      await withOpen(sn, `v-${r}`, async (fs) => {
        const fh = await fs.open('/f', 'r')
        await sequentialRead(fh, size)
        f.r.push(await sequentialRead(fh, size))
        f.r4.push(median(await randomReads(fh, size, 4 * KiB, 300, r)))
        f.r64.push(median(await randomReads(fh, size, 64 * KiB, 300, r)))
        await fh.close()
      })
      await sn.remove(`v-${r}`)
      await sn.close()
      const c = await smallWriteCost(s, `c-${r}`, `x-${r}`, '/f', Math.floor(size / 2) + 777)
      f.disk.push(c.disk)
      f.usage.push(c.usage)
      sn = await openStore(s)
      await sn.remove(`x-${r}`)
      await sn.remove(`c-${r}`)
    }
    await sn.close()
    await removeTree(s.root)
    table.push([
      `${bs / KiB} KiB`,
      fmtSpreadOf(f.w, fmtRate),
      fmtSpreadOf(f.r, fmtRate),
      fmtSpreadOf(f.r4, fmtUs),
      fmtSpreadOf(f.r64, fmtUs),
      fmtSpreadOf(f.disk, fmtBytes),
      fmtSpreadOf(f.usage, fmtBytes),
    ])
  }
  const header = ['block', 'seq write', 'seq read', '4 KiB read', '64 KiB read', '1-byte write: disk', '1-byte write: usage()']
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i].length)))
  const line = (cells: string[]): string => '  ' + cells.map((c, i) => c.padEnd(widths[i])).join('  ')
  out(line(header))
  for (const t of table) out(line(t))
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2))
  const m = machine()
  out(
    `row costs: ${m.cpu} × ${m.cores}, ${m.memoryGiB} GiB, ${m.kernel}, ${m.filesystem}, node ${m.node}, ${a.rounds} rounds${a.quick ? ' (quick sizes)' : ''}`,
  )
  const base = await mkdtemp(join(tmpdir(), 'strata-row-costs-'))
  const started = Date.now()
  try {
    if (a.only.includes('big')) await bigParent(base, a)
    if (a.only.includes('depth')) await depth(base, a)
    if (a.only.includes('seq')) await sequential(base, a)
    if (a.only.includes('blocks')) await blockSizes(base, a)
  } finally {
    await removeTree(base)
  }
  out(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`)
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main().catch((err: unknown) => {
    console.error(err)
    process.exit(1)
  })
}
