/**
 * The side-by-side comparison of every registered driver: the job behind
 * `npm start` and `strata bench`. Scenarios run driver by driver or round by
 * round on fresh stores in a temporary directory; the table goes to the
 * terminal, JSON, Markdown and an SVG chart to bench/results/.
 */
import { fileURLToPath } from 'node:url'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openSnapshotter, registeredDrivers } from '../core/registry.js'
import { removeTree } from '../fs/removetree.js'
import { Bench } from './harness.js'
import { peerAvailable } from './peer/containerd.js'
import { machine } from './machine.js'
import { table, writeResults } from './report.js'
import { opsVsParentSize } from './scenarios/ops.js'
import { density } from './scenarios/density.js'
import { smallWrite } from './scenarios/smallwrite.js'
import { reads } from './scenarios/reads.js'
import { containerd16 } from './scenarios/containerd16.js'
import { layers } from './scenarios/layers.js'
import { proxy } from './scenarios/proxy.js'
import { debian } from './scenarios/debian.js'

/** `full`: a scenario too long for `npm start`, run with --full or by name (--only). */
export const SCENARIOS: Array<{ id: string; title: string; run: (b: Bench) => Promise<void>; full?: boolean }> = [
  { id: 'ops', title: '1 snapshot operations vs parent size', run: opsVsParentSize },
  { id: 'density', title: '2 container density', run: density },
  { id: 'smallwrite', title: '3 small write into a large file', run: smallWrite },
  { id: 'reads', title: '4 reads vs chain depth', run: reads },
  { id: 'layers', title: '5 layer apply, export and image import', run: layers },
  { id: 'c16', title: "6 containerd's 16-layer scenario", run: containerd16 },
  { id: 'proxy', title: '7 containerd through strata serve', run: proxy },
  { id: 'debian', title: '8 Debian image import beside containerd', run: debian, full: true },
]

export const RESULTS_DIR = fileURLToPath(new URL('../../bench/results/', import.meta.url))

export interface RunBenchOptions {
  drivers?: string[] | undefined
  full?: boolean | undefined
  rounds?: number | undefined
  only?: string[] | undefined
  image?: string | undefined
  peer?: boolean | undefined
  out?: string | undefined
  print?: ((line: string) => void) | undefined
  progress?: ((msg: string) => void) | undefined
}

/**
 * The drivers that can open a snapshot here: overlay mounts through the
 * kernel and needs root; without it the comparison goes on without it.
 */
async function usable(drivers: string[], print: (line: string) => void): Promise<string[]> {
  const ok: string[] = []
  for (const d of drivers) {
    const root = await mkdtemp(join(tmpdir(), `strata-probe-${d}-`))
    try {
      const sn = await openSnapshotter(d, root)
      try {
        await sn.prepare('probe-base')
        await sn.commit('probe', 'probe-base')
        await sn.prepare('probe-child', 'probe')
        await (await sn.open('probe-child')).close()
        ok.push(d)
      } finally {
        await sn.close()
      }
    } catch (err) {
      print(`  (${d} left out: ${(err as Error).message.split('\n')[0]})`)
    } finally {
      await removeTree(root)
    }
  }
  return ok
}

export async function runBench(opts: RunBenchOptions = {}): Promise<{ files: string[]; text: string }> {
  const print = opts.print ?? ((l: string) => process.stdout.write(l + '\n'))
  const drivers = await usable(opts.drivers?.length ? opts.drivers : registeredDrivers(), print)
  const b = new Bench({
    drivers,
    full: opts.full ?? false,
    rounds: opts.rounds ?? 3,
    only: opts.only ?? [],
    image: opts.image,
    peer: opts.peer ?? true,
    progress: opts.progress ?? (() => {}),
  })
  const m = machine()
  print(`strata bench: ${drivers.join(', ')} on ${m.cpu} × ${m.cores}, ${m.kernel}, ${m.filesystem}${b.opts.full ? ' (full sizes)' : ''}`)
  if (b.opts.peer && !peerAvailable())
    print('  (no containerd peer: it needs containerd and ctr installed and root; `npm run bench:peer` installs them)')
  try {
    for (const s of SCENARIOS) {
      if (b.opts.only.length > 0 && !b.opts.only.includes(s.id)) continue
      if (b.opts.only.length === 0 && s.full && !b.opts.full) continue
      const start = Date.now()
      b.progress(`${s.title}…`)
      await s.run(b)
      print(`  ${s.title}: ${((Date.now() - start) / 1000).toFixed(1)} s`)
    }
  } finally {
    await b.close()
  }
  const text = table(b.metrics)
  print('')
  print(text)
  const files = await writeResults(opts.out ?? RESULTS_DIR, b.metrics, m, { drivers, full: b.opts.full, only: b.opts.only })
  print('')
  print(`results: ${files.join(', ')}`)
  return { files, text }
}
