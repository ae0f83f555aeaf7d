/**
 * The crash disk's workloads: a fixed setup, then a short sequence of
 * snapshotter operations (CrashMonkey's finding: almost every crash bug
 * needs at most 3 operations after a sync). Targets are chosen by a model
 * of names and kinds alone, so the same sequence does the same thing on
 * every driver and on every run, and `plan` can tell which sequences are
 * possible without running them.
 *
 *   setup    prepare 'base-work', fill it (dirs, modes, owners, a symlink,
 *            a hard link, a 256 KiB file), commit 'base'; prepare 'a0' on
 *            'base' and write+fsync /a0.txt
 *   prepare  prepare p<i> on the newest committed snapshot (none: no parent)
 *   write    write /w<i> (3000 bytes, 0640, 1000:1001) into the newest active, fsync
 *   apply    apply a 40-file layer under /layer<i>/ to the newest active
 *   commit   commit the newest active as c<i>
 *   remove   remove the newest snapshot without children
 *   cleanup  cleanup()
 *   import   import the busybox OCI image
 */
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import tarStream from 'tar-stream'
import type { FileStat, SnapshotFs, Snapshotter } from '../core/snapshotter.js'
import { imagesOf, importImage } from '../image/index.js'
import { applyLayer } from '../layers/index.js'

export const OPS = ['prepare', 'write', 'apply', 'commit', 'remove', 'cleanup', 'import'] as const
export type OpName = (typeof OPS)[number]

/** What the model knows of a snapshot. */
interface ModelSnap {
  kind: 'active' | 'committed'
  parent?: string
  /** Top-level directories a layer was applied to while active: not promised until commit. */
  loose: string[]
}

export interface Model {
  /** Existing snapshots in creation order. */
  order: string[]
  snaps: Record<string, ModelSnap>
  images: string[]
}

export const BUSYBOX_TAG = 'busybox:crash'

export function setupModel(): Model {
  return {
    order: ['base', 'a0'],
    snaps: { base: { kind: 'committed', loose: [] }, a0: { kind: 'active', parent: 'base', loose: [] } },
    images: [],
  }
}

function newest(m: Model, kind: 'active' | 'committed'): string | undefined {
  return m.order.findLast((n) => m.snaps[n].kind === kind)
}

function removable(m: Model): string | undefined {
  return m.order.findLast((n) => !m.order.some((c) => m.snaps[c].parent === n))
}

/** What op `i` does in state `m`, or undefined when it cannot run there. */
export type Action =
  | { op: 'prepare'; key: string; parent?: string }
  | { op: 'write'; key: string; path: string }
  | { op: 'apply'; key: string; dir: string }
  | { op: 'commit'; name: string; key: string }
  | { op: 'remove'; key: string }
  | { op: 'cleanup' }
  | { op: 'import' }

export function actionOf(m: Model, op: OpName, i: number): Action | undefined {
  const active = newest(m, 'active')
  switch (op) {
    case 'prepare': {
      const parent = newest(m, 'committed')
      return parent === undefined ? { op, key: `p${i}` } : { op, key: `p${i}`, parent }
    }
    case 'write':
      return active === undefined ? undefined : { op, key: active, path: `/w${i}` }
    case 'apply':
      return active === undefined ? undefined : { op, key: active, dir: `/layer${i}` }
    case 'commit':
      return active === undefined ? undefined : { op, name: `c${i}`, key: active }
    case 'remove': {
      const key = removable(m)
      return key === undefined ? undefined : { op, key }
    }
    case 'cleanup':
      return { op }
    case 'import':
      return m.images.includes(BUSYBOX_TAG) ? undefined : { op }
  }
}

/** The model after `a`; `importChain` names the image's layer snapshots, base first. */
export function applyAction(m: Model, a: Action, importChain: string[] = []): Model {
  const next: Model = structuredClone(m)
  switch (a.op) {
    case 'prepare':
      next.snaps[a.key] = a.parent === undefined ? { kind: 'active', loose: [] } : { kind: 'active', parent: a.parent, loose: [] }
      next.order.push(a.key)
      break
    case 'apply':
      next.snaps[a.key].loose.push(a.dir)
      break
    case 'commit': {
      const s = next.snaps[a.key]
      delete next.snaps[a.key]
      next.snaps[a.name] = s.parent === undefined ? { kind: 'committed', loose: [] } : { kind: 'committed', parent: s.parent, loose: [] }
      next.order = next.order.filter((n) => n !== a.key)
      next.order.push(a.name)
      break
    }
    case 'remove':
      delete next.snaps[a.key]
      next.order = next.order.filter((n) => n !== a.key)
      break
    case 'import': {
      let parent: string | undefined
      for (const name of importChain) {
        if (!next.snaps[name]) {
          next.snaps[name] = parent === undefined ? { kind: 'committed', loose: [] } : { kind: 'committed', parent, loose: [] }
          next.order.push(name)
        }
        parent = name
      }
      next.images.push(BUSYBOX_TAG)
      break
    }
    case 'write':
    case 'cleanup':
      break
  }
  return next
}

/**
 * Every sequence of 1..maxLen operations that can run after the setup. The
 * image import, the heaviest, appears in sequences of at most `importLen`.
 */
export function plan(maxLen: number, importLen = 2): OpName[][] {
  const out: OpName[][] = []
  const walk = (m: Model, seq: OpName[]): void => {
    if (seq.length > 0) out.push(seq)
    if (seq.length === maxLen) return
    for (const op of OPS) {
      if (op === 'import' && seq.length + 1 > importLen) continue
      const a = actionOf(m, op, seq.length + 1)
      // One layer stands in for the image's chain: only names matter to what can follow.
      if (a) walk(applyAction(m, a, ['sha256:image']), [...seq, op])
    }
  }
  walk(setupModel(), [])
  return out
}

/** A deterministic byte pattern: the same on every run, different per seed. */
export function pattern(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size)
  let block = createHash('sha256').update(seed).digest()
  for (let at = 0; at < size; at += block.length) {
    block.copy(out, at)
    block = createHash('sha256').update(block).digest()
  }
  return out
}

async function withFs<T>(sn: Snapshotter, key: string, fn: (fs: SnapshotFs) => Promise<T>): Promise<T> {
  const fs = await sn.open(key)
  try {
    return await fn(fs)
  } finally {
    await fs.close()
  }
}

async function writeSynced(fs: SnapshotFs, path: string, data: Buffer, mode: number): Promise<void> {
  const fh = await fs.open(path, 'w', mode)
  try {
    let off = 0
    while (off < data.length) off += await fh.write(data, off, data.length - off, off)
    await fh.sync()
  } finally {
    await fh.close()
  }
}

/** A layer of 40 files of 0..16 KiB under `dir`, with a subdirectory and a symlink. */
export function layerTar(dir: string): Readable {
  const pack = tarStream.pack()
  const base = dir.slice(1)
  const time = new Date(1_600_000_000_000)
  pack.entry({ name: `${base}/`, type: 'directory', mode: 0o755, mtime: time })
  pack.entry({ name: `${base}/sub/`, type: 'directory', mode: 0o750, uid: 7, gid: 8, mtime: time })
  for (let n = 0; n < 40; n++) {
    const where = n % 4 === 0 ? `${base}/sub` : base
    pack.entry(
      { name: `${where}/f${n}`, mode: n % 3 === 0 ? 0o755 : 0o644, uid: n % 5, gid: n % 7, mtime: time },
      pattern(`${dir}/${n}`, (n * 419) % 16384),
    )
  }
  pack.entry({ name: `${base}/link`, type: 'symlink', linkname: 'f1', mtime: time })
  pack.finalize()
  return Readable.from(pack as AsyncIterable<Buffer>)
}

export async function setup(sn: Snapshotter): Promise<void> {
  await sn.prepare('base-work')
  await withFs(sn, 'base-work', async (fs) => {
    await fs.mkdir('/etc', { mode: 0o755 })
    await fs.writeFile('/etc/conf', 'name=strata\n', { mode: 0o644 })
    await fs.mkdir('/bin', { mode: 0o755 })
    await fs.writeFile('/bin/tool', pattern('tool', 8192), { mode: 0o755 })
    await fs.chown('/bin/tool', 1000, 1000)
    await fs.mkdir('/data', { mode: 0o700 })
    await fs.writeFile('/data/big', pattern('big', 256 << 10), { mode: 0o600 })
    await fs.link('/data/big', '/data/big.link')
    await fs.symlink('bin', '/lib')
    await fs.mkdir('/empty', { mode: 0o1777 })
  })
  await sn.commit('base', 'base-work')
  await sn.prepare('a0', 'base')
  await withFs(sn, 'a0', (fs) => writeSynced(fs, '/a0.txt', pattern('a0', 5000), 0o644))
}

export interface RunEnv {
  /** The busybox OCI layout (for 'import'). */
  busybox?: string
}

/** Runs op `i` (1-based) of a sequence; returns the model after it. */
export async function runOp(sn: Snapshotter, m: Model, op: OpName, i: number, env: RunEnv): Promise<Model> {
  const a = actionOf(m, op, i)
  if (!a) throw new Error(`operation ${i} (${op}) cannot run here`)
  switch (a.op) {
    case 'prepare':
      await sn.prepare(a.key, a.parent)
      break
    case 'write':
      await withFs(sn, a.key, async (fs) => {
        await writeSynced(fs, a.path, pattern(a.path, 3000), 0o640)
        await fs.chown(a.path, 1000, 1001)
        // chown after the data: sync again so the owner is promised too.
        const fh = await fs.open(a.path, 'r')
        try {
          await fh.sync()
        } finally {
          await fh.close()
        }
      })
      break
    case 'apply':
      await withFs(sn, a.key, (fs) => applyLayer(fs, layerTar(a.dir)).then(() => undefined))
      break
    case 'commit':
      await sn.commit(a.name, a.key)
      break
    case 'remove':
      await sn.remove(a.key)
      break
    case 'cleanup':
      await sn.cleanup()
      break
    case 'import': {
      if (env.busybox === undefined) throw new Error('import needs the busybox image')
      const result = await importImage(sn, env.busybox, { tag: BUSYBOX_TAG })
      return applyAction(m, a, result.chainIds)
    }
  }
  return applyAction(m, a)
}

/** One entry of a snapshot's tree, as the checks compare it. */
export interface Entry {
  path: string
  type: FileStat['type']
  mode: number
  uid: number
  gid: number
  size?: number
  nlink?: number
  /** sha256 of a file's bytes, or a symlink's target. */
  content?: string
  rdev?: number
}

/** Every entry of a snapshot's tree, in path order (timestamps left out: they need not survive). */
export async function listTree(sn: Snapshotter, key: string): Promise<Entry[]> {
  return withFs(sn, key, async (fs) => {
    const out: Entry[] = []
    const visit = async (path: string): Promise<void> => {
      const st = await fs.lstat(path)
      const e: Entry = { path, type: st.type, mode: st.mode, uid: st.uid, gid: st.gid }
      if (st.type === 'file') {
        e.size = st.size
        e.nlink = st.nlink
        e.content = createHash('sha256')
          .update(await fs.readFile(path))
          .digest('hex')
      } else if (st.type === 'symlink') {
        e.content = await fs.readlink(path)
      } else if (st.type === 'char' || st.type === 'block') {
        if (st.rdev !== undefined) e.rdev = st.rdev
      }
      out.push(e)
      if (st.type === 'dir') {
        for (const name of (await fs.readdir(path)).sort()) await visit(path === '/' ? `/${name}` : `${path}/${name}`)
      }
    }
    await visit('/')
    return out
  })
}

/** What a store holds after an operation, as the reference run saw it. */
export interface StoreState {
  snaps: Record<string, { kind: string; parent?: string; loose: string[]; tree: Entry[] }>
  images: string[]
}

export async function captureState(sn: Snapshotter, m: Model): Promise<StoreState> {
  const state: StoreState = { snaps: {}, images: [...m.images] }
  for (const name of m.order) {
    const s = m.snaps[name]
    const snap: StoreState['snaps'][string] = { kind: s.kind, loose: [...s.loose], tree: await listTree(sn, name) }
    if (s.parent !== undefined) snap.parent = s.parent
    state.snaps[name] = snap
  }
  const images = (await imagesOf(sn).list()).map((r) => r.name).sort()
  if (JSON.stringify(images) !== JSON.stringify([...m.images].sort())) {
    throw new Error(`reference run: images ${images.join(',')} differ from the model's ${m.images.join(',')}`)
  }
  return state
}
