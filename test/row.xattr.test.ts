/**
 * row keeps xattrs as items of the inode and times to the nanosecond: an
 * inode written before either existed still decodes (the format version
 * stays 1), an xattr counts in usage and goes with its snapshot, and a
 * child's change leaves the parent's value as it was.
 */
import { describe, expect, it } from 'vitest'
import type { Checkable, Snapshotter } from '../index.js'
import { withOpen } from '../index.js'
import { decodeInode, encodeInode } from '../drivers/row/format.js'
import { packValue } from '../drivers/row/node.js'
import { withTempStore } from './helpers/tools.js'

describe('row xattrs and nanosecond times', () => {
  it('an inode in the layout before ns times decodes, with atime and ctime equal to its mtime', () => {
    const old = packValue([0, 0o644, 0, 0, 3, 1, 1_600_000_000_123.5, 2, 0, null, Buffer.from('abc')])
    const i = decodeInode(old)
    expect(i).toMatchObject({ type: 'file', mode: 0o644, size: 3, gen: 2 })
    expect(i.mtimeNs).toBe(1_600_000_000_123_500_000n)
    expect(i.atimeNs).toBe(i.mtimeNs)
    expect(i.ctimeNs).toBe(i.mtimeNs)
    const ns = 1_700_000_000_123_456_789n
    expect(decodeInode(encodeInode({ ...i, mtimeNs: ns, atimeNs: ns - 1n, ctimeNs: ns + 1n }))).toMatchObject({
      mtimeNs: ns,
      atimeNs: ns - 1n,
      ctimeNs: ns + 1n,
    })
  })

  it('an xattr counts in usage, a child changes its own copy, and the store checks clean after remove and cleanup', async () => {
    await withTempStore('row', async (sn: Snapshotter) => {
      await sn.prepare('a')
      await withOpen(sn, 'a', (fs) => fs.writeFile('/f', 'x'))
      const before = (await sn.usage('a')).size
      await withOpen(sn, 'a', (fs) => fs.setxattr('/f', 'user.big', Buffer.alloc(60_000, 7)))
      expect((await sn.usage('a')).size).toBeGreaterThanOrEqual(before + 60_000)
      await sn.commit('A', 'a')
      await sn.prepare('b', 'A')
      await withOpen(sn, 'b', (fs) => fs.setxattr('/f', 'user.big', Buffer.from('small')))
      await withOpen(sn, 'A', async (fs) => expect((await fs.getxattr('/f', 'user.big')).length).toBe(60_000))
      await withOpen(sn, 'b', async (fs) => expect((await fs.getxattr('/f', 'user.big')).toString()).toBe('small'))
      await sn.remove('b')
      await sn.remove('A')
      await sn.cleanup()
      const report = await (sn as unknown as Checkable).check()
      expect(report).toEqual({ orphans: [], missing: [], problems: [] })
    })
  })
})
