/**
 * Scenario 7: containerd through `strata serve`. One private containerd with
 * a proxy plugin per strata driver that hands out kernel mounts, beside its
 * own overlayfs and native snapshotters in the same run: `ctr images import`
 * of one image (time, and the disk the snapshotter's directory grew by) and
 * `ctr run --rm IMAGE /bin/true` from start to exit. Each round imports into
 * a fresh namespace, so nothing is shared between rounds.
 *
 * The image: one layer cut from this machine's own Debian /etc, /usr/sbin
 * and /usr/lib (about 30 MB; 120 MB, the size of debian:bookworm, with
 * --full), plus busybox-static as /bin/true and /bin/sh.
 */
import { execFile } from 'node:child_process'
import { copyFile, mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { openSnapshotter } from '../../core/registry.js'
import { removeTree } from '../../fs/removetree.js'
import type { Bench } from '../harness.js'
import { perDriver } from '../harness.js'
import { writeOciLayout } from '../images.js'
import { peerAvailable } from '../peer/containerd.js'
import { ContainerdStack } from '../peer/stack.js'
import { allocatedBytes } from '../space.js'
import { median, time } from '../stats.js'

const run = promisify(execFile)
const MB = 1_000_000
const SOURCES = ['/etc', '/usr/sbin', '/usr/lib/x86_64-linux-gnu', '/usr/lib', '/usr/share']

/** Regular files and symlinks under the sources, in a stable order, until `budget` bytes. */
async function pickFiles(budget: number): Promise<string[]> {
  const { stdout } = await run('find', [...SOURCES, '-xdev', '(', '-type', 'f', '-o', '-type', 'l', ')', '-printf', '%s %p\n'], {
    maxBuffer: 256 << 20,
  }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }))
  const picked = new Set<string>()
  let total = 0
  for (const line of stdout.split('\n').sort()) {
    const i = line.indexOf(' ')
    if (i < 0) continue
    const size = Number(line.slice(0, i))
    const path = line.slice(i + 1)
    if (picked.has(path) || total + size > budget) continue
    picked.add(path)
    total += size
  }
  return [...picked]
}

/** The image as an OCI archive: `<dir>/image.tar`. */
async function buildImage(dir: string, budget: number): Promise<string> {
  const list = join(dir, 'files')
  await writeFile(list, (await pickFiles(budget)).map((p) => p.slice(1)).join('\n') + '\n')
  const base = join(dir, 'layer-debian.tar')
  await run('tar', ['-C', '/', '--numeric-owner', '-cf', base, '-T', list], { maxBuffer: 16 << 20 }).catch((err: { code?: number }) => {
    // 1: a file changed while read (logs, caches); the layer is still whole.
    if (err.code !== 1) throw err
  })
  const bin = join(dir, 'bin-stage')
  await mkdir(join(bin, 'bin'), { recursive: true })
  const { stdout } = await run('sh', ['-c', 'command -v busybox'])
  await copyFile(stdout.trim(), join(bin, 'bin/busybox'))
  for (const applet of ['sh', 'true']) await symlink('busybox', join(bin, 'bin', applet))
  const tools = join(dir, 'layer-busybox.tar')
  await run('tar', ['-C', bin, '--numeric-owner', '-cf', tools, 'bin'])
  const layout = join(dir, 'layout')
  await writeOciLayout(layout, [base, tools])
  const archive = join(dir, 'image.tar')
  await run('tar', ['-C', layout, '-cf', archive, '.'])
  return archive
}

async function mountingDrivers(b: Bench): Promise<string[]> {
  const out: string[] = []
  for (const d of b.drivers) {
    const root = await mkdtemp(join(await b.tmp(), `caps-${d}-`))
    const sn = await openSnapshotter(d, root)
    if (sn.capabilities?.kernelMounts ?? true) out.push(d)
    await sn.close()
    await removeTree(root)
  }
  return out
}

export async function proxy(b: Bench): Promise<void> {
  const scenario = '7 containerd via strata serve'
  if (!peerAvailable()) {
    b.record(scenario, 'ctr images import', 'ms', {}, 'n/a: needs root, containerd and ctr (npm run bench:peer)')
    return
  }
  const drivers = await mountingDrivers(b)
  const dir = await mkdtemp(join(await b.tmp(), 'proxy-'))
  const budget = (b.opts.full ? 120 : 30) * MB
  b.progress(`proxy: building a ${budget / MB} MB image`)
  const archive = await buildImage(dir, budget)
  const stack = await ContainerdStack.start({ dir: join(dir, 'stack'), drivers })
  const cols = [...drivers.map((d) => `strata-${d}`), 'overlayfs', 'native']
  const snapshotDir = (c: string): string =>
    c.startsWith('strata-') ? stack.serve(c.slice('strata-'.length)).root : join(stack.dir, 'root', `io.containerd.snapshotter.v1.${c}`)
  const importMs = perDriver(cols)
  const disk = perDriver(cols)
  const runMs = perDriver(cols)
  try {
    await b.rounds(b.opts.rounds, cols, async (c, r) => {
      b.progress(`proxy: ctr import and run: ${c}, round ${r + 1}`)
      const ns = `bench-${c}-${r}`
      const ctr = (args: string[]) => stack.ctrOk(['-n', ns, ...args], { timeout: 600_000 })
      const before = await allocatedBytes(snapshotDir(c))
      importMs[c].push((await time(() => ctr(['images', 'import', '--snapshotter', c, '--base-name', 'bench/image', archive])))[0])
      disk[c].push((await allocatedBytes(snapshotDir(c))) - before)
      const [image] = (await ctr(['images', 'ls', '-q'])).split('\n').filter(Boolean)
      runMs[c].push((await time(() => ctr(['run', '--rm', '--snapshotter', c, image, `bench-${r}`, '/bin/true'])))[0])
      await ctr(['images', 'rm', '--sync', image])
    })
  } finally {
    await stack.stop()
    await removeTree(dir)
  }
  const against = (samples: Record<string, number[]>, ref: string) =>
    Object.fromEntries(
      drivers.map((d) => [`strata-${d}`, samples[`strata-${d}`].length ? [median(samples[`strata-${d}`]) / median(samples[ref])] : null]),
    )
  const size = `${budget / MB} MB`
  b.record(
    scenario,
    `ctr images import of a ${size} image`,
    'ms',
    importMs,
    "strata-D: containerd through strata serve; overlayfs, native: containerd's own",
  )
  b.record(scenario, `ctr images import of a ${size} image / containerd overlayfs`, 'ratio', against(importMs, 'overlayfs'))
  b.record(scenario, `ctr images import of a ${size} image / containerd native`, 'ratio', against(importMs, 'native'))
  b.record(
    scenario,
    `disk used by the import of a ${size} image`,
    'bytes',
    disk,
    "growth of the snapshotter's directory (strata: its whole root, LevelDB included)",
  )
  b.record(scenario, 'ctr run --rm /bin/true, start to exit', 'ms', runMs)
}
