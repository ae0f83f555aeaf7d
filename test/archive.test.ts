/**
 * Layer rules, apply, export and round trips. Pure rules are checked against
 * fixed tables (and the image-spec's ChainID vectors); apply and export run
 * against every registered driver through its SnapshotFs.
 */
import { encodePax } from '../layers/pax.js'
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { assertSameTree } from '../conformance/compare.js'
import { cleanEntryPath, entryOp } from '../layers/entry.js'
import {
  applyLayer,
  chainIds,
  EMPTY_LAYER_DIFF_ID,
  exportDiff,
  imagesOf,
  isLayerError,
  sha256Digest,
  type Change,
  type ChangeLister,
  type Snapshotter,
} from '../index.js'
import { diffTrees } from '../layers/treediff.js'
import { gzip, tarOf, type TarEntry } from './helpers/tars.js'
import { drivers, withTempStore } from './helpers/tools.js'
import { withOpen } from '../fs/open.js'

const A = 'sha256:c6f988f4874bb0add23a778f753c65efe992244e148a1d2ec2a8b664fb66bbd1'
const B = 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef'

describe('digests and pure rules', () => {
  it('chainIds follow the image-spec vectors (A, A|B, A|B|B)', () => {
    expect(chainIds([A, B, B])).toEqual([
      A,
      'sha256:c3191d32a37d7159b2e30830937d2e30268ad6c375a773a8994911a3aba9b93f',
      'sha256:b3f2677e2ce27278b9d7cab94db2e384b4bc04278000f97c62830f0707f3a865',
    ])
  })

  it('the empty layer is 1024 zero bytes', () => {
    expect(sha256Digest(Buffer.alloc(1024))).toBe(EMPTY_LAYER_DIFF_ID)
  })

  it.each([
    ['a/b', '/a/b'],
    ['./a/./b/', '/a/b'],
    ['/abs/path', '/abs/path'],
    ['a/../b', '/b'],
    ['./', '/'],
    ['//x//y', '/x/y'],
  ])('cleanEntryPath(%j) is %j', (name, want) => {
    expect(cleanEntryPath(name)).toBe(want)
  })

  it.each(['..', '../x', 'a/../../x', '/..', ''])('cleanEntryPath(%j) fails with unsafe-path', (name) => {
    expect(() => cleanEntryPath(name)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', reason: 'unsafe-path' }))
  })

  it('whiteout names map to whiteout, opaque and skip operations', () => {
    const op = (name: string) => entryOp({ name, type: 'file', size: 0 })
    expect(op('etc/.wh.passwd')).toEqual({ kind: 'whiteout', path: '/etc/passwd' })
    expect(op('etc/.wh..wh..opq')).toEqual({ kind: 'opaque', path: '/etc' })
    expect(op('.wh..wh.plnk/123')).toMatchObject({ kind: 'skip' })
    expect(op('.wh..wh.aufs')).toMatchObject({ kind: 'skip' })
    for (const bad of ['x/.wh.', 'x/.wh..', 'x/.wh...', 'x/.wh.y/z'])
      expect(() => op(bad)).toThrow(expect.objectContaining({ reason: 'bad-whiteout' }))
  })

  it('PAX records carry nanosecond mtimes, large owners and binary xattr values', () => {
    const cap = Buffer.from('0100000200200000000000000000000000000000', 'hex')
    const op = entryOp({
      paxRaw: encodePax([
        ['mtime', Buffer.from('1600000000.25')],
        ['SCHILY.xattr.security.capability', cap],
      ]),
      name: 'f',
      type: 'file',
      mode: 0o104755,
      uid: 1,
      gid: 2,
      mtime: new Date(5000),
      pax: { mtime: '1600000000.25', uid: '3000000', gid: '4000000', 'SCHILY.xattr.security.capability': 'x' },
    })
    expect(op).toMatchObject({
      kind: 'file',
      mode: 0o4755,
      uid: 3000000,
      gid: 4000000,
      mtimeNs: 1_600_000_000_250_000_000n,
      xattrs: new Map([['security.capability', cap]]),
    })
  })
})

/** prepare → apply every tar in turn (each committed) → the names of the layers. */
async function layers(sn: Snapshotter, tars: Buffer[]): Promise<string[]> {
  const names: string[] = []
  for (const [i, tar] of tars.entries()) {
    await sn.prepare(`l${i}-work`, names.at(-1))
    await withOpen(sn, `l${i}-work`, (fs) => applyLayer(fs, [tar]))
    await sn.commit(`l${i}`, `l${i}-work`)
    names.push(`l${i}`)
  }
  return names
}

async function exported(sn: Snapshotter, key: string, opts = {}): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of exportDiff(sn, key, opts)) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

const T = new Date(1_600_000_000_000)
const everyKind: TarEntry[] = [
  { name: 'bin/', type: 'directory', mode: 0o755 },
  { name: 'bin/tool', content: 'tool\n', mode: 0o4755 },
  { name: 'bin/group-tool', content: 'g\n', mode: 0o2711, gid: 42 },
  { name: 'bin/hard', type: 'link', linkname: 'bin/tool' },
  { name: 'bin/abs', type: 'symlink', linkname: '/bin/tool' },
  { name: 'bin/rel', type: 'symlink', linkname: 'tool', uid: 7, gid: 8 },
  { name: 'dev/', type: 'directory' },
  { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
  { name: 'dev/loop0', type: 'block-device', devmajor: 7, devminor: 0, mode: 0o660 },
  { name: 'run/fifo', type: 'fifo', mode: 0o620 },
  { name: 'tmp/', type: 'directory', mode: 0o1777 },
  { name: 'home/user/', type: 'directory', mode: 0o750, uid: 1000, gid: 1000, mtime: new Date(1_500_000_000_000) },
  { name: 'home/user/.profile', content: 'export A=1\n', uid: 1000, gid: 1000, mode: 0o600 },
  { name: 'etc/hosts', content: 'mydomain 10.0.0.1\n', pax: { mtime: '1600000000.5' } },
]

describe.each(drivers())('applyLayer with the %s driver', (driver) => {
  it('applies every entry type with modes, owners, links and times, plain and gzip alike', async () => {
    await withTempStore(driver, async (sn) => {
      const tar = await tarOf(everyKind)
      await sn.prepare('plain')
      const res = await withOpen(sn, 'plain', async (fs) => {
        const r = await applyLayer(fs, Readable.from([tar]))
        const st = await fs.lstat('/bin/tool')
        expect(st).toMatchObject({ type: 'file', mode: 0o4755, nlink: 2 })
        expect((await fs.lstat('/bin/hard')).ino).toBe(st.ino)
        expect(await fs.lstat('/bin/group-tool')).toMatchObject({ mode: 0o2711, gid: 42 })
        expect(await fs.readlink('/bin/abs')).toBe('/bin/tool')
        expect(await fs.lstat('/bin/rel')).toMatchObject({ type: 'symlink', uid: 7, gid: 8 })
        expect(await fs.lstat('/dev/null')).toMatchObject({ type: 'char', mode: 0o666 })
        expect(await fs.lstat('/dev/loop0')).toMatchObject({ type: 'block', mode: 0o660 })
        expect(await fs.lstat('/run/fifo')).toMatchObject({ type: 'fifo', mode: 0o620 })
        expect(await fs.lstat('/run')).toMatchObject({ type: 'dir', mode: 0o755, uid: 0 })
        expect(await fs.lstat('/tmp')).toMatchObject({ mode: 0o1777 })
        expect(await fs.lstat('/home/user')).toMatchObject({ mode: 0o750, uid: 1000, mtimeMs: 1_500_000_000_000 })
        expect((await fs.lstat('/etc/hosts')).mtimeMs).toBe(1_600_000_000_500)
        return r
      })
      expect(res.diffId).toBe(sha256Digest(tar))
      expect(res.size).toBe(tar.length)
      await sn.prepare('gzip')
      const zipped = await gzip(tar)
      const gz = await withOpen(sn, 'gzip', (fs) => applyLayer(fs, [zipped]))
      expect(gz.diffId).toBe(res.diffId)
      await withOpen(sn, 'plain', async (a) => withOpen(sn, 'gzip', (b) => assertSameTree(b, a, 'gzip apply')))
    })
  })

  it('whiteouts and opaque markers hide only lower entries, wherever they stand', async () => {
    await withTempStore(driver, async (sn) => {
      const [base] = await layers(sn, [
        await tarOf([
          { name: 'a/', type: 'directory' },
          { name: 'a/old' },
          { name: 'a/sub/deep', content: 'd' },
          { name: 'b/', type: 'directory' },
          { name: 'b/old' },
          { name: 'c', content: 'c' },
          { name: 'd/x' },
          { name: 'e/', type: 'directory', mode: 0o700 },
          { name: 'e/kept', content: 'kept' },
        ]),
      ])
      await sn.prepare('top', base)
      await withOpen(sn, 'top', async (fs) => {
        await applyLayer(fs, [
          await tarOf([
            { name: 'a/new', content: 'new' }, // before the marker: survives it
            { name: 'a/sub/', type: 'directory' }, // this layer's dir; its lower contents still go
            { name: 'a/.wh..wh..opq' },
            { name: 'b/.wh.old' },
            { name: 'b/old2' },
            { name: 'c2', content: 'own' },
            { name: '.wh.c2' }, // a whiteout never hides its own layer
            { name: 'd', content: 'file over dir' },
            { name: 'e/', type: 'directory', mode: 0o711, uid: 5 }, // dir over dir: attributes only
          ]),
        ])
        expect(await fs.readdir('/a')).toEqual(['new', 'sub'])
        expect(await fs.readdir('/a/sub')).toEqual([])
        expect(await fs.readdir('/b')).toEqual(['old2'])
        expect((await fs.readFile('/c2')).toString()).toBe('own')
        expect((await fs.readFile('/d')).toString()).toBe('file over dir')
        expect(await fs.readdir('/e')).toEqual(['kept'])
        expect(await fs.lstat('/e')).toMatchObject({ mode: 0o711, uid: 5 })
      })
    })
  })

  it('an empty layer has the empty DiffID and changes nothing', async () => {
    await withTempStore(driver, async (sn) => {
      await sn.prepare('x')
      const res = await withOpen(sn, 'x', (fs) => applyLayer(fs, [Buffer.alloc(1024)]))
      expect(res).toMatchObject({ diffId: EMPTY_LAYER_DIFF_ID, size: 1024, entries: 0 })
    })
  })

  it('a file bigger than the heap budget streams through (64 MiB, never held whole)', async () => {
    await withTempStore(driver, async (sn) => {
      const size = 64 * 2 ** 20
      const chunk = Buffer.alloc(1 << 20, 7)
      async function* tar(): AsyncGenerator<Buffer> {
        const header = await tarOf([{ name: 'big', content: '' }])
        const h = Buffer.from(header.subarray(0, 512))
        h.write(size.toString(8).padStart(11, '0') + '\0', 124, 'latin1')
        h.fill(0x20, 148, 156)
        let sum = 0
        for (const b of h) sum += b
        h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1')
        yield h
        for (let i = 0; i < size / chunk.length; i++) yield chunk
        yield Buffer.alloc(1024)
      }
      await sn.prepare('x')
      const before = process.memoryUsage()
      const res = await withOpen(sn, 'x', (fs) => applyLayer(fs, tar()))
      const after = process.memoryUsage()
      expect(res.size).toBe(size + 512 + 1024)
      expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(32 * 2 ** 20)
      await withOpen(sn, 'x', async (fs) => expect((await fs.lstat('/big')).size).toBe(size))
    })
  }, 60_000)
})

/** Applies the export of `key` on a fresh child of its parent and compares it with `key`. */
async function expectRoundTrip(sn: Snapshotter, key: string, parent: string | undefined, tar: Buffer): Promise<void> {
  const copy = `${key}-copy-${createHash('sha1').update(tar).digest('hex').slice(0, 8)}`
  await sn.prepare(copy, parent)
  await withOpen(sn, copy, (fs) => applyLayer(fs, [tar]))
  await withOpen(sn, copy, async (a) => withOpen(sn, key, (b) => assertSameTree(a, b, `${key} applied from its export`)))
  await sn.remove(copy)
}

describe.each(drivers())('exportDiff with the %s driver', (driver) => {
  it('round-trips every kind of change, and is byte-for-byte deterministic', async () => {
    await withTempStore(driver, async (sn) => {
      const [base] = await layers(sn, [
        await tarOf([...everyKind, { name: 'gone/', type: 'directory' }, { name: 'gone/f' }, { name: 'keep', content: 'k' }]),
      ])
      expect(await exported(sn, base)).toEqual(await exported(sn, base))
      await expectRoundTrip(sn, base, undefined, await exported(sn, base))
      await sn.prepare('ctr', base)
      await withOpen(sn, 'ctr', async (fs) => {
        await fs.rm('/gone', { recursive: true })
        await fs.writeFile('/keep', 'K')
        await fs.chown('/home/user/.profile', 0, 0)
        await fs.chmod('/tmp', 0o1775)
        await fs.link('/keep', '/keep-link')
        await fs.link('/bin/tool', '/bin/tool-3')
        await fs.unlink('/bin/abs')
        await fs.symlink('/elsewhere', '/bin/abs')
        await fs.rm('/dev/loop0')
        await fs.mknod('/dev/zero', 'char', 0o666, 0x105)
        await fs.mkdir('/new/deeper', { recursive: true })
        await fs.writeFile('/new/deeper/f', 'f', { mode: 0o640 })
      })
      const tar = await exported(sn, 'ctr')
      expect(await exported(sn, 'ctr')).toEqual(tar)
      await expectRoundTrip(sn, 'ctr', base, tar)
    })
  })

  it('finds a same-size rewrite inside the same second (containerd LayerFileupdate, docker #21555)', async () => {
    await withTempStore(driver, async (sn) => {
      const [base] = await layers(sn, [
        await tarOf([
          { name: 'etc/hosts', content: 'mydomain 10.0.0.1', mtime: T },
          { name: 'etc/profile', content: 'PATH=/usr/bin', mtime: T },
        ]),
      ])
      await sn.prepare('ctr', base)
      await withOpen(sn, 'ctr', async (fs) => {
        await fs.writeFile('/etc/hosts', 'mydomain 10.0.0.2')
        await fs.utimes('/etc/hosts', T.getTime(), T.getTime())
        await fs.utimes('/etc/profile', T.getTime(), T.getTime())
      })
      const changes: Change[] = []
      const upper = await sn.open('ctr')
      const lower = await sn.open(base)
      for await (const c of diffTrees(lower, upper)) changes.push(c)
      await upper.close()
      await lower.close()
      expect(changes).toEqual([
        { path: '/etc', kind: 'modify' },
        { path: '/etc/hosts', kind: 'modify' },
      ])
      await expectRoundTrip(sn, 'ctr', base, await exported(sn, 'ctr'))
    })
  })

  it("the driver's own changes() and the generic comparison export the same tree", async (ctx) => {
    await withTempStore(driver, async (sn) => {
      if (typeof (sn as Partial<ChangeLister>).changes !== 'function') ctx.skip('the driver lists no changes of its own')
      const [base] = await layers(sn, [await tarOf([...everyKind, { name: 'lib/', type: 'directory' }, { name: 'lib/hidden' }])])
      await sn.prepare('ctr', base)
      await withOpen(sn, 'ctr', async (fs) => {
        await fs.rm('/lib', { recursive: true })
        await fs.mkdir('/lib')
        await fs.writeFile('/lib/not-hidden', 'n')
        await fs.writeFile('/etc/hosts', 'changed')
        await fs.rm('/bin/rel')
      })
      await expectRoundTrip(sn, 'ctr', base, await exported(sn, 'ctr'))
      await expectRoundTrip(sn, 'ctr', base, await exported(sn, 'ctr', { generic: true }))
    })
  })

  it('exportDiff of a missing key fails with ERR_NOT_FOUND', async () => {
    await withTempStore(driver, async (sn) => {
      await expect(exported(sn, 'nope')).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' })
    })
  })
})

describe('applyLayer input errors', () => {
  it('a ratio limit stops a stream that expands too much', async () => {
    await withTempStore(drivers()[0], async (sn) => {
      await sn.prepare('x')
      const tar = await gzip(await tarOf([{ name: 'z', content: Buffer.alloc(4 << 20) }]))
      const err = await withOpen(sn, 'x', (fs) => applyLayer(fs, [tar], { maxRatio: 10, ratioAfterBytes: 1 << 20 })).catch(
        (e: unknown) => e,
      )
      expect(isLayerError(err, 'too-large')).toBe(true)
      const err2 = await withOpen(sn, 'x', (fs) => applyLayer(fs, [tar], { maxBytes: 1 << 20 })).catch((e: unknown) => e)
      expect(isLayerError(err2, 'too-large')).toBe(true)
    })
  })
})

describe('the image store fallback', () => {
  it('imagesOf keeps images in labels of the top layer for a snapshotter without the images extension', async () => {
    await withTempStore(drivers()[0], async (backed) => {
      // Every Snapshotter call, but not the images extension: what a third-party snapshotter offers.
      const sn = new Proxy(backed, {
        get: (t, k) => {
          if (k === 'extension') return undefined
          const v: unknown = Reflect.get(t, k, t)
          return typeof v === 'function' ? v.bind(t) : v
        },
      }) as Snapshotter
      expect((sn as { extension?: unknown }).extension).toBeUndefined()
      const [top] = await layers(sn, [await tarOf([{ name: 'f' }])])
      const store = imagesOf(sn)
      await store.put({ name: 'busybox:1', configDigest: A, config: { big: 'dropped' }, diffIds: [A], chainId: top, created: 1 })
      expect(await store.list()).toEqual([{ name: 'busybox:1', configDigest: A, diffIds: [A], chainId: top, created: 1 }])
      expect(Object.keys((await sn.stat(top)).labels)).toEqual(['strata.io/image.busybox:1'])
      await store.delete('busybox:1')
      expect(await store.list()).toEqual([])
      await expect(store.delete('busybox:1')).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' })
    })
  })
})
