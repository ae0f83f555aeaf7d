import { mkdtemp, mkdir, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { DirFs } from '../../fs/dirfs.js'
import { mountAll, unmount } from '../../fs/mount.js'
import { requireRoot } from '../helpers/index.js'

let base: string
let root: string
let outside: string
let fs: DirFs

beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'strata-dirfs-'))
  root = join(base, 'root')
  outside = join(base, 'outside')
  await mkdir(root)
  await mkdir(outside)
  await writeFile(join(outside, 'canary'), 'untouched')
  fs = new DirFs(root)
})

afterEach(async () => {
  await fs.close()
  await rm(base, { recursive: true, force: true })
})

const code = (c: string) => expect.objectContaining({ code: c })

async function outsideUnchanged(): Promise<void> {
  expect(await readdir(outside)).toEqual(['canary'])
  expect(await readFile(join(outside, 'canary'), 'utf8')).toBe('untouched')
  expect((await readdir(base)).sort()).toEqual(['outside', 'root'])
}

describe('DirFs path resolution stays inside the root', () => {
  it('clamps .. at the root', async () => {
    await fs.writeFile('/../../../escape', 'x')
    expect(await readFile(join(root, 'escape'), 'utf8')).toBe('x')
    await outsideUnchanged()
  })

  it('resolves an absolute symlink from the snapshot root, not the host root', async () => {
    await fs.mkdir('/etc')
    await fs.symlink(join(outside), '/abs')
    await fs.symlink('/etc', '/etc-link')
    await fs.writeFile('/etc-link/passwd', 'inside')
    expect(await readFile(join(root, 'etc/passwd'), 'utf8')).toBe('inside')
    await expect(fs.writeFile('/abs/canary', 'pwned')).rejects.toEqual(code('ENOENT'))
    await outsideUnchanged()
  })

  it('resolves a relative symlink that climbs above the root inside the root', async () => {
    await fs.mkdir('/a/b', { recursive: true })
    await fs.symlink('../../../../../outside', '/a/b/up')
    await fs.mkdir('/outside')
    await fs.writeFile('/a/b/up/canary', 'inside')
    expect(await readFile(join(root, 'outside/canary'), 'utf8')).toBe('inside')
    await outsideUnchanged()
  })

  it('never follows a host symlink planted in the tree to the outside', async () => {
    await symlink(outside, join(root, 'planted'))
    await expect(fs.readFile('/planted/canary')).rejects.toEqual(code('ENOENT'))
    await expect(fs.rm('/planted', { recursive: true })).resolves.toBeUndefined()
    await outsideUnchanged()
  })

  it('answers ELOOP for a symlink cycle and reads a chain of links', async () => {
    await fs.symlink('/b', '/a')
    await fs.symlink('/a', '/b')
    await expect(fs.stat('/a')).rejects.toEqual(code('ELOOP'))
    await fs.writeFile('/target', 'end')
    await fs.symlink('target', '/l1')
    await fs.symlink('/l1', '/l2')
    expect((await fs.readFile('/l2')).toString()).toBe('end')
    expect(await fs.readlink('/l2')).toBe('/l1')
    expect((await fs.lstat('/l2')).type).toBe('symlink')
  })

  it('names the snapshot path, never the host path, in errors', async () => {
    const err = await fs.readFile('/missing/file').catch((e: Error) => e)
    expect(err).toEqual(code('ENOENT'))
    expect((err as Error).message).toContain("'/missing/file'")
    expect((err as Error).message).not.toContain(base)
  })
})

describe('DirFs POSIX errors', () => {
  it('answers ENOTDIR, EISDIR, ENOTEMPTY, EEXIST and EINVAL where POSIX does', async () => {
    await fs.writeFile('/f', 'x')
    await fs.mkdir('/d')
    await fs.writeFile('/d/x', 'x')
    await expect(fs.writeFile('/f/child', 'x')).rejects.toEqual(code('ENOTDIR'))
    await expect(fs.readFile('/d')).rejects.toEqual(code('EISDIR'))
    await expect(fs.unlink('/d')).rejects.toEqual(code('EISDIR'))
    await expect(fs.rmdir('/d')).rejects.toEqual(code('ENOTEMPTY'))
    await expect(fs.rmdir('/f')).rejects.toEqual(code('ENOTDIR'))
    await expect(fs.mkdir('/d')).rejects.toEqual(code('EEXIST'))
    await expect(fs.open('/f', 'wx')).rejects.toEqual(code('EEXIST'))
    await expect(fs.symlink('x', '/f')).rejects.toEqual(code('EEXIST'))
    await expect(fs.rename('/d', '/d/inside')).rejects.toEqual(code('EINVAL'))
    await expect(fs.rename('/f', '/d')).rejects.toEqual(code('EISDIR'))
    await expect(fs.rename('/d', '/f')).rejects.toEqual(code('ENOTDIR'))
    await expect(fs.readlink('/f')).rejects.toEqual(code('EINVAL'))
    await expect(fs.truncate('/f', -1)).rejects.toEqual(code('EINVAL'))
    await expect(fs.chmod('/f', 0o10000)).rejects.toEqual(code('EINVAL'))
    await expect(fs.stat('bad\0path')).rejects.toEqual(code('EINVAL'))
    await expect(fs.rm('/d')).rejects.toEqual(code('EISDIR'))
    await fs.rm('/d', { recursive: true })
    await expect(fs.stat('/d')).rejects.toEqual(code('ENOENT'))
  })

  it('applies the creation mode exactly, setuid and sticky included', async () => {
    await fs.writeFile('/suid', 'x', { mode: 0o4755 })
    await fs.mkdir('/tmp', { mode: 0o1777 })
    expect((await fs.stat('/suid')).mode).toBe(0o4755)
    expect((await fs.stat('/tmp')).mode).toBe(0o1777)
    expect((await fs.stat('/')).type).toBe('dir')
  })

  it('creates FIFOs and keeps hard links as one inode', async () => {
    await fs.mknod('/fifo', 'fifo', 0o640)
    expect(await fs.lstat('/fifo')).toMatchObject({ type: 'fifo', mode: 0o640 })
    await fs.writeFile('/a', 'x')
    await fs.link('/a', '/b')
    const [a, b] = [await fs.stat('/a'), await fs.stat('/b')]
    expect(a.ino).toBe(b.ino)
    expect(a.nlink).toBe(2)
  })
})

describe('DirFs file handles', () => {
  it('reads and writes at positions, and refuses bad arguments and closed handles', async () => {
    const fh = await fs.open('/f', 'w')
    await fh.write(Buffer.from('hello'), 0, 5, 10)
    await expect(fh.write(Buffer.from('x'), 0, 2, 0)).rejects.toEqual(code('EINVAL'))
    await expect(fh.write(Buffer.from('x'), 0, 1, -1)).rejects.toEqual(code('EINVAL'))
    await expect(fh.read(Buffer.alloc(1), 0, 1, 0)).rejects.toEqual(code('EBADF'))
    await fh.close()
    await expect(fh.write(Buffer.from('x'), 0, 1, 0)).rejects.toEqual(code('EBADF'))
    const r = await fs.open('/f', 'r')
    const buf = Buffer.alloc(15)
    expect(await r.read(buf, 0, 15, 0)).toBe(15)
    expect(buf.subarray(10).toString()).toBe('hello')
    expect((await r.stat()).size).toBe(15)
    await expect(r.truncate(0)).rejects.toEqual(code('EBADF'))
    await r.close()
  })

  it('closes its open handles and refuses calls once closed', async () => {
    const fh = await fs.open('/f', 'w')
    await fs.close()
    await expect(fh.write(Buffer.from('x'), 0, 1, 0)).rejects.toEqual(code('EBADF'))
    await expect(fs.stat('/')).rejects.toEqual(code('EBADF'))
  })
})

describe('DirFs read-only', () => {
  it('answers EROFS to every change and still reads', async () => {
    await writeFile(join(root, 'f'), 'x')
    const ro = new DirFs(root, { readOnly: true })
    const calls: Array<() => Promise<unknown>> = [
      () => ro.writeFile('/g', 'x'),
      () => ro.open('/f', 'r+'),
      () => ro.open('/f', 'a'),
      () => ro.mkdir('/d'),
      () => ro.rmdir('/d'),
      () => ro.unlink('/f'),
      () => ro.rm('/f'),
      () => ro.rename('/f', '/g'),
      () => ro.symlink('x', '/l'),
      () => ro.link('/f', '/h'),
      () => ro.chmod('/f', 0o600),
      () => ro.chown('/f', 1, 1),
      () => ro.utimes('/f', 0, 0),
      () => ro.truncate('/f', 0),
      () => ro.mknod('/p', 'fifo', 0o600),
    ]
    for (const call of calls) await expect(call()).rejects.toEqual(code('EROFS'))
    expect((await ro.readFile('/f')).toString()).toBe('x')
    expect(await readdir(root)).toEqual(['f'])
    await ro.close()
  })
})

describe('DirFs rename across file systems', () => {
  it('falls back to copy-then-remove on EXDEV, as mv does', async (ctx) => {
    requireRoot(ctx, 'a bind mount of a tmpfs')
    const shm = await mkdtemp('/dev/shm/strata-exdev-')
    await mkdir(join(root, 'mnt'))
    await mountAll([{ type: 'bind', source: shm, options: ['rbind', 'rw'] }], join(root, 'mnt'))
    try {
      await fs.mkdir('/dir/sub', { recursive: true, mode: 0o750 })
      await fs.writeFile('/dir/sub/file', 'data', { mode: 0o4711 })
      await fs.symlink('/dir/sub/file', '/dir/link')
      await fs.rename('/dir', '/mnt/moved')
      await expect(fs.stat('/dir')).rejects.toEqual(code('ENOENT'))
      expect((await fs.readFile('/mnt/moved/sub/file')).toString()).toBe('data')
      expect((await fs.stat('/mnt/moved/sub/file')).mode).toBe(0o4711)
      expect((await fs.stat('/mnt/moved/sub')).mode).toBe(0o750)
      expect(await fs.readlink('/mnt/moved/link')).toBe('/dir/sub/file')
      expect((await stat(join(shm, 'moved/sub/file'))).size).toBe(4)
    } finally {
      await unmount(join(root, 'mnt'))
      await rm(shm, { recursive: true, force: true })
    }
  })
})
