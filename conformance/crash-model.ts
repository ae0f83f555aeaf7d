/**
 * The workload of the crash group, shared by the child that runs it and the
 * parent that checks what survived. Everything a committed snapshot holds is
 * derived from its name and its chain, so after a SIGKILL the parent knows
 * exactly what each committed snapshot must still contain.
 *
 * Names: committed `c<N>`, active `a<N>`, view `v<N>`. Layer N writes
 * /layer-N (a size derived from N) and, for N % 3 == 0, a directory /dir-N of
 * three files; it may delete one /layer-M it inherited, recorded in the
 * commit's label `strata.crash/deleted`.
 */
import { createHash } from 'node:crypto'
import type { SnapshotFs, Snapshotter } from '../core/snapshotter.js'

export const DELETED_LABEL = 'strata.crash/deleted'

/** A small deterministic PRNG (mulberry32): the same seed gives the same run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function layerNumber(name: string): number {
  return Number(name.slice(1))
}

function content(n: number, tag: string, size: number): Buffer {
  const seed = createHash('sha256').update(`${tag}-${n}`).digest()
  const out = Buffer.alloc(size)
  for (let off = 0; off < size; off += seed.length) seed.copy(out, off)
  return out
}

/** The files layer N adds: path → content. */
export function layerFiles(n: number): Map<string, Buffer> {
  const files = new Map<string, Buffer>()
  files.set(`/layer-${n}`, content(n, 'layer', (n * 7919) % 150_000))
  if (n % 3 === 0) {
    for (const f of ['a', 'b', 'c']) files.set(`/dir-${n}/${f}`, content(n, f, 1000 + n))
  }
  return files
}

/** Writes layer N into an active snapshot, deleting /layer-M if asked. */
export async function writeLayer(fs: SnapshotFs, n: number, deleted?: number): Promise<void> {
  if (deleted !== undefined) await fs.unlink(`/layer-${deleted}`)
  for (const [path, data] of layerFiles(n)) {
    const dir = path.slice(0, path.lastIndexOf('/'))
    if (dir !== '') await fs.mkdir(dir, { recursive: true })
    await fs.writeFile(path, data)
  }
}

/** What the committed snapshot `name` must hold, from its chain of records. */
export async function expectedFiles(sn: Snapshotter, name: string): Promise<Map<string, Buffer>> {
  const chain: Array<{ n: number; deleted?: number | undefined }> = []
  for (let cur: string | undefined = name; cur !== undefined; ) {
    const info = await sn.stat(cur)
    const d = info.labels[DELETED_LABEL]
    chain.unshift({ n: layerNumber(cur), deleted: d === undefined ? undefined : Number(d) })
    cur = info.parent
  }
  const files = new Map<string, Buffer>()
  for (const { n, deleted } of chain) {
    if (deleted !== undefined) files.delete(`/layer-${deleted}`)
    for (const [p, data] of layerFiles(n)) files.set(p, data)
  }
  return files
}

/** Every regular file of a snapshot, path → content. */
export async function actualFiles(fs: SnapshotFs): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>()
  const walk = async (dir: string): Promise<void> => {
    for (const name of await fs.readdir(dir)) {
      const path = dir === '/' ? `/${name}` : `${dir}/${name}`
      const st = await fs.lstat(path)
      if (st.type === 'dir') await walk(path)
      else out.set(path, await fs.readFile(path))
    }
  }
  await walk('/')
  return out
}
