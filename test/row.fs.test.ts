/**
 * The row driver's SnapshotFs: file data at odd offsets, holes, truncation,
 * renames of whole directories, hard links across copy-on-write, and every
 * kind of bad input the issue names, each a clear error that changes nothing.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { diffManifests, manifest } from '../conformance/compare.js'
import { prng } from '../conformance/crash-model.js'
import type { SnapshotFs, Snapshotter } from '../core/snapshotter.js'
import { createRowSnapshotter, type RowOptions } from '../drivers/row/index.js'

let dir: string
let sn: Snapshotter
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-row-fs-'))
})
afterEach(async () => {
  await sn?.close()
  await rm(dir, { recursive: true, force: true })
})

const code = (c: string) => expect.objectContaining({ code: c })
const KiB = 1024

async function active(opts: RowOptions = { blockSize: 4096 }): Promise<SnapshotFs> {
  sn = await createRowSnapshotter(join(dir, 'root'), opts)
  await sn.prepare('a')
  return sn.open('a')
}

/** Commits `a` as `base` and opens a child of it. */
async function child(fs: SnapshotFs, key = 'child'): Promise<SnapshotFs> {
  await fs.close()
  await sn.commit('base', 'a')
  await sn.prepare(key, 'base')
  return sn.open(key)
}

async function pread(fs: SnapshotFs, p: string, len: number, pos: number): Promise<Buffer> {
  const fh = await fs.open(p, 'r')
  try {
    const buf = Buffer.alloc(len, 0xee)
    const n = await fh.read(buf, 0, len, pos)
    return buf.subarray(0, n)
  } finally {
    await fh.close()
  }
}

async function pwrite(fs: SnapshotFs, p: string, data: Buffer, pos: number): Promise<void> {
  const fh = await fs.open(p, 'r+')
  try {
    expect(await fh.write(data, 0, data.length, pos)).toBe(data.length)
  } finally {
    await fh.close()
  }
}

describe('row file data', () => {
  it('partial reads and writes at odd offsets across block boundaries match a reference buffer', async () => {
    const fs = await active({ blockSize: 4096, inlineBytes: 100 })
    const rand = prng(7)
    let model = Buffer.alloc(0)
    await fs.writeFile('/f', '')
    for (let i = 0; i < 200; i++) {
      const pos = Math.floor(rand() * 30_000)
      const data = Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 9000) }, () => Math.floor(rand() * 256)))
      await pwrite(fs, '/f', data, pos)
      if (model.length < pos + data.length) model = Buffer.concat([model, Buffer.alloc(pos + data.length - model.length)])
      data.copy(model, pos)
      const rpos = Math.floor(rand() * (model.length + 100))
      const rlen = Math.floor(rand() * 10_000)
      expect((await pread(fs, '/f', rlen, rpos)).equals(model.subarray(rpos, rpos + rlen)), `read ${rlen}@${rpos}`).toBe(true)
    }
    expect((await fs.readFile('/f')).equals(model)).toBe(true)
    expect((await fs.stat('/f')).size).toBe(model.length)
  })

  it('a sparse file stores no blocks for its holes and reads them as zeros', async () => {
    const fs = await active({ blockSize: 64 * KiB })
    const empty = await sn.usage('a')
    const fh = await fs.open('/sparse', 'w')
    await fh.write(Buffer.from('x'), 0, 1, 64 * 1024 * 1024)
    await fh.close()
    expect((await fs.stat('/sparse')).size).toBe(64 * 1024 * 1024 + 1)
    const grown = (await sn.usage('a')).size - empty.size
    // One 1-byte block and a few small nodes, not 64 MiB.
    expect(grown).toBeLessThan(16 * KiB)
    expect((await pread(fs, '/sparse', 8, 64 * 1024 * 1024 - 4)).equals(Buffer.from([0, 0, 0, 0, 0x78]))).toBe(true)
    expect((await pread(fs, '/sparse', 100, 12345)).equals(Buffer.alloc(100))).toBe(true)
  })

  it('truncate down then up reads zeros where the file was cut, inside a block and across blocks', async () => {
    const fs = await active({ blockSize: 4096, inlineBytes: 100 })
    const data = Buffer.alloc(20_000, 0xab)
    for (const [down, up] of [
      [10_000, 20_000],
      [4096, 9000],
      [50, 5000],
      [0, 300],
      [4097, 4200],
    ]) {
      await fs.writeFile('/t', data)
      await fs.truncate('/t', down)
      expect((await fs.readFile('/t')).equals(data.subarray(0, down))).toBe(true)
      await fs.truncate('/t', up)
      const want = Buffer.concat([data.subarray(0, down), Buffer.alloc(up - down)])
      expect((await fs.readFile('/t')).equals(want), `down ${down}, up ${up}`).toBe(true)
    }
    const fh = await fs.open('/t', 'r+')
    await fh.truncate(3)
    expect((await fh.stat()).size).toBe(3)
    await fh.close()
  })

  it('append mode writes at the end whatever the position', async () => {
    const fs = await active()
    await fs.writeFile('/log', 'one\n')
    const fh = await fs.open('/log', 'a')
    await fh.write(Buffer.from('two\n'), 0, 4, 0)
    await fh.close()
    expect((await fs.readFile('/log')).toString()).toBe('one\ntwo\n')
  })

  it('a write to a shared block in a child redirects that block only; the parent keeps its bytes', async () => {
    let fs = await active({ blockSize: 4096 })
    const data = Buffer.alloc(64 * 4096, 1)
    await fs.writeFile('/big', data)
    fs = await child(fs)
    const before = await sn.usage('child')
    await pwrite(fs, '/big', Buffer.from('!'), 5 * 4096 + 17)
    const after = await sn.usage('child')
    // One 4 KiB block and the copied path of a few small nodes.
    expect(after.size - before.size).toBeGreaterThanOrEqual(4096)
    expect(after.size - before.size).toBeLessThan(4096 + 16 * KiB)
    const mine = await fs.readFile('/big')
    expect(mine[5 * 4096 + 17]).toBe(0x21)
    expect(mine.subarray(0, 5 * 4096 + 17).equals(data.subarray(0, 5 * 4096 + 17))).toBe(true)
    const parent = await sn.open('base')
    expect((await parent.readFile('/big')).equals(data)).toBe(true)
    await parent.close()
    await fs.close()
  })
})

describe('row names', () => {
  it('rename moves whole directories across directories and keeps their contents and inode numbers', async () => {
    let fs = await active()
    await fs.mkdir('/a/b/c', { recursive: true })
    await fs.writeFile('/a/b/c/f', 'deep')
    await fs.mkdir('/z')
    fs = await child(fs)
    const ino = (await fs.stat('/a/b')).ino
    await fs.rename('/a/b', '/z/moved')
    expect(await fs.readdir('/a')).toEqual([])
    expect(await fs.readdir('/z')).toEqual(['moved'])
    expect((await fs.readFile('/z/moved/c/f')).toString()).toBe('deep')
    expect((await fs.stat('/z/moved')).ino).toBe(ino)
    expect((await fs.stat('/a')).nlink).toBe(2)
    expect((await fs.stat('/z')).nlink).toBe(3)
    await expect(fs.rename('/z', '/z/moved/c/inside')).rejects.toEqual(code('EINVAL'))
    await fs.mkdir('/full/x', { recursive: true })
    await expect(fs.rename('/z/moved', '/full')).rejects.toEqual(code('ENOTEMPTY'))
    await expect(fs.rename('/z/moved/c/f', '/full')).rejects.toEqual(code('EISDIR'))
    await expect(fs.rename('/z/moved', '/z/moved/c/f')).rejects.toEqual(code('EINVAL'))
    await fs.writeFile('/file', 'x')
    await expect(fs.rename('/z/moved', '/file')).rejects.toEqual(code('ENOTDIR'))
    await fs.rmdir('/full/x')
    await fs.rename('/z/moved', '/full')
    expect((await fs.readFile('/full/c/f')).toString()).toBe('deep')
    const base = await sn.open('base')
    expect((await base.readFile('/a/b/c/f')).toString()).toBe('deep')
    await base.close()
    await fs.close()
  })

  it('hard links share one inode across a copy-on-write: a write through one name shows through the other', async () => {
    let fs = await active()
    await fs.writeFile('/one', 'original')
    await fs.link('/one', '/two')
    fs = await child(fs)
    const st = await fs.stat('/one')
    expect(st.nlink).toBe(2)
    expect((await fs.stat('/two')).ino).toBe(st.ino)
    await pwrite(fs, '/two', Buffer.from('ORIG'), 0)
    expect((await fs.readFile('/one')).toString()).toBe('ORIGinal')
    expect((await fs.stat('/one')).ino).toBe(st.ino)
    await fs.unlink('/one')
    expect((await fs.stat('/two')).nlink).toBe(1)
    const base = await sn.open('base')
    expect((await base.readFile('/two')).toString()).toBe('original')
    expect((await base.stat('/one')).nlink).toBe(2)
    await base.close()
    await fs.close()
  })

  it('FIFOs and devices are metadata with their type, mode and device number', async () => {
    const fs = await active()
    await fs.mknod('/fifo', 'fifo', 0o600)
    await fs.mknod('/null', 'char', 0o666, 259)
    await fs.mknod('/disk', 'block', 0o640, 2049)
    expect(await fs.lstat('/fifo')).toMatchObject({ type: 'fifo', mode: 0o600 })
    expect(await fs.lstat('/null')).toMatchObject({ type: 'char', mode: 0o666, rdev: 259 })
    expect(await fs.lstat('/disk')).toMatchObject({ type: 'block', mode: 0o640, rdev: 2049 })
    await expect(fs.mknod('/null', 'char', 0o666, 1)).rejects.toEqual(code('EEXIST'))
    await fs.close()
  })
})

describe('row bad input: a clear error and no change', () => {
  /** Runs `call`, expects `want`, and checks the snapshot's tree and usage did not move. */
  async function refused(fs: SnapshotFs, key: string, call: () => Promise<unknown>, want: string): Promise<void> {
    const tree = await manifest(fs)
    const usage = await sn.usage(key)
    await expect(call()).rejects.toEqual(code(want))
    expect(diffManifests(await manifest(fs), tree)).toEqual([])
    expect(await sn.usage(key)).toEqual(usage)
  }

  it('paths that climb above the root stay inside it, through .. and through symlinks', async () => {
    const fs = await active()
    await fs.writeFile('/../../../escape', 'x')
    await fs.mkdir('/a/b', { recursive: true })
    await fs.symlink('../../../../..', '/a/b/up')
    await fs.symlink('/a', '/abs')
    await fs.writeFile('/a/b/up/via-up', 'y')
    await fs.writeFile('/abs/via-abs', 'z')
    expect(await fs.readdir('/')).toEqual(['a', 'abs', 'escape', 'via-up'])
    expect((await fs.readFile('/a/via-abs')).toString()).toBe('z')
    await fs.symlink('loop2', '/loop1')
    await fs.symlink('loop1', '/loop2')
    await refused(fs, 'a', () => fs.readFile('/loop1'), 'ELOOP')
    await fs.close()
  })

  it('every write to a view or a committed snapshot is EROFS', async () => {
    let fs = await active()
    await fs.writeFile('/f', 'x')
    await fs.mkdir('/d')
    fs = await child(fs)
    await fs.close()
    await sn.view('v', 'base')
    for (const key of ['v', 'base']) {
      const ro = await sn.open(key)
      expect(ro.readOnly).toBe(true)
      const calls: Array<() => Promise<unknown>> = [
        () => ro.writeFile('/f', 'y'),
        () => ro.writeFile('/new', 'y'),
        () => ro.open('/f', 'r+'),
        () => ro.open('/f', 'w'),
        () => ro.open('/f', 'a'),
        () => ro.open('/n', 'wx'),
        () => ro.mkdir('/e'),
        () => ro.rmdir('/d'),
        () => ro.unlink('/f'),
        () => ro.rm('/d', { recursive: true }),
        () => ro.rename('/f', '/g'),
        () => ro.symlink('f', '/s'),
        () => ro.link('/f', '/l'),
        () => ro.chmod('/f', 0o600),
        () => ro.chown('/f', 1, 1),
        () => ro.utimes('/f', 0, 0),
        () => ro.truncate('/f', 0),
        () => ro.mknod('/p', 'fifo', 0o600),
      ]
      for (const call of calls) await refused(ro, key, call, 'EROFS')
      expect((await ro.readFile('/f')).toString()).toBe('x')
      await ro.close()
    }
  })

  it('a closed SnapshotFs and a closed handle answer EBADF; a handle used against its flags too', async () => {
    const fs = await active()
    await fs.writeFile('/f', 'data')
    const reader = await fs.open('/f', 'r')
    await refused(fs, 'a', () => reader.write(Buffer.from('x'), 0, 1, 0), 'EBADF')
    const writer = await fs.open('/f', 'a')
    await refused(fs, 'a', () => writer.read(Buffer.alloc(1), 0, 1, 0), 'EBADF')
    await writer.close()
    await refused(fs, 'a', () => writer.write(Buffer.from('x'), 0, 1, 0), 'EBADF')
    await fs.close()
    await expect(reader.read(Buffer.alloc(1), 0, 1, 0)).rejects.toEqual(code('EBADF'))
    await expect(reader.stat()).rejects.toEqual(code('EBADF'))
    for (const call of [() => fs.stat('/f'), () => fs.readFile('/f'), () => fs.writeFile('/g', 'x'), () => fs.mkdir('/d')]) {
      await expect(call()).rejects.toEqual(code('EBADF'))
    }
    const again = await sn.open('a')
    expect(await again.readdir('/')).toEqual(['f'])
    await again.close()
  })

  it('negative, fractional or out-of-buffer offsets, lengths and positions are EINVAL', async () => {
    const fs = await active()
    await fs.writeFile('/f', 'data')
    const fh = await fs.open('/f', 'r+')
    const buf = Buffer.alloc(4)
    for (const [off, len, pos] of [
      [-1, 1, 0],
      [0, -1, 0],
      [0, 1, -1],
      [0, 5, 0],
      [3, 2, 0],
      [0.5, 1, 0],
      [0, 1, 1.5],
      [0, 1, NaN],
    ]) {
      await refused(fs, 'a', () => fh.read(buf, off, len, pos), 'EINVAL')
      await refused(fs, 'a', () => fh.write(buf, off, len, pos), 'EINVAL')
    }
    await refused(fs, 'a', () => fh.write('text' as unknown as Buffer, 0, 1, 0), 'EINVAL')
    await refused(fs, 'a', () => fh.truncate(-1), 'EINVAL')
    await refused(fs, 'a', () => fs.truncate('/f', -5), 'EINVAL')
    await refused(fs, 'a', () => fs.open('/f', 'rw' as 'r'), 'EINVAL')
    await refused(fs, 'a', () => fs.chmod('/f', 0o10000), 'EINVAL')
    await refused(fs, 'a', () => fs.chown('/f', -1, 0), 'EINVAL')
    await refused(fs, 'a', () => fs.utimes('/f', Infinity, 0), 'EINVAL')
    await refused(fs, 'a', () => fs.writeFile('/g', 42 as unknown as Buffer), 'EINVAL')
    await refused(fs, 'a', () => fs.readFile('/f\0x'), 'EINVAL')
    await refused(fs, 'a', () => fs.mknod('/p', 'socket' as 'fifo', 0o600), 'EINVAL')
    await fh.close()
    expect((await fs.readFile('/f')).toString()).toBe('data')
    await fs.close()
  })

  it('POSIX errors where POSIX puts them', async () => {
    const fs = await active()
    await fs.writeFile('/f', 'x')
    await fs.mkdir('/d/e', { recursive: true })
    const cases: Array<[() => Promise<unknown>, string]> = [
      [() => fs.readFile('/missing'), 'ENOENT'],
      [() => fs.stat('/f/x'), 'ENOTDIR'],
      [() => fs.readFile('/d'), 'EISDIR'],
      [() => fs.mkdir('/f'), 'EEXIST'],
      [() => fs.mkdir('/missing/x'), 'ENOENT'],
      [() => fs.rmdir('/d'), 'ENOTEMPTY'],
      [() => fs.rmdir('/f'), 'ENOTDIR'],
      [() => fs.unlink('/d'), 'EISDIR'],
      [() => fs.rm('/d'), 'EISDIR'],
      [() => fs.open('/f', 'wx'), 'EEXIST'],
      [() => fs.open('/d', 'r+'), 'EISDIR'],
      [() => fs.readdir('/f'), 'ENOTDIR'],
      [() => fs.readlink('/f'), 'EINVAL'],
      [() => fs.link('/d', '/dl'), 'EPERM'],
      [() => fs.link('/f', '/d'), 'EEXIST'],
      [() => fs.symlink('x', '/f'), 'EEXIST'],
      [() => fs.symlink('', '/s'), 'ENOENT'],
      [() => fs.truncate('/d', 0), 'EISDIR'],
      [() => fs.rmdir('/'), 'EBUSY'],
      [() => fs.mkdir('/', {}), 'EEXIST'],
      [() => fs.rename('/missing', '/x'), 'ENOENT'],
    ]
    for (const [call, want] of cases) await refused(fs, 'a', call, want)
    await fs.close()
  })
})
