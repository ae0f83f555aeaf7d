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
import { rm } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { withOpen, type SnapshotFs } from '../index.js'
import { applyLayer, exportDiff } from '../layers/index.js'
import { hasTool, isRoot, requireRoot, requireTool } from './helpers/index.js'
import { drivers, tempDir, withTempStore } from './helpers/tools.js'
import { buildXattrLayer, hostTreeView, XATTR_PATHS, type TreeView } from './helpers/xattrlayer.js'

let work: string
let src: string
let layer: Buffer

beforeAll(async () => {
  work = await tempDir('xattr-layer')
  if (!isRoot || !hasTool('setcap') || !hasTool('setfattr')) return
  ;({ src, tar: layer } = await buildXattrLayer(work))
}, 60_000)

afterAll(async () => {
  await rm(work, { recursive: true, force: true })
})

async function snapView(fs: SnapshotFs): Promise<TreeView> {
  const out: TreeView = {}
  for (const p of XATTR_PATHS) {
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
    const want = hostTreeView(src)
    expect(want['/opt/cap/ping'].xattrs['security.capability']).toHaveLength(40)
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
      await withOpen(sn, 'c', (fs) => fs.setxattr('/opt/data/note', 'user.extra', Buffer.from([1, 2, 3])))
      for (const generic of [false, true]) {
        const tar = await collect(exportDiff(sn, 'c', { generic }))
        expect(tar.includes(Buffer.from('SCHILY.xattr.user.extra='))).toBe(true)
        expect(tar.includes(Buffer.from('opt/data/note'))).toBe(true)
        expect(tar.includes(Buffer.from('opt/cap/ping'))).toBe(false)
      }
    })
  })
})
