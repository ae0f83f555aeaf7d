/**
 * The life of a store: persistence across close and reopen, the one-owner
 * lock, the closed state, usage accounting, and the cases containerd lists as
 * untested (issues.go): inode stability, remove after commit, chmod.
 */
import { defineCases } from '../case.js'
import { assert, collect, rejects } from '../assert.js'
import { assertSameTree } from '../compare.js'
import { runChild } from '../child-process.js'
import { apply, createDir, createFile, link, symlink, chmod } from '../fstest.js'
import type { Snapshotter } from '../../core/snapshotter.js'

async function infos(sn: Snapshotter): Promise<string[]> {
  return (await collect(sn.walk())).map((i) => JSON.stringify(i)).sort()
}

const MiB = 1 << 20

export const lifecycleCases = defineCases('lifecycle', [
  {
    name: 'records, labels, contents and usage survive close and reopen',
    content: true,
    run: async (t) => {
      let sn = await t.sn()
      const layer = apply(createDir('/etc', 0o755), createFile('/etc/motd', 'hello\n', 0o644), symlink('motd', '/etc/link'))
      await sn.prepare('l1-a', undefined, { labels: { a: '1' } })
      await t.withFs(sn, 'l1-a', layer)
      await sn.commit('l1', 'l1-a', { labels: { layer: 'one' } })
      await sn.prepare('work', 'l1', { labels: { role: 'container' } })
      await t.withFs(sn, 'work', createFile('/etc/motd', 'changed\n', 0o600))
      await sn.view('peek', 'l1')
      const before = await infos(sn)
      const usage = await sn.usage('l1')
      sn = await t.reopen()
      assert.deepStrictEqual(await infos(sn), before)
      assert.deepStrictEqual(await sn.usage('l1'), usage)
      const flat = await t.scratch('flat')
      await layer(flat)
      await t.withFs(sn, 'peek', (fs) => assertSameTree(fs, flat, 'the view after reopen'))
      await t.withFs(sn, 'work', async (fs) => assert.equal((await fs.readFile('/etc/motd')).toString(), 'changed\n'))
      await sn.prepare('after', 'l1')
      assert.equal((await sn.stat('after')).parent, 'l1')
    },
  },
  {
    name: 'a second open of the same root in this process fails with ERR_UNAVAILABLE until the first closes',
    run: async (t) => {
      const sn = await t.sn()
      await sn.prepare('x')
      await rejects(t.make(), 'ERR_UNAVAILABLE', 'in use')
      assert.equal((await sn.stat('x')).kind, 'active')
      const again = await t.reopen()
      assert.equal((await again.stat('x')).kind, 'active')
    },
  },
  {
    name: 'a second open of the same root from another process fails with ERR_UNAVAILABLE',
    run: async (t) => {
      const child = t.options.child
      if (!child) return t.skip('no child spec given: the driver cannot be started in another process')
      const sn = await t.sn()
      await sn.prepare('x')
      const out = await runChild(child, ['probe-lock', t.root])
      assert.match(out.stdout, /ERR_UNAVAILABLE/, `the child said: ${out.stdout}${out.stderr}`)
      assert.match(out.stdout, /in use/)
      await sn.close()
      const free = await runChild(child, ['probe-lock', t.root])
      assert.match(free.stdout, /^opened/m, `once closed, another process can open it: ${free.stdout}${free.stderr}`)
    },
  },
  {
    name: 'after close() every call fails with ERR_UNAVAILABLE and close() twice is fine',
    run: async (t) => {
      const sn = await t.sn()
      await sn.prepare('b-a')
      await sn.commit('b', 'b-a')
      await sn.prepare('a', 'b')
      await sn.close()
      const calls: Array<() => Promise<unknown>> = [
        () => sn.stat('a'),
        () => sn.update({ name: 'a', labels: {} }),
        () => sn.usage('a'),
        () => sn.mounts('a'),
        () => sn.prepare('n'),
        () => sn.view('n'),
        () => sn.commit('c', 'a'),
        () => sn.remove('a'),
        () => collect(sn.walk()),
        () => sn.cleanup(),
      ]
      if (typeof sn.open === 'function') calls.push(() => sn.open('a'))
      for (const call of calls) await rejects(call(), 'ERR_UNAVAILABLE')
      await sn.close()
      const again = await t.reopen()
      assert.equal((await again.stat('a')).kind, 'active')
    },
  },
  {
    name: 'close() during a walk ends the walk with ERR_UNAVAILABLE',
    run: async (t) => {
      const sn = await t.sn()
      for (let i = 0; i < 5; i++) await sn.prepare(`k${i}`)
      const it = sn.walk()[Symbol.asyncIterator]()
      await it.next()
      await sn.close()
      await rejects(it.next(), 'ERR_UNAVAILABLE')
    },
  },
  {
    name: 'usage() of an empty active snapshot is one inode; written bytes count as allocated blocks, hard links once',
    content: true,
    run: async (t) => {
      const sn = await t.sn()
      await sn.prepare('u')
      const empty = await sn.usage('u')
      assert.equal(empty.inodes, 1, 'an empty snapshot holds its root')
      await t.withFs(sn, 'u', async (fs) => {
        await fs.writeFile('/big', Buffer.alloc(MiB, 7))
        await fs.link('/big', '/big-link')
      })
      const full = await sn.usage('u')
      assert.equal(full.inodes, 2, 'the root and one file, however many links it has')
      assert.ok(full.size - empty.size >= MiB, `1 MiB written must show: ${full.size - empty.size} bytes`)
      assert.ok(full.size - empty.size < 1.5 * MiB, `a hard link counts once: ${full.size - empty.size} bytes`)
      await t.withFs(sn, 'u', async (fs) => {
        const fh = await fs.open('/sparse', 'w')
        await fh.write(Buffer.from('x'), 0, 1, 64 * MiB)
        await fh.close()
        assert.equal((await fs.stat('/sparse')).size, 64 * MiB + 1)
      })
      const sparse = await sn.usage('u')
      assert.ok(sparse.size - full.size < MiB, `a sparse file counts its blocks, not its length: ${sparse.size - full.size}`)
      await sn.commit('u-c', 'u')
      assert.deepStrictEqual(await sn.usage('u-c'), sparse, 'the committed figure is the one at commit')
    },
  },
  {
    name: 'remove() frees the data: nothing is left for cleanup() or check() to find',
    content: true,
    run: async (t) => {
      const sn = await t.sn()
      await sn.prepare('r-a')
      await t.withFs(sn, 'r-a', createFile('/data', Buffer.alloc(4 * MiB, 1), 0o644))
      await sn.commit('r', 'r-a')
      await sn.prepare('r-child', 'r')
      await sn.view('r-view', 'r')
      for (const k of ['r-child', 'r-view', 'r']) await sn.remove(k)
      await sn.cleanup()
      const check = (sn as Partial<import('../../core/snapshotter.js').Checkable>).check
      if (typeof check === 'function') {
        const report = await check.call(sn)
        assert.deepStrictEqual(report.orphans, [], 'no data may outlive its record')
      }
      assert.deepStrictEqual(await collect(sn.walk()), [])
    },
  },
  {
    name: 'a directory keeps its inode number across a write into it (docker#19647)',
    content: true,
    run: async (t) => {
      const sn = await t.sn()
      await sn.prepare('i-a')
      await t.withFs(sn, 'i-a', createDir('/d', 0o755))
      await sn.commit('i', 'i-a')
      await sn.prepare('i-child', 'i')
      await t.withFs(sn, 'i-child', async (fs) => {
        const before = (await fs.stat('/d')).ino
        await fs.writeFile('/d/new', 'x')
        assert.equal((await fs.stat('/d')).ino, before)
      })
    },
  },
  {
    name: 'an open file keeps its inode and sees writes made through another handle (docker#12327)',
    content: true,
    run: async (t) => {
      const sn = await t.sn()
      await sn.prepare('o-a')
      await t.withFs(sn, 'o-a', createFile('/f', 'aaaa', 0o644))
      await sn.commit('o', 'o-a')
      await sn.prepare('o-child', 'o')
      await t.withFs(sn, 'o-child', async (fs) => {
        const reader = await fs.open('/f', 'r')
        const ino = (await reader.stat()).ino
        const writer = await fs.open('/f', 'r+')
        await writer.write(Buffer.from('bb'), 0, 2, 1)
        await writer.close()
        const buf = Buffer.alloc(4)
        await reader.read(buf, 0, 4, 0)
        await reader.close()
        assert.equal(buf.toString(), 'abba')
        assert.equal((await fs.stat('/f')).ino, ino)
      })
    },
  },
  {
    name: 'a snapshot can be removed right after it is committed (docker#24309)',
    content: true,
    run: async (t) => {
      const sn = await t.sn()
      await sn.prepare('rc-a')
      await t.withFs(sn, 'rc-a', createFile('/f', 'x', 0o644))
      await sn.commit('rc', 'rc-a')
      await sn.remove('rc')
      await sn.prepare('rc-a')
      await sn.commit('rc', 'rc-a')
      assert.equal((await sn.stat('rc')).kind, 'committed')
    },
  },
  {
    name: 'chmod of a file from a lower layer is kept by the next layer (docker/machine#3327)',
    content: true,
    run: async (t) => {
      const sn = await t.sn()
      await sn.prepare('m-a')
      await t.withFs(sn, 'm-a', apply(createFile('/bin-x', '#!/bin/sh\n', 0o644), createDir('/d', 0o700)))
      await sn.commit('m', 'm-a')
      await sn.prepare('m2-a', 'm')
      await t.withFs(sn, 'm2-a', apply(chmod('/bin-x', 0o4755), chmod('/d', 0o1777)))
      await sn.commit('m2', 'm2-a')
      await sn.view('m2-v', 'm2')
      await t.withFs(sn, 'm2-v', async (fs) => {
        assert.equal((await fs.stat('/bin-x')).mode.toString(8), '4755')
        assert.equal((await fs.stat('/d')).mode.toString(8), '1777')
        assert.equal((await fs.readFile('/bin-x')).toString(), '#!/bin/sh\n')
      })
    },
  },
  {
    name: 'hard links, symlinks and special modes are carried to a child layer',
    content: true,
    run: async (t) => {
      const sn = await t.sn()
      const layer = apply(
        createDir('/usr/bin', 0o755),
        createFile('/usr/bin/tool', 'binary', 0o4755),
        link('/usr/bin/tool', '/usr/bin/alias'),
        symlink('/usr/bin/tool', '/abs-link'),
        symlink('../..', '/usr/bin/up'),
        createDir('/tmp', 0o1777),
      )
      await sn.prepare('h-a')
      await t.withFs(sn, 'h-a', layer)
      await sn.commit('h', 'h-a')
      await sn.prepare('h-child', 'h')
      const flat = await t.scratch('flat')
      await layer(flat)
      await t.withFs(sn, 'h-child', (fs) => assertSameTree(fs, flat, 'the child of a layer with links'))
    },
  },
])
