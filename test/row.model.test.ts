/**
 * The row driver against a plain directory: the same random operations go to
 * a row snapshot and to a DirFs over a real directory, and the two trees
 * must stay equal (type, mode, owner, size, content, hard-link groups,
 * symlink targets). Tiny nodes and blocks make the trees split, merge and
 * redirect constantly; check() (the driver's fsck: structure, ownership,
 * leaks, counters) runs after every round, every committed layer must still
 * hold what it held when it was committed, and changes() must list exactly
 * what a brute-force walk of both trees finds.
 */
import { mkdtemp, rm, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { DirFs } from '../fs/dirfs.js'
import { diffManifests, manifest, type Entry } from '../conformance/compare.js'
import { prng } from '../conformance/crash-model.js'
import { createHash } from 'node:crypto'
import type { Change, ChangeLister, Checkable, FileStat, SnapshotFs, Snapshotter } from '../core/snapshotter.js'
import { createRowSnapshotter } from '../drivers/row/index.js'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-row-model-'))
})
afterEach(() => rm(dir, { recursive: true, force: true }))

type Rand = () => number

const NAMES = ['a', 'b', 'c', 'dir', 'x y', 'ü']

function pick<T>(rand: Rand, xs: readonly T[]): T {
  return xs[Math.floor(rand() * xs.length)]
}

function randomPath(rand: Rand, depth = 3): string {
  const n = 1 + Math.floor(rand() * depth)
  return '/' + Array.from({ length: n }, () => pick(rand, NAMES)).join('/')
}

function bytes(rand: Rand, n: number): Buffer {
  const b = Buffer.allocUnsafe(n)
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256)
  return b
}

/** A size that lands often near block boundaries and the inline limit. */
function size(rand: Rand): number {
  const r = rand()
  if (r < 0.3) return Math.floor(rand() * 300)
  if (r < 0.6) return 4096 * Math.floor(rand() * 4) + Math.floor(rand() * 3) - 1 + (rand() < 0.5 ? 0 : 1)
  return Math.floor(rand() * 40_000)
}

/** One random operation, applied to both trees; both must agree on success or on the error code. */
async function step(rand: Rand, a: SnapshotFs, b: SnapshotFs): Promise<string> {
  const p = randomPath(rand)
  const q = randomPath(rand)
  const r = rand()
  let op: (fs: SnapshotFs) => Promise<unknown>
  let what: string
  if (r < 0.2) {
    const data = bytes(rand, Math.max(0, size(rand)))
    const mode = pick(rand, [0o644, 0o600, 0o755, 0o4755])
    what = `writeFile ${p} ${data.length}`
    op = (fs) => fs.writeFile(p, data, { mode })
  } else if (r < 0.35) {
    const data = bytes(rand, 1 + Math.floor(rand() * 9000))
    const pos = Math.max(0, size(rand))
    const flags = pick(rand, ['r+', 'a'] as const)
    what = `write ${p} ${data.length}@${pos} (${flags})`
    op = async (fs) => {
      const fh = await fs.open(p, flags)
      try {
        await fh.write(data, 0, data.length, pos)
      } finally {
        await fh.close()
      }
    }
  } else if (r < 0.45) {
    const len = Math.max(0, size(rand))
    what = `truncate ${p} ${len}`
    op = (fs) => fs.truncate(p, len)
  } else if (r < 0.55) {
    const opts = { recursive: rand() < 0.5, mode: pick(rand, [0o755, 0o700, 0o1777]) }
    what = `mkdir ${p}`
    op = (fs) => fs.mkdir(p, opts)
  } else if (r < 0.65) {
    what = `rename ${p} ${q}`
    op = (fs) => fs.rename(p, q)
  } else if (r < 0.72) {
    what = `link ${p} ${q}`
    op = (fs) => fs.link(p, q)
  } else if (r < 0.78) {
    what = `unlink ${p}`
    op = (fs) => fs.unlink(p)
  } else if (r < 0.83) {
    what = `rm -r ${p}`
    op = (fs) => fs.rm(p, { recursive: true })
  } else if (r < 0.87) {
    what = `rmdir ${p}`
    op = (fs) => fs.rmdir(p)
  } else if (r < 0.91) {
    const target = rand() < 0.5 ? q : q.slice(1)
    what = `symlink ${target} ${p}`
    op = (fs) => fs.symlink(target, p)
  } else if (r < 0.95) {
    const mode = pick(rand, [0o644, 0o2755, 0o700])
    what = `chmod ${p}`
    op = (fs) => fs.chmod(p, mode)
  } else {
    const gid = pick(rand, [0, 1])
    what = `chown ${p}`
    op = (fs) => fs.chown(p, 0, gid)
  }
  const outcome = async (fs: SnapshotFs): Promise<string> => {
    try {
      await op(fs)
      return 'ok'
    } catch (err) {
      return (err as { code?: string }).code ?? String(err)
    }
  }
  // Every random choice is drawn above, so both sides run exactly the same call.
  const ra = await outcome(a)
  const rb = await outcome(b)
  expect(ra, what).toBe(rb)
  return what
}

/** Compares trees, ignoring the sizes of directories (file-system specific). */
async function same(a: SnapshotFs, b: SnapshotFs, where: string): Promise<Map<string, Entry>> {
  const ma = await manifest(a)
  const mb = await manifest(b)
  const diffs = diffManifests(ma, mb)
  expect(diffs, where).toEqual([])
  return ma
}

async function clean(sn: Snapshotter, where: string): Promise<void> {
  const report = await (sn as unknown as Checkable).check()
  expect(report, where).toEqual({ orphans: [], missing: [], problems: [] })
}

/** What a layer records of an entry besides its inode number (not nlink). */
async function content(fs: SnapshotFs, p: string, st: FileStat): Promise<string> {
  const extra =
    st.type === 'file'
      ? createHash('sha256')
          .update(await fs.readFile(p))
          .digest('hex')
      : st.type === 'symlink'
        ? await fs.readlink(p)
        : ''
  return [st.type, st.mode, st.uid, st.gid, st.size, st.mtimeMs, st.rdev ?? '', extra].join(' ')
}

/** The changes of `after` against `before`, by walking both trees whole: the oracle for changes(). */
async function bruteChanges(before: SnapshotFs | undefined, after: SnapshotFs): Promise<Change[]> {
  const out: Change[] = []
  const lstat = (fs: SnapshotFs | undefined, p: string) => (fs ? fs.lstat(p).catch(() => undefined) : undefined)
  const addAll = async (dir: string): Promise<void> => {
    for (const name of await after.readdir(dir)) {
      const p = `${dir}/${name}`
      out.push({ path: p, kind: 'add' })
      if ((await after.lstat(p)).type === 'dir') await addAll(p)
    }
  }
  const walk = async (dir: string): Promise<Change[]> => {
    const mine: Change[] = []
    const names = new Set(await after.readdir(dir || '/'))
    if (before) for (const n of await before.readdir(dir || '/')) names.add(n)
    for (const name of [...names].sort()) {
      const p = `${dir}/${name}`
      const o = await lstat(before, p)
      const n = await lstat(after, p)
      if (!n) {
        mine.push({ path: p, kind: 'delete' })
      } else if (!o || o.ino !== n.ino) {
        mine.push(
          !o
            ? { path: p, kind: 'add' }
            : o.type === 'dir' && n.type === 'dir'
              ? { path: p, kind: 'modify', opaque: true }
              : { path: p, kind: 'modify' },
        )
        if (n.type === 'dir') {
          const saved = out.length
          await addAll(p)
          mine.push(...out.splice(saved))
        }
      } else {
        const differs = (await content(before!, p, o)) !== (await content(after, p, n))
        const inside = n.type === 'dir' ? await walk(p) : []
        if (differs || inside.length > 0) mine.push({ path: p, kind: 'modify' }, ...inside)
      }
    }
    return mine
  }
  return walk('')
}

describe('row against a real directory', () => {
  // STRATA_ROW_SEEDS=200 for a longer hunt; each seed is a different run.
  const seeds = Number(process.env.STRATA_ROW_SEEDS ?? 3)
  for (let seed = 1; seed <= seeds; seed++) {
    it(`random operations over a chain of layers agree with DirFs, and changes() with a walk of both trees (seed ${seed})`, async () => {
      const rand = prng(seed)
      const sn = await createRowSnapshotter(join(dir, 'root'), { blockSize: 4096, nodeBytes: 1024, inlineBytes: 200 })
      const flatDir = join(dir, 'flat')
      await mkdir(flatDir)
      const flat = new DirFs(flatDir)
      const committed: Array<[string, Map<string, Entry>]> = []
      let parent: string | undefined
      for (let layer = 0; layer < 5; layer++) {
        const key = `l${layer}-a`
        await sn.prepare(key, parent)
        const fs = await sn.open(key)
        const log: string[] = []
        for (let i = 0; i < 120; i++) {
          log.push(await step(rand, fs, flat))
          if (i % 40 === 39) await same(fs, flat, `layer ${layer} after ${log.slice(-5).join(' | ')}`)
        }
        const m = await same(fs, flat, `layer ${layer} at commit`)
        const listed: Change[] = []
        for await (const c of (sn as unknown as ChangeLister).changes(key)) listed.push(c)
        const below = parent === undefined ? undefined : await sn.open(parent)
        expect(listed, `changes() of layer ${layer}`).toEqual(await bruteChanges(below, fs))
        await below?.close()
        await fs.close()
        await clean(sn, `layer ${layer} before commit`)
        parent = `l${layer}`
        await sn.commit(parent, key)
        committed.push([parent, m])
        await clean(sn, `layer ${layer} after commit`)
      }
      for (const [name, m] of committed) {
        const fs = await sn.open(name)
        expect(diffManifests(await manifest(fs), m), `${name} changed after its commit`).toEqual([])
        await fs.close()
      }
      await sn.close()
    }, 120_000)
  }
})
