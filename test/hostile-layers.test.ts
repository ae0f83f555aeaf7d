/**
 * The hostile-layer corpus, run against every registered driver. Each case
 * unpacks one crafted layer on a committed base with `unpackLayer` (what
 * importImage does per layer) and then asserts: the outcome is the one
 * documented (a typed error with its reason, or an apply confined to the
 * snapshot), a canary directory beside the store is byte-for-byte unchanged,
 * the snapshot is committed whole or gone, and the store passes check().
 */
import { mkdtempSync } from 'node:fs'
import { mkdir, readdir, rm, writeFile, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { manifest } from '../conformance/compare.js'
import { DirFs } from '../fs/dirfs.js'
import { isLayerError, openSnapshotter, type Checkable, type LayerProblem, type SnapshotFs, type Snapshotter } from '../index.js'
import { unpackLayer } from '../image/import.js'
import { gzip, gzipBomb, tarOf, type TarEntry } from './helpers/tars.js'
import { drivers } from './helpers/tools.js'

// Made at load time: the cases name the canary's absolute path when they are collected.
const work = mkdtempSync(join(tmpdir(), 'strata-hostile-'))
const canary = join(work, 'canary')
let bomb: Buffer

beforeAll(async () => {
  await mkdir(join(canary, 'dir'), { recursive: true })
  await writeFile(join(canary, 'secret'), 'do not touch\n')
  await writeFile(join(canary, 'dir', 'file'), 'nor this\n')
  await symlink('secret', join(canary, 'link'))
  bomb = await gzipBomb(160 * 2 ** 20)
}, 60_000)

afterAll(async () => {
  await rm(work, { recursive: true, force: true })
})

type Outcome = LayerProblem | 'applied'

interface Case {
  name: string
  /** Layers applied in order; only the last one is the attack when there are several. */
  layers: () => Promise<Buffer[]>
  outcome: Outcome
  /** For applied cases: what the snapshot must hold afterwards. */
  check?: (fs: SnapshotFs) => Promise<void>
  /** A DiffID the layer must have (to test a wrong one). */
  diffId?: string
}

const file = (name: string, content = 'pwned\n'): TarEntry => ({ name, content })
const dir = (name: string): TarEntry => ({ name, type: 'directory' })
const sym = (name: string, linkname: string): TarEntry => ({ name, type: 'symlink', linkname })
const hard = (name: string, linkname: string): TarEntry => ({ name, type: 'link', linkname })
const one =
  (...entries: TarEntry[]) =>
  async () => [await tarOf(entries)]

/** Rewrites the typeflag of the header at `offset` and fixes its checksum. */
function withTypeflag(tar: Buffer, offset: number, flag: string): Buffer {
  const header = tar.subarray(offset, offset + 512)
  header[156] = flag.charCodeAt(0)
  header.fill(0x20, 148, 156)
  let sum = 0
  for (const b of header) sum += b
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1')
  return tar
}

async function expectMissing(fs: SnapshotFs, path: string): Promise<void> {
  await expect(fs.lstat(path)).rejects.toMatchObject({ code: 'ENOENT' })
}

const cases = (): Case[] => [
  { name: '`..` climbing out of the root', layers: one(file('../../canary/pwned')), outcome: 'unsafe-path' },
  { name: '`..` in the middle climbing out', layers: one(file('a/../../canary/pwned')), outcome: 'unsafe-path' },
  {
    name: 'an absolute name lands inside the snapshot',
    layers: one(file(`${canary}/pwned`)),
    outcome: 'applied',
    check: async (fs) => expect((await fs.readFile(`${canary}/pwned`)).toString()).toBe('pwned\n'),
  },
  {
    name: 'a symlink to the canary, then a file through it (same layer)',
    layers: one(sym('evil', canary), file('evil/pwned')),
    outcome: 'conflict',
  },
  {
    name: 'a relative symlink climbing out, then a file through it',
    layers: one(sym('evil', '../../../../../../../../../..' + canary), file('evil/pwned')),
    outcome: 'conflict',
  },
  {
    name: 'a symlink planted by a lower layer, written through by the next',
    layers: async () => [await tarOf([sym('evil', canary)]), await tarOf([file('evil/pwned')])],
    outcome: 'conflict',
  },
  {
    name: 'a symlinked parent directory resolves inside the snapshot',
    layers: one(sym('d', '/data'), file('d/through')),
    outcome: 'applied',
    check: async (fs) => expect((await fs.readFile('/data/through')).toString()).toBe('pwned\n'),
  },
  {
    name: 'a symlink to / then a path through it stays inside',
    layers: one(sym('root', '/'), file('root/data/via-root')),
    outcome: 'applied',
    check: async (fs) => {
      expect((await fs.readFile('/data/via-root')).toString()).toBe('pwned\n')
      expect(await fs.readlink('/root')).toBe('/')
    },
  },
  {
    name: 'a file over an existing symlink replaces the symlink, never writes through it',
    layers: async () => [await tarOf([sym('etc/passwd-link', '/etc/passwd')]), await tarOf([file('etc/passwd-link', 'new\n')])],
    outcome: 'applied',
    check: async (fs) => {
      expect((await fs.lstat('/etc/passwd-link')).type).toBe('file')
      expect((await fs.readFile('/etc/passwd')).toString()).toBe('root:x:0:0::/root:/bin/sh\n')
    },
  },
  { name: 'a hard link to a path outside', layers: one(hard('hl', '../../canary/secret')), outcome: 'unsafe-path' },
  { name: 'a hard link to an absolute host path', layers: one(hard('hl', `${canary}/secret`)), outcome: 'conflict' },
  { name: 'a hard link through a symlink to the canary', layers: one(sym('evil', canary), hard('hl', 'evil/secret')), outcome: 'conflict' },
  {
    name: 'a hard link to a lower-layer file works',
    layers: one(hard('data/keep-again', 'data/keep')),
    outcome: 'applied',
    check: async (fs) => expect((await fs.lstat('/data/keep-again')).ino).toBe((await fs.lstat('/data/keep')).ino),
  },
  { name: 'a hard link to a directory', layers: one(hard('hl', 'data')), outcome: 'conflict' },
  { name: 'a whiteout climbing out', layers: one(file('../.wh.canary', '')), outcome: 'unsafe-path' },
  {
    name: 'a whiteout through a symlink to the canary deletes nothing outside',
    layers: one(sym('evil', canary), file('evil/.wh.secret', '')),
    outcome: 'applied',
  },
  {
    name: 'an opaque marker through a symlink to the canary deletes nothing outside',
    layers: one(sym('evil', canary), file('evil/.wh..wh..opq', '')),
    outcome: 'applied',
  },
  {
    name: 'a whiteout through a symlinked parent resolves inside the snapshot',
    layers: one(sym('d', '/data'), file('d/.wh.keep', '')),
    outcome: 'applied',
    check: async (fs) => {
      await expectMissing(fs, '/data/keep')
      expect((await fs.readFile('/data/sub/x')).toString()).toBe('x\n')
    },
  },
  { name: 'a bare .wh. name', layers: one(file('data/.wh.', '')), outcome: 'bad-whiteout' },
  { name: 'a .wh.. name', layers: one(file('data/.wh..', '')), outcome: 'bad-whiteout' },
  { name: 'a path under a whiteout', layers: one(file('data/.wh.keep/x', '')), outcome: 'bad-whiteout' },
  { name: 'the same file twice', layers: one(file('twice', 'a'), file('twice', 'b')), outcome: 'duplicate' },
  { name: 'a file then a directory at one path', layers: one(file('twice'), dir('twice')), outcome: 'duplicate' },
  {
    name: 'the same directory twice is allowed (attributes merge)',
    layers: one(dir('again'), { name: 'again', type: 'directory', mode: 0o700 }),
    outcome: 'applied',
    check: async (fs) => expect((await fs.lstat('/again')).mode).toBe(0o700),
  },
  { name: 'a file under a file', layers: one(file('f'), file('f/x')), outcome: 'conflict' },
  {
    name: 'the root entry is ignored',
    layers: one({ name: './', type: 'directory', mode: 0o777, uid: 1234 }),
    outcome: 'applied',
    check: async (fs) => expect((await fs.lstat('/')).uid).toBe(0),
  },
  {
    name: 'a truncated archive',
    layers: async () => [(await tarOf([file('big', 'x'.repeat(10_000))])).subarray(0, 5000)],
    outcome: 'corrupt',
  },
  {
    name: 'a corrupt header checksum',
    layers: async () => {
      const tar = await tarOf([file('a'), file('b')])
      tar[1024 + 1] ^= 0x20 // the second header (a 512-byte header and one block of content come first)
      return [tar]
    },
    outcome: 'corrupt',
  },
  { name: 'random bytes', layers: async () => [Buffer.from('this is not a tar archive at all'.repeat(40))], outcome: 'corrupt' },
  {
    name: 'a truncated gzip stream',
    layers: async () => {
      const gz = await gzip(await tarOf([file('a', 'y'.repeat(100_000))]))
      return [gz.subarray(0, gz.length - 30)]
    },
    outcome: 'corrupt',
  },
  { name: 'zstd compression', layers: async () => [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0])], outcome: 'unsupported' },
  { name: 'a wrong DiffID', layers: one(file('ok')), outcome: 'digest-mismatch', diffId: 'sha256:' + '0'.repeat(64) },
  { name: 'a gzip bomb (160 MiB of zeros in ~160 KiB)', layers: async () => [bomb], outcome: 'too-large' },
  {
    name: 'a PAX xattr name over 255 bytes',
    layers: one({ name: 'p', pax: { [`SCHILY.xattr.user.${'n'.repeat(251)}`]: 'v' } }),
    outcome: 'too-large',
  },
  {
    name: 'a PAX xattr value over 64 KiB',
    layers: one({ name: 'p', pax: { 'SCHILY.xattr.user.big': 'x'.repeat(65537) } }),
    outcome: 'too-large',
  },
  {
    name: 'a malformed PAX record (its length runs past the header)',
    layers: async () => {
      const tar = await tarOf([file('first'), { name: 'p', pax: { 'SCHILY.xattr.user.a': 'v' } }])
      const at = tar.indexOf(Buffer.from(' SCHILY.xattr.user.a=v\n'))
      tar.write('99', at - 2, 'latin1')
      return [tar]
    },
    outcome: 'corrupt',
  },
  {
    name: 'a whiteout carrying an xattr',
    layers: one({ name: 'data/.wh.keep', pax: { 'SCHILY.xattr.user.a': '1' } }),
    outcome: 'bad-whiteout',
  },
  {
    name: 'an opaque marker carrying an xattr',
    layers: one(file('first'), { name: 'data/.wh..wh..opq', pax: { 'SCHILY.xattr.user.a': '1' } }),
    outcome: 'bad-whiteout',
  },
  {
    name: 'trusted.overlay.* in a layer is never applied, user.* is',
    layers: one({ name: 'marked', type: 'directory', pax: { 'SCHILY.xattr.trusted.overlay.opaque': 'y', 'SCHILY.xattr.user.ok': '1' } }),
    outcome: 'applied',
    check: async (fs) => expect(await fs.listxattr('/marked')).toEqual(['user.ok']),
  },
  {
    name: "a PAX header over tar-stream's 4 MiB cap",
    layers: one({ name: 'p', pax: { 'SCHILY.xattr.user.big': 'x'.repeat(5 * 2 ** 20) } }),
    outcome: 'too-large',
  },
  {
    name: 'PAX records over the 1 MiB limit',
    layers: one({ name: 'p', pax: { 'SCHILY.xattr.user.big': 'x'.repeat(2 * 2 ** 20) } }),
    outcome: 'too-large',
  },
  { name: 'a PAX path over PATH_MAX', layers: one({ name: 'p', pax: { path: 'd/'.repeat(3000) + 'f' } }), outcome: 'too-large' },
  {
    name: 'an entry type strata does not read (GNU sparse)',
    layers: async () => [withTypeflag(await tarOf([file('sparse')]), 0, 'S')],
    outcome: 'unsupported',
  },
]

async function baseSnapshot(sn: Snapshotter): Promise<void> {
  await sn.prepare('base-work')
  const fs = await sn.open('base-work')
  await fs.mkdir('/data/sub', { recursive: true })
  await fs.writeFile('/data/keep', 'keep\n')
  await fs.writeFile('/data/sub/x', 'x\n')
  await fs.mkdir('/etc')
  await fs.writeFile('/etc/passwd', 'root:x:0:0::/root:/bin/sh\n')
  await fs.close()
  await sn.commit('base', 'base-work')
}

async function names(sn: Snapshotter): Promise<string[]> {
  const out: string[] = []
  for await (const info of sn.walk()) out.push(`${info.kind}:${info.name}`)
  return out.sort()
}

async function outsideState(): Promise<string> {
  const m = await manifest(new DirFs(canary, { readOnly: true }))
  return JSON.stringify([...m.entries()]) + JSON.stringify((await readdir(work)).sort())
}

describe.each(drivers())('hostile layers with the %s driver', (driver) => {
  for (const c of cases()) {
    it(`${c.name}: ${c.outcome === 'applied' ? 'applies inside the snapshot' : `fails with ERR_INVALID_ARGUMENT (${c.outcome})`}`, async () => {
      const before = await outsideState()
      const root = join(work, `store-${driver}`)
      const sn = await openSnapshotter(driver, root)
      try {
        await baseSnapshot(sn)
        const layers = await c.layers()
        let parent = 'base'
        for (const [i, layer] of layers.entries()) {
          const last = i === layers.length - 1
          const name = last ? 'attack' : `lower-${i}`
          const expectDiff = last && c.diffId ? { expect: { diffId: c.diffId } } : {}
          const res = await unpackLayer(sn, Readable.from([layer]), { name, parent, ...expectDiff }).then(
            () => 'applied' as const,
            (e: unknown) => e,
          )
          if (!last) expect(res).toBe('applied')
          else if (c.outcome === 'applied') expect(res).toBe('applied')
          else {
            expect(isLayerError(res, c.outcome), `${String(res)}`).toBe(true)
            expect((res as { code: string }).code).toBe('ERR_INVALID_ARGUMENT')
          }
          parent = name
        }
        const want = ['committed:base', ...layers.slice(0, -1).map((_, i) => `committed:lower-${i}`)]
        if (c.outcome === 'applied') want.push('committed:attack')
        expect(await names(sn)).toEqual(want.sort())
        if (c.check) {
          const fs = await sn.open('attack')
          try {
            await c.check(fs)
          } finally {
            await fs.close()
          }
        }
        const report = await (sn as unknown as Checkable).check()
        expect(report).toEqual({ orphans: [], missing: [], problems: [] })
      } finally {
        await sn.close()
        await rm(root, { recursive: true, force: true })
      }
      expect(await outsideState()).toBe(before)
    })
  }
})
