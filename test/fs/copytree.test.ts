import { lstat, mkdir, mkdtemp, readFile, readlink, rm, stat, utimes, writeFile, link, symlink, chown, chmod, open } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { copyTree, copyTreeByCp, dataRuns } from '../../fs/copytree.js'
import { diskUsage } from '../../fs/diskusage.js'
import { mknodAt } from '../../fs/mknod.js'
import { requireRoot } from '../helpers/index.js'

let base: string
let src: string
let dst: string

beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'strata-copy-'))
  src = join(base, 'src')
  dst = join(base, 'dst')
  await mkdir(src)
})
afterEach(() => rm(base, { recursive: true, force: true }))

describe.each([
  ['copyTree', copyTree],
  ['copyTreeByCp', copyTreeByCp],
])('%s()', (_name, copy) => {
  it('keeps holes as holes', async () => {
    const fh = await open(join(src, 'sparse'), 'w')
    await fh.write(Buffer.from('head'), 0, 4, 0)
    await fh.write(Buffer.from('tail'), 0, 4, 64 << 20)
    await fh.close()
    await copy(src, dst)
    const st = await stat(join(dst, 'sparse'))
    expect(st.size).toBe((64 << 20) + 4)
    expect(st.blocks * 512).toBeLessThan(1 << 20)
    const bytes = await readFile(join(dst, 'sparse'))
    expect(bytes.subarray(0, 4).toString()).toBe('head')
    expect(bytes.subarray(64 << 20).toString()).toBe('tail')
  })

  it('keeps hard links, symlinks verbatim, FIFOs, modes and times (directories after their children)', async () => {
    await mkdir(join(src, 'd/e'), { recursive: true })
    await writeFile(join(src, 'd/e/f'), 'data')
    await link(join(src, 'd/e/f'), join(src, 'hard'))
    await symlink('/nowhere/at/all', join(src, 'dangling'))
    await symlink('../..', join(src, 'd/up'))
    await mknodAt(join(src, 'pipe'), 'fifo', 0o620)
    await chmod(join(src, 'd/e/f'), 0o4751)
    await chmod(join(src, 'd'), 0o1770)
    await utimes(join(src, 'd/e'), 1_000_000, 1_000_000)
    await utimes(join(src, 'd'), 2_000_000, 2_000_000)
    await copy(src, dst)
    const f = await stat(join(dst, 'd/e/f'))
    expect(f.ino).toBe((await stat(join(dst, 'hard'))).ino)
    expect(f.nlink).toBe(2)
    expect(f.mode & 0o7777).toBe(0o4751)
    expect(await readlink(join(dst, 'dangling'))).toBe('/nowhere/at/all')
    expect(await readlink(join(dst, 'd/up'))).toBe('../..')
    expect((await lstat(join(dst, 'pipe'))).isFIFO()).toBe(true)
    expect((await lstat(join(dst, 'pipe'))).mode & 0o7777).toBe(0o620)
    expect((await stat(join(dst, 'd'))).mode & 0o7777).toBe(0o1770)
    expect((await stat(join(dst, 'd/e'))).mtimeMs).toBe(1_000_000_000)
    expect((await stat(join(dst, 'd'))).mtimeMs).toBe(2_000_000_000)
  })

  it('keeps ownership', async (ctx) => {
    requireRoot(ctx, 'chown')
    await writeFile(join(src, 'owned'), 'x')
    await chown(join(src, 'owned'), 1234, 5678)
    await chmod(join(src, 'owned'), 0o6755)
    await symlink('owned', join(src, 'link'))
    await import('node:fs/promises').then((m) => m.lchown(join(src, 'link'), 42, 43))
    await copy(src, dst)
    const st = await stat(join(dst, 'owned'))
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([1234, 5678, 0o6755])
    const l = await lstat(join(dst, 'link'))
    expect([l.uid, l.gid]).toEqual([42, 43])
  })

  it('fails on a tree that cannot be read and leaves no copy', async () => {
    await expect(copy(join(base, 'missing'), dst)).rejects.toThrow()
    await expect(lstat(dst)).rejects.toMatchObject({ code: 'ENOENT' })
  })
})

describe('dataRuns()', () => {
  it('finds the non-zero 4 KiB blocks', () => {
    const buf = Buffer.alloc(5 * 4096)
    buf[4096 + 7] = 1
    buf[3 * 4096] = 1
    buf[5 * 4096 - 1] = 1
    expect(dataRuns(buf)).toEqual([
      [4096, 8192],
      [12288, 20480],
    ])
    expect(dataRuns(Buffer.alloc(100))).toEqual([])
  })
})

describe('diskUsage()', () => {
  it('counts allocated blocks and each hard-linked inode once', async () => {
    await writeFile(join(src, 'a'), Buffer.alloc(1 << 20, 1))
    await link(join(src, 'a'), join(src, 'b'))
    const u = await diskUsage(src)
    expect(u.inodes).toBe(2)
    expect(u.size).toBeGreaterThanOrEqual(1 << 20)
    expect(u.size).toBeLessThan((1 << 20) + 64 * 1024)
  })
})
