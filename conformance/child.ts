/**
 * The conformance suite's child process: `node child.js <spec> <mode> <root> [seed]`.
 *
 *   probe-lock  try to open the store; print "opened" or the error's code and message
 *   crash       open the store, print "ready", then run the crash workload until killed
 */
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { SnapshotFs, Snapshotter } from '../core/snapshotter.js'
import type { ChildSpec } from './context.js'
import { DELETED_LABEL, expectedFiles, layerNumber, prng, writeLayer } from './crash-model.js'
import { withMountedFs, withOpen } from '../fs/open.js'

async function load(spec: ChildSpec): Promise<(root: string) => Promise<Snapshotter>> {
  const mod = (await import(pathToFileURL(spec.module).href)) as { default?: unknown }
  if (typeof mod.default !== 'function') throw new Error(`${spec.module} has no default export make(root)`)
  return mod.default as (root: string) => Promise<Snapshotter>
}

async function probeLock(make: (root: string) => Promise<Snapshotter>, root: string): Promise<void> {
  try {
    const sn = await make(root)
    console.log('opened')
    await sn.close()
  } catch (err) {
    console.log(`${(err as { code?: string }).code} ${(err as Error).message}`)
  }
}

/** open() where the driver has it, else a kernel mount of mounts() in a scratch directory. */
async function withFs(sn: Snapshotter, key: string, fn: (fs: SnapshotFs) => Promise<void>): Promise<void> {
  if (typeof sn.open === 'function') return withOpen(sn, key, fn)
  await withMountedFs(sn, key, await mkdtemp(join(tmpdir(), 'strata-crash-mnt-')), fn)
}

interface Snap {
  name: string
  kind: string
  parent?: string | undefined
  depth: number
}

async function listing(sn: Snapshotter): Promise<Snap[]> {
  const all: Snap[] = []
  for await (const info of sn.walk()) all.push({ name: info.name, kind: info.kind, parent: info.parent, depth: 0 })
  const byName = new Map(all.map((s) => [s.name, s]))
  for (const s of all) {
    for (let p = s.parent; p !== undefined; p = byName.get(p)?.parent) s.depth++
  }
  return all
}

/** Random operations forever; the parent kills us at a random moment. */
async function crash(sn: Snapshotter, seed: number): Promise<void> {
  const rand = prng(seed)
  const pick = <T>(xs: T[]): T | undefined => (xs.length === 0 ? undefined : xs[Math.floor(rand() * xs.length)])
  let snaps = await listing(sn)
  let next = Math.max(0, ...snaps.map((s) => layerNumber(s.name))) + 1
  for (;;) {
    const committed = snaps.filter((s) => s.kind === 'committed' && s.depth < 6)
    const parent = rand() < 0.2 ? undefined : pick(committed)
    const r = rand()
    const n = next++
    if (snaps.length > 30 || r < 0.3) {
      const leaves = snaps.filter((s) => !snaps.some((c) => c.parent === s.name))
      const victim = pick(leaves)
      if (victim) await sn.remove(victim.name)
    } else if (r < 0.65) {
      await sn.prepare(`a${n}`, parent?.name)
      const inherited = parent ? await inheritedLayers(sn, parent.name) : []
      const deleted = rand() < 0.3 ? pick(inherited) : undefined
      await withFs(sn, `a${n}`, (fs) => writeLayer(fs, n, deleted))
      const labels: Record<string, string> = deleted === undefined ? {} : { [DELETED_LABEL]: String(deleted) }
      await sn.commit(`c${n}`, `a${n}`, { labels })
    } else if (r < 0.8) {
      await sn.prepare(`a${n}`, parent?.name)
      await withFs(sn, `a${n}`, (fs) => writeLayer(fs, n))
    } else if (r < 0.9) {
      await sn.view(`v${n}`, parent?.name)
    } else if (r < 0.95) {
      const s = pick(snaps)
      if (s) await sn.update({ name: s.name, labels: { touched: String(n) } }, ['labels.touched'])
    } else {
      await sn.cleanup()
    }
    snaps = await listing(sn)
  }
}

/** Layer numbers whose /layer-N file a snapshot holds. */
async function inheritedLayers(sn: Snapshotter, name: string): Promise<number[]> {
  const files = await expectedFiles(sn, name)
  return [...files.keys()].filter((p) => /^\/layer-\d+$/.test(p)).map((p) => Number(p.slice('/layer-'.length)))
}

async function main(): Promise<void> {
  const [specJson, mode, root, seed] = process.argv.slice(2)
  const make = await load(JSON.parse(specJson) as ChildSpec)
  if (mode === 'probe-lock') return probeLock(make, root)
  if (mode === 'crash') {
    const sn = await make(root)
    console.log('ready')
    return crash(sn, Number(seed))
  }
  throw new Error(`unknown mode ${mode}`)
}

main().catch((err: unknown) => {
  console.error(err)
  process.exit(1)
})
