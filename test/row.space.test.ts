/**
 * The row driver's bookkeeping: prepare costs a few keys whatever the
 * parent's size, remove frees exactly what the snapshot owned (and resumes
 * after a crash), nothing is left once every snapshot is removed, check()
 * finds damage, and changes() lists a layer's changes walking only what the
 * parent does not share.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Metastore } from '../core/metastore.js'
import { Store } from '../core/store.js'
import type { Change, Checkable, ChangeLister, SnapshotFs, Snapshotter } from '../core/snapshotter.js'
import { rowDb } from '../drivers/row/backend.js'
import { createRowSnapshotter, inspectRowStore, type RowKeyCounts } from '../drivers/row/index.js'
import { Prefix, gcKey, genRange } from '../drivers/row/keys.js'
import { NodeSource } from '../drivers/row/nodestore.js'
import { withOpen } from '../fs/open.js'

let dir: string
let root: string
let sn: Snapshotter | undefined
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-row-space-'))
  root = join(dir, 'root')
})
afterEach(async () => {
  await sn?.close()
  sn = undefined
  await rm(dir, { recursive: true, force: true })
})

const OPTS = { blockSize: 4096 }
const code = (c: string) => expect.objectContaining({ code: c })

async function open(): Promise<Snapshotter> {
  await sn?.close()
  sn = await createRowSnapshotter(root, OPTS)
  return sn
}

/** Key counts of the (closed) store; leaves it closed. */
async function counts(): Promise<RowKeyCounts> {
  await sn?.close()
  sn = undefined
  return inspectRowStore(root)
}

async function layer(key: string, parent: string | undefined, fn: (fs: SnapshotFs) => Promise<void>): Promise<void> {
  await sn!.prepare(`${key}-a`, parent)
  await withOpen(sn!, `${key}-a`, fn)
  await sn!.commit(key, `${key}-a`)
}

async function clean(where: string): Promise<void> {
  expect(await (sn as unknown as Checkable).check(), where).toEqual({ orphans: [], missing: [], problems: [] })
}

async function idOf(key: string): Promise<number> {
  await sn?.close()
  sn = undefined
  const store = await Store.open(root)
  try {
    return (await new Metastore(store).mustGet(key)).id
  } finally {
    await store.close()
  }
}

describe('row space', () => {
  it('prepare, view and commit add one record whatever the size of the parent, and no node or block', async () => {
    await open()
    await layer('big', undefined, async (fs) => {
      for (let i = 0; i < 50; i++) await fs.writeFile(`/f${i}`, Buffer.alloc(20_000, i))
    })
    const before = await counts()
    await open()
    await sn!.prepare('c', 'big')
    await sn!.view('v', 'big')
    await sn!.commit('c2', 'c')
    const after = await counts()
    expect(after).toEqual({ ...before, snapshots: before.snapshots + 2 })
  })

  it('remove frees exactly the keys the snapshot owned, and nothing is left once every snapshot is removed', async () => {
    await open()
    await layer('base', undefined, async (fs) => {
      await fs.mkdir('/d')
      for (let i = 0; i < 30; i++) await fs.writeFile(`/d/f${i}`, Buffer.alloc(9000, i))
    })
    const baseOnly = await counts()
    await open()
    await sn!.prepare('work', 'base')
    await withOpen(sn!, 'work', async (fs) => {
      for (let i = 0; i < 30; i += 3) await fs.writeFile(`/d/f${i}`, Buffer.alloc(5000, 99))
      await fs.rm('/d/f1')
      await fs.writeFile('/new', Buffer.alloc(50_000, 7))
    })
    await clean('with the child')
    const withChild = await counts()
    expect(withChild.blocks).toBeGreaterThan(baseOnly.blocks)
    await open()
    await sn!.remove('work')
    expect(await counts()).toEqual(baseOnly)
    await open()
    await withOpen(sn!, 'base', async (fs) => expect((await fs.readFile('/d/f1')).equals(Buffer.alloc(9000, 1))).toBe(true))
    await sn!.remove('base')
    expect(await counts()).toEqual({ snapshots: 0, pendingRemovals: 0, nodes: 0, nodeBytes: 0, blocks: 0, blockBytes: 0 })
  })

  it('cleanup at open finishes a removal that a crash interrupted half-way', async () => {
    await open()
    await layer('base', undefined, async (fs) => fs.writeFile('/keep', Buffer.alloc(30_000, 1)))
    const baseOnly = await counts()
    await open()
    await sn!.prepare('victim', 'base')
    await withOpen(sn!, 'victim', async (fs) => {
      for (let i = 0; i < 20; i++) await fs.writeFile(`/v${i}`, Buffer.alloc(12_000, i))
    })
    const id = await idOf('victim')
    // The state a SIGKILL leaves after core's remove batch and part of the freeing.
    const store = await Store.open(root)
    const meta = new Metastore(store)
    const db = rowDb(store)
    const tx = store.transaction()
    meta.delete(tx, 'victim', await meta.mustGet('victim'))
    tx.put(db, gcKey(id), Buffer.alloc(0))
    await tx.write({ sync: true })
    const [gte, lt] = genRange(Prefix.Block, id)
    await db.clear({ gte, lt, limit: 5 })
    await store.close()

    await open()
    await clean('after the resumed removal')
    expect(await counts()).toEqual(baseOnly)
  })

  it('a process killed while removing leaves either the whole snapshot or none of it', async () => {
    const child = fileURLToPath(new URL('./fixtures/row-remover.js', import.meta.url))
    for (const delay of [0, 1, 3, 8, 20]) {
      await rm(root, { recursive: true, force: true })
      await open()
      await layer('base', undefined, async (fs) => fs.writeFile('/keep', Buffer.alloc(40_000, 1)))
      const baseOnly = await counts()
      await open()
      await sn!.prepare('victim', 'base')
      await withOpen(sn!, 'victim', (fs) => fs.writeFile('/big', Buffer.alloc(8 << 20, 3)))
      const withVictim = await counts()
      const proc = spawn(process.execPath, [child, root, 'victim'], { stdio: ['ignore', 'pipe', 'inherit'] })
      // Listen from the start: a removal that finishes before the kill closes the child before we would.
      const closed = new Promise((r) => proc.on('close', r))
      await new Promise<void>((resolve) => proc.stdout.on('data', (d: Buffer) => d.toString().includes('removing') && resolve()))
      await new Promise((r) => setTimeout(r, delay))
      proc.kill('SIGKILL')
      await closed
      await open()
      await clean(`after a kill ${delay} ms into remove`)
      const survived = (await sn!.stat('victim').catch(() => undefined)) !== undefined
      if (survived)
        await withOpen(sn!, 'victim', async (fs) => expect((await fs.readFile('/big')).equals(Buffer.alloc(8 << 20, 3))).toBe(true))
      expect(await counts()).toEqual(survived ? withVictim : baseOnly)
    }
  }, 60_000)

  it('check() reports a missing block and a leaked node', async () => {
    await open()
    await layer('base', undefined, async (fs) => fs.writeFile('/f', Buffer.alloc(20_000, 5)))
    const id = await idOf('base')
    const store = await Store.open(root)
    const db = rowDb(store)
    const [gte, lt] = genRange(Prefix.Block, id)
    for await (const k of db.keys({ gte, lt, limit: 1 })) await db.del(k)
    const leaked = Buffer.from(genRange(Prefix.Node, id)[0])
    await db.put(Buffer.concat([leaked, Buffer.from([0xff, 0xff, 0xff, 0xff])]), Buffer.from([0x93, 0, 0x90, 0x90]))
    await store.close()
    await open()
    const report = await (sn as unknown as Checkable).check()
    expect(report.missing).toEqual(['base'])
    expect(report.problems.join('\n')).toMatch(/block \d+:\d+ is missing/)
    await rm(root, { recursive: true, force: true })
    await open()
    await layer('base', undefined, async (fs) => fs.writeFile('/f', 'x'))
    const id2 = await idOf('base')
    const s2 = await Store.open(root)
    await rowDb(s2).put(Buffer.concat([genRange(Prefix.Node, id2)[0], Buffer.from([0, 0, 0xff, 0xff])]), Buffer.from([0x93, 0, 0x90, 0x90]))
    await s2.close()
    await open()
    expect((await (sn as unknown as Checkable).check()).problems.join('\n')).toMatch(/unreachable \(leaked\)/)
  })

  it("mounts() are binds of the snapshot's FUSE mount under the root: rw for active, ro for a view", async () => {
    await open()
    expect(sn!.capabilities).toEqual({ kernelMounts: true, renameLowerDirInMount: true, servedMounts: true })
    const mounts = await sn!.prepare('a')
    expect(mounts).toEqual([{ type: 'bind', source: join(root, 'mnt', await idOfOpen('a')), options: ['bind', 'rw'] }])
    expect(await readFile('/proc/self/mountinfo', 'utf8')).toContain(` ${mounts[0].source} `)
    await sn!.commit('c', 'a')
    expect((await sn!.view('v', 'c'))[0].options[1]).toBe('ro')
  })

  it('options are checked, and a store keeps the block size it was created with', async () => {
    for (const bad of [{ blockSize: 5000 }, { blockSize: 1024 }, { nodeBytes: 10 }, { inlineBytes: -1 }, { nope: 1 }]) {
      await expect(createRowSnapshotter(join(dir, 'bad'), bad as object)).rejects.toEqual(code('ERR_INVALID_ARGUMENT'))
    }
    sn = await createRowSnapshotter(root, { blockSize: 16384 })
    await sn.close()
    await expect(createRowSnapshotter(root, { blockSize: 65536 })).rejects.toEqual(code('ERR_INVALID_ARGUMENT'))
    sn = await createRowSnapshotter(root)
    await sn.prepare('a')
    await withOpen(sn!, 'a', async (fs) => {
      await fs.writeFile('/f', Buffer.alloc(40_000, 1))
      expect((await fs.readFile('/f')).length).toBe(40_000)
    })
  })
})

async function idOfOpen(key: string): Promise<string> {
  const m = await sn!.mounts(key)
  // As root the mount is a bind of <root>/mnt/<id>; otherwise row's own type names the id.
  return m[0].type === 'bind' ? m[0].source.slice(m[0].source.lastIndexOf('/') + 1) : m[0].options[0].slice('id='.length)
}

describe('row changes()', () => {
  async function changes(key: string): Promise<Change[]> {
    const out: Change[] = []
    for await (const c of (sn as unknown as ChangeLister).changes(key)) out.push(c)
    return out
  }

  it('lists adds, modifies, deletes and opaque directories in path order, each deleted path once', async () => {
    await open()
    await layer('base', undefined, async (fs) => {
      for (const f of ['/keep', '/mod', '/del', '/hard']) await fs.writeFile(f, f)
      await fs.mkdir('/dir')
      await fs.writeFile('/dir/a', 'a')
      await fs.writeFile('/dir/b', 'b')
      await fs.mkdir('/repl/deep', { recursive: true })
      await fs.writeFile('/repl/x', 'x')
      await fs.mkdir('/tomove')
      await fs.writeFile('/tomove/y', 'y')
      await fs.mkdir('/gone/sub', { recursive: true })
    })
    await sn!.prepare('top', 'base')
    await withOpen(sn!, 'top', async (fs) => {
      await fs.writeFile('/mod', 'changed')
      await fs.unlink('/del')
      await fs.writeFile('/dir/new', 'new')
      await fs.rm('/repl', { recursive: true })
      await fs.mkdir('/repl')
      await fs.writeFile('/repl/z', 'z')
      await fs.rename('/tomove', '/moved')
      await fs.chmod('/dir/a', 0o600)
      await fs.link('/hard', '/dir/hard2')
      await fs.rm('/gone', { recursive: true })
    })
    const want: Change[] = [
      { path: '/del', kind: 'delete' },
      { path: '/dir', kind: 'modify' },
      { path: '/dir/a', kind: 'modify' },
      { path: '/dir/hard2', kind: 'add' },
      { path: '/dir/new', kind: 'add' },
      { path: '/gone', kind: 'delete' },
      { path: '/mod', kind: 'modify' },
      { path: '/moved', kind: 'add' },
      { path: '/moved/y', kind: 'add' },
      { path: '/repl', kind: 'modify', opaque: true },
      { path: '/repl/z', kind: 'add' },
      { path: '/tomove', kind: 'delete' },
    ]
    expect(await changes('top')).toEqual(want)
    await sn!.commit('top-c', 'top')
    expect(await changes('top-c')).toEqual(want)
    expect(await changes('base')).toEqual([
      { path: '/del', kind: 'add' },
      { path: '/dir', kind: 'add' },
      { path: '/dir/a', kind: 'add' },
      { path: '/dir/b', kind: 'add' },
      { path: '/gone', kind: 'add' },
      { path: '/gone/sub', kind: 'add' },
      { path: '/hard', kind: 'add' },
      { path: '/keep', kind: 'add' },
      { path: '/mod', kind: 'add' },
      { path: '/repl', kind: 'add' },
      { path: '/repl/deep', kind: 'add' },
      { path: '/repl/x', kind: 'add' },
      { path: '/tomove', kind: 'add' },
      { path: '/tomove/y', kind: 'add' },
    ])
    await sn!.prepare('same', 'top-c')
    await withOpen(sn!, 'same', async (fs) => {
      await fs.writeFile('/tmp', 'x')
      await fs.unlink('/tmp')
    })
    expect(await changes('same')).toEqual([])
  })

  it('reads only what the parent does not share: one change in a tree of thousands of files', async () => {
    await open()
    await layer('base', undefined, async (fs) => {
      for (let d = 0; d < 20; d++) {
        await fs.mkdir(`/d${d}`)
        for (let i = 0; i < 100; i++) await fs.writeFile(`/d${d}/f${i}`, `${d}-${i}`)
      }
    })
    await sn!.prepare('top', 'base')
    await withOpen(sn!, 'top', (fs) => fs.writeFile('/d7/f42', 'changed'))
    let reads = 0
    const node = NodeSource.prototype.node
    NodeSource.prototype.node = function (this: NodeSource, p) {
      reads++
      return node.call(this, p)
    }
    try {
      expect(await changes('top')).toEqual([
        { path: '/d7', kind: 'modify' },
        { path: '/d7/f42', kind: 'modify' },
      ])
    } finally {
      NodeSource.prototype.node = node
    }
    const nodes = (await counts()).nodes
    expect(nodes).toBeGreaterThan(50)
    expect(reads).toBeLessThan(30)
  })
})
