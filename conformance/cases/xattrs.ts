/**
 * Extended attributes and exact times (SnapshotFs's getxattr, setxattr,
 * listxattr, removexattr, lutimes, bigint utimes): every rule as its own
 * case, through open() and through a kernel mount, where what the snapshot
 * holds is also read back with `getfattr -h`, as any program in a container
 * would see it. A driver that declares `xattrs: []` skips the xattr cases.
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { join } from 'node:path'
import { defineCases } from '../case.js'
import { assert, rejects } from '../assert.js'
import type { CaseContext } from '../context.js'
import { DirFs } from '../../fs/dirfs.js'
import type { SnapshotFs, Snapshotter } from '../../core/snapshotter.js'

/** A Linux v2 file capability: cap_net_raw+ep (what `setcap cap_net_raw+ep` writes), 20 bytes. */
export const CAP_NET_RAW_EP = Buffer.from('0100000200200000000000000000000000000000', 'hex')
const BLOB = Buffer.from([0x00, 0xff, 0x80, 0xfe, 0x0a, 0x3d])

async function xattrStore(t: CaseContext): Promise<Snapshotter> {
  const sn = await t.sn()
  if (t.capabilities(sn).xattrs?.length === 0) t.skip('the driver declares it keeps no xattrs')
  if (t.access === 'kernel' || t.capabilities(sn).xattrs === undefined) t.requireRoot('trusted.* and security.* xattrs')
  return sn
}

/** A file, a directory and a symlink to the file. */
async function tree(fs: SnapshotFs): Promise<void> {
  await fs.mkdir('/d', { mode: 0o755 })
  await fs.writeFile('/d/f', 'content\n')
  await fs.symlink('f', '/d/l')
}

const run = promisify(execFile)

/**
 * What `getfattr -h` reads at a path of a kernel mount: name → value. Never a
 * synchronous child: the mount may be served by this very process (row's FUSE).
 */
async function getfattr(fs: SnapshotFs, p: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>()
  if (!(fs instanceof DirFs)) return out
  const text = (await run('getfattr', ['-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', join(fs.root, p)])).stdout
  for (const line of text.split('\n')) {
    const m = /^([^#=][^=]*)=0x([0-9a-f]*)$/.exec(line.trim())
    if (m) out.set(m[1], Buffer.from(m[2], 'hex'))
  }
  return out
}

/** In the kernel pass, the mount shows exactly `want` at `p`. */
async function kernelShows(t: CaseContext, fs: SnapshotFs, p: string, want: Record<string, Buffer>): Promise<void> {
  if (t.access !== 'kernel') return
  const got = await getfattr(fs, p)
  assert.deepStrictEqual([...got.keys()].sort(), Object.keys(want).sort(), `getfattr -h ${p}`)
  for (const [k, v] of Object.entries(want)) assert.ok(got.get(k)?.equals(v), `getfattr -h ${p}: ${k}`)
}

export const xattrCases = defineCases('xattrs', [
  {
    name: 'setxattr() values come back byte for byte from getxattr(), listed sorted, on files, directories and a symlink itself',
    content: true,
    run: async (t) => {
      const sn = await xattrStore(t)
      await sn.prepare('a')
      await t.withFs(sn, 'a', async (fs) => {
        await tree(fs)
        await fs.setxattr('/d/f', 'security.capability', CAP_NET_RAW_EP)
        await fs.setxattr('/d/f', 'user.blob', BLOB)
        await fs.setxattr('/d', 'user.kind', Buffer.from('directory'))
        await fs.setxattr('/d/l', 'trusted.own', Buffer.from('link'))
        await fs.setxattr('/d/f', 'user.empty', Buffer.alloc(0))
        assert.ok((await fs.getxattr('/d/f', 'security.capability')).equals(CAP_NET_RAW_EP))
        assert.ok((await fs.getxattr('/d/f', 'user.blob')).equals(BLOB))
        assert.equal((await fs.getxattr('/d/f', 'user.empty')).length, 0)
        assert.deepStrictEqual(await fs.listxattr('/d/f'), ['security.capability', 'user.blob', 'user.empty'])
        assert.deepStrictEqual(await fs.listxattr('/d'), ['user.kind'])
        assert.deepStrictEqual(await fs.listxattr('/d/l'), ['trusted.own'], "a symlink lists its own attributes, not its target's")
        await kernelShows(t, fs, '/d/f', { 'security.capability': CAP_NET_RAW_EP, 'user.blob': BLOB, 'user.empty': Buffer.alloc(0) })
        await kernelShows(t, fs, '/d/l', { 'trusted.own': Buffer.from('link') })
        await fs.removexattr('/d/f', 'user.blob')
        assert.deepStrictEqual(await fs.listxattr('/d/f'), ['security.capability', 'user.empty'])
      })
    },
  },
  {
    name: 'a missing xattr is ENODATA; create over an existing one is EEXIST; replace of a missing one is ENODATA',
    content: true,
    run: async (t) => {
      const sn = await xattrStore(t)
      await sn.prepare('a')
      await t.withFs(sn, 'a', async (fs) => {
        await tree(fs)
        await rejects(fs.getxattr('/d/f', 'user.none'), 'ENODATA')
        await rejects(fs.removexattr('/d/f', 'user.none'), 'ENODATA')
        await rejects(fs.setxattr('/d/f', 'user.none', Buffer.from('x'), 'replace'), 'ENODATA')
        await fs.setxattr('/d/f', 'user.a', Buffer.from('1'), 'create')
        await rejects(fs.setxattr('/d/f', 'user.a', Buffer.from('2'), 'create'), 'EEXIST')
        await fs.setxattr('/d/f', 'user.a', Buffer.from('3'), 'replace')
        assert.equal((await fs.getxattr('/d/f', 'user.a')).toString(), '3')
        await rejects(fs.getxattr('/nope', 'user.a'), 'ENOENT')
      })
    },
  },
  {
    name: 'names outside user., trusted., security. and overlayfs markers are EOPNOTSUPP; long names ERANGE; large values E2BIG',
    content: true,
    run: async (t) => {
      const sn = await xattrStore(t)
      await sn.prepare('a')
      await t.withFs(sn, 'a', async (fs) => {
        await tree(fs)
        for (const name of ['system.posix_acl_access', 'other.x', 'user.', 'nodot', 'trusted.overlay.opaque']) {
          await rejects(fs.setxattr('/d', name, Buffer.from('y')), 'EOPNOTSUPP')
          await rejects(fs.getxattr('/d', name), 'EOPNOTSUPP')
        }
        await rejects(fs.setxattr('/d/f', `user.${'n'.repeat(251)}`, Buffer.from('v')), 'ERANGE')
        await fs.setxattr('/d/f', `user.${'n'.repeat(250)}`, Buffer.from('v'))
        await rejects(fs.setxattr('/d/f', 'user.big', Buffer.alloc(65537)), 'E2BIG')
        assert.deepStrictEqual(await fs.listxattr('/d/f'), [`user.${'n'.repeat(250)}`])
        assert.deepStrictEqual(await fs.listxattr('/d'), [], 'overlayfs markers are never listed')
      })
    },
  },
  {
    name: 'user.* on a symlink or a device: setxattr() is EPERM and getxattr() ENODATA, as Linux rules',
    content: true,
    run: async (t) => {
      const sn = await xattrStore(t)
      await sn.prepare('a')
      await t.withFs(sn, 'a', async (fs) => {
        await tree(fs)
        await fs.mknod('/fifo', 'fifo', 0o644)
        for (const p of ['/d/l', '/fifo']) {
          await rejects(fs.setxattr(p, 'user.x', Buffer.from('1')), 'EPERM')
          await rejects(fs.getxattr(p, 'user.x'), 'ENODATA')
        }
        assert.deepStrictEqual(await fs.listxattr('/d/f'), [], "the symlink's target gained nothing")
      })
    },
  },
  {
    name: 'xattrs of a committed parent are read-only (EROFS) and carried to a child, whose changes leave the parent as it was',
    content: true,
    run: async (t) => {
      const sn = await xattrStore(t)
      await sn.prepare('a')
      await t.withFs(sn, 'a', async (fs) => {
        await tree(fs)
        await fs.setxattr('/d/f', 'security.capability', CAP_NET_RAW_EP)
        await fs.setxattr('/d', 'user.kind', Buffer.from('parent'))
      })
      await sn.commit('base', 'a')
      await sn.view('v', 'base')
      await t.withFs(sn, 'v', async (fs) => {
        await rejects(fs.setxattr('/d', 'user.kind', Buffer.from('x')), 'EROFS')
        await rejects(fs.removexattr('/d', 'user.kind'), 'EROFS')
        assert.equal((await fs.getxattr('/d', 'user.kind')).toString(), 'parent')
      })
      await sn.prepare('child', 'base')
      await t.withFs(sn, 'child', async (fs) => {
        assert.ok((await fs.getxattr('/d/f', 'security.capability')).equals(CAP_NET_RAW_EP))
        await fs.setxattr('/d', 'user.kind', Buffer.from('child'))
        await fs.removexattr('/d/f', 'security.capability')
        await kernelShows(t, fs, '/d', { 'user.kind': Buffer.from('child') })
        await kernelShows(t, fs, '/d/f', {})
      })
      await t.withFs(sn, 'v', async (fs) => {
        assert.equal((await fs.getxattr('/d', 'user.kind')).toString(), 'parent')
        assert.ok((await fs.getxattr('/d/f', 'security.capability')).equals(CAP_NET_RAW_EP))
        await kernelShows(t, fs, '/d/f', { 'security.capability': CAP_NET_RAW_EP })
      })
    },
  },
  {
    name: 'utimes() with bigint nanoseconds is exact; lutimes() sets a symlink its own time and leaves the target',
    content: true,
    run: async (t) => {
      const sn = await t.sn()
      await sn.prepare('a')
      await t.withFs(sn, 'a', async (fs) => {
        await tree(fs)
        const ns = 1_700_000_000_123_456_789n
        await fs.utimes('/d/f', ns, ns)
        const st = await fs.stat('/d/f')
        assert.equal(st.mtimeNs, ns)
        assert.ok(Math.abs(st.mtimeMs - 1_700_000_000_123.4568) < 0.001, 'mtimeMs is mtimeNs in milliseconds')
        await fs.lutimes('/d/l', 1_600_000_000_500_000_000n, 1_600_000_000_500_000_000n)
        assert.equal((await fs.lstat('/d/l')).mtimeNs, 1_600_000_000_500_000_000n)
        assert.equal((await fs.stat('/d/l')).mtimeNs, ns, 'the target keeps its time')
        await fs.utimes('/d/f', 1000, 2000)
        assert.equal((await fs.stat('/d/f')).mtimeNs, 2_000_000_000n, 'a number is milliseconds, as before')
        await rejects(fs.lutimes('/d/l', Number.NaN, 0), 'EINVAL')
      })
    },
  },
])
