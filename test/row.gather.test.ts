/**
 * The row driver gathers the operations on an active snapshot into one
 * pending edit that lands as one LevelDB batch (at a size limit, when a
 * SnapshotFs closes, before commit, usage, changes and close): an operation
 * that fails half-way still leaves nothing, and what landed is whole.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ClassicLevel } from 'classic-level'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Store } from '../core/store.js'
import type { ChangeLister, Checkable, Snapshotter } from '../core/snapshotter.js'
import { rowDb } from '../drivers/row/backend.js'
import { Edit } from '../drivers/row/edit.js'
import { decodeTreeRecord, type Format } from '../drivers/row/format.js'
import { createRowSnapshotter, inspectRowStore } from '../drivers/row/index.js'
import { snapKey } from '../drivers/row/keys.js'
import { BlockCache, NodeCache, NodeSource } from '../drivers/row/nodestore.js'
import { Snap } from '../drivers/row/snap.js'
import { tarOf } from './helpers/tars.js'

let dir: string
let root: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-row-gather-'))
  root = join(dir, 'root')
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

type BatchFn = (ops: unknown[], opts: unknown) => Promise<void>

/** Counts the LevelDB batches written while `fn` runs. */
async function batchesDuring(fn: () => Promise<void>): Promise<number> {
  const proto = ClassicLevel.prototype as unknown as { _batch: BatchFn }
  const original = proto._batch
  let n = 0
  proto._batch = function (this: unknown, ops, opts) {
    n++
    return original.call(this, ops, opts)
  }
  try {
    await fn()
  } finally {
    proto._batch = original
  }
  return n
}

const FORMAT: Format = { blockSize: 4096, nodeBytes: 4096, inlineMax: 2048 }
const key = (s: string): Buffer => Buffer.from(`k/${s}`)

async function withSnap(fn: (snap: Snap, reopen: () => Promise<Snap>) => Promise<void>): Promise<void> {
  const store = await Store.open(root)
  try {
    const db = rowDb(store)
    const source = () => new NodeSource(db, new NodeCache(64), new BlockCache(1 << 20))
    const first = Edit.empty(source(), 1, FORMAT, 2)
    const snap = new Snap(source(), FORMAT, 1, await first.commit(), false)
    const reopen = async () => new Snap(source(), FORMAT, 1, decodeTreeRecord((await db.get(snapKey(1)))!), false)
    await fn(snap, reopen)
  } finally {
    await store.close()
  }
}

describe('row: gathered operations', () => {
  it('an operation that fails half-way leaves nothing, and the operations before it stay', async () => {
    await withSnap(async (snap, reopen) => {
      await snap.write((e) => e.put(key('a'), Buffer.from('1')))
      await expect(
        snap.write((e) => {
          e.put(key('b'), Buffer.from('2'))
          e.del(key('a'))
          throw new Error('half-way')
        }),
      ).rejects.toThrow('half-way')
      await snap.write((e) => e.put(key('c'), Buffer.from('3')))
      const seen = (t: { get(k: Buffer): Buffer | undefined }) => ['a', 'b', 'c'].map((k) => t.get(key(k))?.toString())
      expect(await snap.read(seen)).toEqual(['1', undefined, '3'])
      await snap.flush()
      expect(await (await reopen()).read(seen)).toEqual(['1', undefined, '3'])
    })
  })

  it('operations land as one batch at flush, none before it', async () => {
    await withSnap(async (snap, reopen) => {
      const during = await batchesDuring(async () => {
        for (let i = 0; i < 500; i++) await snap.write((e) => e.put(key(String(i).padStart(4, '0')), Buffer.alloc(100, i)))
      })
      expect(during).toBe(0)
      expect((await reopen()).record.root).toEqual({ g: 1, s: 0 })
      expect(await batchesDuring(() => snap.flush())).toBe(1)
      const again = await reopen()
      expect(await again.read((t) => t.get(key('0499'))?.equals(Buffer.alloc(100, 499 & 0xff)))).toBe(true)
    })
  })

  it('a dropped snapshot lands nothing of what it gathered', async () => {
    await withSnap(async (snap, reopen) => {
      await snap.write((e) => e.put(key('a'), Buffer.from('1')))
      snap.drop()
      await snap.flush()
      expect(await (await reopen()).read((t) => t.get(key('a')))).toBeUndefined()
      await expect(snap.write((e) => e.put(key('b'), Buffer.from('2')))).rejects.toThrow(/removed/)
    })
  })
})

describe('row: a layer of small files through one SnapshotFs', () => {
  let sn: Snapshotter | undefined
  afterEach(async () => {
    await sn?.close()
    sn = undefined
  })

  it('writes land in a few batches, and usage() and changes() count them before the fs closes', async () => {
    sn = await createRowSnapshotter(root)
    await sn.prepare('a')
    const fs = await sn.open('a')
    const files = 300
    const during = await batchesDuring(async () => {
      await fs.mkdir('/d')
      for (let i = 0; i < files; i++) {
        await fs.writeFile(`/d/f${i}`, Buffer.alloc(3000 + i, i))
        await fs.chown(`/d/f${i}`, 1, 1)
        await fs.utimes(`/d/f${i}`, 1e12, 1e12)
      }
    })
    expect(during).toBeLessThan(5)
    expect((await sn.usage('a')).inodes).toBe(files + 2)
    const changes = []
    for await (const c of (sn as Snapshotter & ChangeLister).changes('a')) changes.push(c)
    expect(changes).toHaveLength(files + 1)
    await fs.close()
    await sn.commit('c', 'a')
    await sn.close()
    sn = await createRowSnapshotter(root)
    await sn.view('v', 'c')
    const view = await sn.open('v')
    expect((await view.readFile('/d/f299')).equals(Buffer.alloc(3299, 299 & 0xff))).toBe(true)
    expect(await view.stat('/d/f7')).toMatchObject({ uid: 1, gid: 1, mtimeMs: 1e12, size: 3007 })
    await view.close()
  })
})

describe('row: an apply killed half-way', () => {
  it('leaves whole files or none, a consistent store, and nothing once its snapshot is removed', async () => {
    const child = fileURLToPath(new URL('./fixtures/row-applier.js', import.meta.url))
    const content = (i: number): Buffer => Buffer.alloc(16 << 10, i % 251)
    // 48 MiB of files: more than one gathered batch (32 MiB) lands before the end.
    const files = 3000
    const tar = join(dir, 'layer.tar')
    await writeFile(
      tar,
      await tarOf([
        { name: 'd/', type: 'directory' },
        ...Array.from({ length: files }, (_, i) => ({ name: `d/f${i}`, content: content(i) })),
      ]),
    )
    const empty = await (async () => {
      const sn = await createRowSnapshotter(root)
      await sn.close()
      return inspectRowStore(root)
    })()
    for (const delay of [0, 200, 600]) {
      const proc = spawn(process.execPath, [child, root, `wip-${delay}`, tar], { stdio: ['ignore', 'pipe', 'inherit'] })
      const closed = new Promise((r) => proc.on('close', r))
      await new Promise<void>((resolve) => proc.stdout.on('data', (d: Buffer) => d.toString().includes('applying') && resolve()))
      await new Promise((r) => setTimeout(r, delay))
      proc.kill('SIGKILL')
      await closed
      const sn = await createRowSnapshotter(root)
      try {
        expect(await (sn as Snapshotter & Checkable).check(), `killed ${delay} ms in`).toEqual({ orphans: [], missing: [], problems: [] })
        const fs = await sn.open(`wip-${delay}`)
        const names = await fs.readdir('/d').catch(() => [] as string[])
        for (const name of names) expect((await fs.readFile(`/d/${name}`)).equals(content(Number(name.slice(1)))), name).toBe(true)
        await fs.close()
        await sn.remove(`wip-${delay}`)
      } finally {
        await sn.close()
      }
      expect(await inspectRowStore(root)).toEqual(empty)
    }
  }, 60_000)
})
