/**
 * Extended attributes and nanosecond times through a real layer: GNU tar
 * (`--xattrs --xattrs-include='*' --format=pax`) packs a tree holding a
 * setcap'd binary (security.capability, a 20-byte binary value), user.* on a
 * directory and a file (one value not UTF-8), a symlink with a trusted.*
 * attribute and its own time, and nanosecond mtimes. Each driver applies it,
 * must read back what the host tree holds byte for byte, export it, and the
 * export applied again must give the same tree and re-export to the same
 * DiffID.
 */
import { execFileSync } from 'node:child_process'
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { withOpen, type SnapshotFs } from '../index.js'
import { applyLayer, exportDiff } from '../layers/index.js'
import { hostGetXattr, hostListXattrs } from '../fs/hostxattr.js'
import { requireRoot, requireTool } from './helpers/index.js'
import { drivers, tempDir, withTempStore } from './helpers/tools.js'

let work: string
let src: string
let layer: Buffer

const PATHS = ['/bin', '/bin/ping', '/data', '/data/note', '/data/link']
const TIME = '1700000000.123456789'

beforeAll(async () => {
  work = await tempDir('xattr-layer')
  src = join(work, 'src')
  await mkdir(join(src, 'bin'), { recursive: true })
  await mkdir(join(src, 'data'))
  await writeFile(join(src, 'bin', 'ping'), '#!/bin/sh\necho ping\n', { mode: 0o755 })
  await writeFile(join(src, 'data', 'note'), 'hello\n')
  await symlink('note', join(src, 'data', 'link'))
  if (process.getuid?.() !== 0) return
  const x = (...args: string[]) => execFileSync(args[0], args.slice(1))
  x('setcap', 'cap_net_raw+ep', join(src, 'bin', 'ping'))
  x('setfattr', '-n', 'user.kind', '-v', 'directory', join(src, 'data'))
  x('setfattr', '-n', 'user.blob', '-v', '0x00ff80fe0a3d', join(src, 'data', 'note'))
  x('setfattr', '-h', '-n', 'trusted.link', '-v', 'mine', join(src, 'data', 'link'))
  for (const p of ['bin/ping', 'data/note', 'data', 'bin']) x('touch', '-d', `@${TIME}`, join(src, p))
  x('touch', '-h', '-d', '@1600000000.5', join(src, 'data', 'link'))
  x(
    'tar',
    '--xattrs',
    '--xattrs-include=*',
    '--format=pax',
    '--sort=name',
    '--pax-option=delete=atime,delete=ctime',
    '-C',
    src,
    '-cf',
    join(work, 'layer.tar'),
    'bin',
    'data',
  )
  layer = await readFile(join(work, 'layer.tar'))
}, 60_000)

afterAll(async () => {
  await rm(work, { recursive: true, force: true })
})

/** What the host tree holds at each path: every xattr (hex) and the mtime in ns. */
function hostView(): Record<string, { xattrs: Record<string, string>; mtimeNs: bigint }> {
  const out: Record<string, { xattrs: Record<string, string>; mtimeNs: bigint }> = {}
  for (const p of PATHS) {
    const real = join(src, p)
    const xattrs: Record<string, string> = {}
    for (const n of hostListXattrs(real).sort()) xattrs[n] = hostGetXattr(real, n)!.toString('hex')
    out[p] = { xattrs, mtimeNs: mtimeOf(real) }
  }
  return out
}

function mtimeOf(real: string): bigint {
  const [s, f] = execFileSync('stat', ['-c', '%.9Y', real]).toString().trim().split('.')
  return BigInt(s) * 1_000_000_000n + BigInt(f)
}

async function snapView(fs: SnapshotFs): Promise<Record<string, { xattrs: Record<string, string>; mtimeNs: bigint }>> {
  const out: Record<string, { xattrs: Record<string, string>; mtimeNs: bigint }> = {}
  for (const p of PATHS) {
    const xattrs: Record<string, string> = {}
    for (const n of await fs.listxattr(p)) xattrs[n] = (await fs.getxattr(p, n)).toString('hex')
    out[p] = { xattrs, mtimeNs: (await fs.lstat(p)).mtimeNs }
  }
  return out
}

async function collect(r: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const b of r) parts.push(b)
  return Buffer.concat(parts)
}

describe.each(drivers())('%s: a GNU tar layer with xattrs and ns times', (driver) => {
  it('applies byte-equal to the source tree, exports, and re-applies equal with the same DiffID', async (ctx) => {
    requireRoot(ctx, 'setcap and trusted.* xattrs')
    requireTool(ctx, 'setcap')
    requireTool(ctx, 'setfattr')
    const want = hostView()
    expect(want['/bin/ping'].xattrs['security.capability']).toHaveLength(40)
    await withTempStore(driver, async (sn) => {
      await sn.prepare('a')
      const applied = await sn.open('a').then(async (fs) => {
        try {
          const r = await applyLayer(fs, [layer])
          expect(r.dropped).toEqual({ xattrs: 0, devices: 0 })
          return await snapView(fs)
        } finally {
          await fs.close()
        }
      })
      expect(applied).toEqual(want)
      await sn.commit('A', 'a')
      const exported = await collect(exportDiff(sn, 'A'))
      await sn.prepare('b')
      const fsb = await sn.open('b')
      try {
        await applyLayer(fsb, [exported])
        expect(await snapView(fsb)).toEqual(want)
      } finally {
        await fsb.close()
      }
      await sn.commit('B', 'b')
      expect((await collect(exportDiff(sn, 'B'))).equals(exported)).toBe(true)
    })
  })

  it('an xattr-only change (setcap on an unchanged file) is in the exported layer', async (ctx) => {
    requireRoot(ctx, 'security.* xattrs')
    await withTempStore(driver, async (sn) => {
      await sn.prepare('a')
      await withOpen(sn, 'a', (fs) => applyLayer(fs, [layer]))
      await sn.commit('A', 'a')
      await sn.prepare('c', 'A')
      await withOpen(sn, 'c', (fs) => fs.setxattr('/data/note', 'user.extra', Buffer.from([1, 2, 3])))
      for (const generic of [false, true]) {
        const tar = await collect(exportDiff(sn, 'c', { generic }))
        expect(tar.includes(Buffer.from('SCHILY.xattr.user.extra='))).toBe(true)
        expect(tar.includes(Buffer.from('data/note'))).toBe(true)
        expect(tar.includes(Buffer.from('bin/ping'))).toBe(false)
      }
    })
  })
})
