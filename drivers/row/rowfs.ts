/**
 * SnapshotFs over a snapshot's tree, with DirFs's behaviour: the same
 * argument checks (fs/path.ts), the same POSIX codes in the same order,
 * modes applied exactly (no umask), lchown semantics, readdir sorted. Each
 * operation is one batch; a large write is a few, one slice of blocks each.
 */
import { posixError, type PosixError } from '../../core/errors.js'
import { checkMode, checkOwner, checkTime, checkLength, splitPath } from '../../fs/path.js'
import type { FileHandle, FileStat, OpenFlags, SnapshotFs } from '../../core/snapshotter.js'
import type { Edit } from './edit.js'
import { readAll, truncateTo, writeAt } from './filedata.js'
import { RowFileHandle, statOf, stepBytes, writeData } from './filehandle.js'
import type { Inode, Items } from './items.js'
import { addEntry, createInode, entries, isEmptyDir, mustInode, putInode, removeEntry, removeSubtree, type NewInode } from './namespace.js'
import { existing, named, resolve, type Resolved } from './resolve.js'
import type { Snap } from './snap.js'

const FLAGS: readonly OpenFlags[] = ['r', 'r+', 'w', 'wx', 'a']

function owner(): { uid: number; gid: number } {
  return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 }
}

export class RowFs implements SnapshotFs {
  readonly readOnly: boolean
  readonly #snap: Snap
  readonly #handles = new Set<RowFileHandle>()
  #closed = false

  constructor(snap: Snap, readOnly: boolean) {
    this.#snap = snap
    this.readOnly = readOnly
  }

  #usable(syscall: string, p: string, write: boolean): void {
    if (this.#closed) throw posixError('EBADF', syscall, p)
    if (write && this.readOnly) throw posixError('EROFS', syscall, p)
  }

  #read<T>(fn: (t: Items) => T): Promise<T> {
    return this.#snap.read(fn)
  }

  #write<T>(fn: (e: Edit) => T): Promise<T> {
    return this.#snap.write(fn)
  }

  async stat(p: string): Promise<FileStat> {
    this.#usable('stat', p, false)
    return this.#read((t) => {
      const r = existing(t, 'stat', p, true)
      return statOf(r.ino, r.inode)
    })
  }

  async lstat(p: string): Promise<FileStat> {
    this.#usable('lstat', p, false)
    return this.#read((t) => {
      const r = existing(t, 'lstat', p, false)
      return statOf(r.ino, r.inode)
    })
  }

  async readdir(p: string): Promise<string[]> {
    this.#usable('scandir', p, false)
    return this.#read((t) => {
      const r = existing(t, 'scandir', p, true)
      if (r.inode.type !== 'dir') throw posixError('ENOTDIR', 'scandir', p)
      return entries(t, r.ino)
        .map(([name]) => name)
        .sort()
    })
  }

  async readFile(p: string): Promise<Buffer> {
    this.#usable('open', p, false)
    return this.#read((t) => {
      const r = existing(t, 'open', p, true)
      if (r.inode.type === 'dir') throw posixError('EISDIR', 'read', p)
      if (r.inode.type !== 'file') return Buffer.alloc(0)
      return readAll(t, r)
    })
  }

  /** Create or truncate, then write: one batch for a file up to one write step, more for larger ones. */
  async writeFile(p: string, data: Buffer | string, opts: { mode?: number } = {}): Promise<void> {
    const buf = typeof data === 'string' ? Buffer.from(data) : data
    if (!Buffer.isBuffer(buf)) throw posixError('EINVAL', 'write', p)
    const mode = opts.mode ?? 0o644
    checkMode('open', p, mode)
    this.#usable('open', p, true)
    const whole = buf.length <= stepBytes(this.#snap.format.blockSize)
    const ino = await this.#write((e) => {
      const r = resolve(e, 'open', p, true)
      if (r.name === '' || r.inode?.type === 'dir') throw posixError('EISDIR', 'open', p)
      const ino = r.ino ?? this.#create(e, r, { type: 'file', mode })
      const inode = mustInode(e, ino)
      if (inode.type !== 'file') throw posixError('EINVAL', 'write', p)
      const now = Date.now()
      if (inode.size > 0) truncateTo(e, { ino, inode }, { len: 0, now })
      if (whole && buf.length > 0) writeAt(e, { ino, inode }, { data: buf, pos: 0, now })
      return ino
    })
    if (!whole) await writeData(this.#snap, ino, p, buf, 0, false)
  }

  async open(p: string, flags: OpenFlags, mode = 0o644): Promise<FileHandle> {
    if (!FLAGS.includes(flags)) throw posixError('EINVAL', 'open', p)
    checkMode('open', p, mode)
    const writes = flags !== 'r'
    this.#usable('open', p, writes)
    const check = (r: Resolved): void => {
      if (r.name === '' || r.inode?.type === 'dir') {
        if (writes) throw posixError('EISDIR', 'open', p)
      }
      if (r.ino !== undefined && flags === 'wx') throw posixError('EEXIST', 'open', p)
      if (r.ino === undefined && (flags === 'r' || flags === 'r+')) throw posixError('ENOENT', 'open', p)
    }
    const ino =
      flags === 'r' || flags === 'r+'
        ? await this.#read((t) => {
            const r = resolve(t, 'open', p, true)
            check(r)
            return r.ino!
          })
        : await this.#write((e) => {
            const r = resolve(e, 'open', p, true)
            check(r)
            if (r.ino === undefined) return this.#create(e, r, { type: 'file', mode })
            if (flags === 'w' && r.inode!.type === 'file' && r.inode!.size > 0)
              truncateTo(e, { ino: r.ino, inode: r.inode! }, { len: 0, now: Date.now() })
            return r.ino
          })
    const fh = new RowFileHandle(this.#snap, ino, p, flags, () => this.#handles.delete(fh))
    this.#handles.add(fh)
    return fh
  }

  /** A new inode owned by the caller; in a setgid directory it takes the directory's group, as on Linux. */
  #create(e: Edit, r: Resolved, spec: Omit<NewInode, 'uid' | 'gid' | 'mtimeMs'>): number {
    const ids = owner()
    const parent = mustInode(e, r.dir)
    if (parent.mode & 0o2000) ids.gid = parent.gid
    return createInode(e, r, { ...spec, ...ids, mtimeMs: Date.now() })[0]
  }

  async mkdir(p: string, opts: { mode?: number; recursive?: boolean } = {}): Promise<void> {
    const mode = opts.mode ?? 0o755
    checkMode('mkdir', p, mode)
    this.#usable('mkdir', p, true)
    if (opts.recursive) return this.#mkdirp(p, mode)
    await this.#write((e) => {
      const r = resolve(e, 'mkdir', p, false)
      if (r.ino !== undefined || r.name === '') throw posixError('EEXIST', 'mkdir', p)
      this.#create(e, r, { type: 'dir', mode })
    })
  }

  /** Every missing directory of the path, in one batch. */
  async #mkdirp(p: string, mode: number): Promise<void> {
    const parts = splitPath('mkdir', p)
    await this.#write((e) => {
      for (let i = 1; i <= parts.length; i++) {
        const sub = '/' + parts.slice(0, i).join('/')
        const r = resolve(e, 'mkdir', sub, true)
        if (r.inode?.type === 'dir' || r.name === '') continue
        if (r.ino !== undefined) throw posixError(i === parts.length ? 'EEXIST' : 'ENOTDIR', 'mkdir', p)
        this.#create(e, r, { type: 'dir', mode })
      }
    }).catch((err: PosixError) => {
      // Errors of the partial paths name the path the caller gave.
      if (err.path !== undefined && err.path !== p && err.syscall === 'mkdir') throw posixError(err.code, 'mkdir', p)
      throw err
    })
  }

  async rmdir(p: string): Promise<void> {
    this.#usable('rmdir', p, true)
    await this.#write((e) => {
      const r = named(e, 'rmdir', p, 'EBUSY')
      if (r.ino === undefined) throw posixError('ENOENT', 'rmdir', p)
      if (r.inode!.type !== 'dir') throw posixError('ENOTDIR', 'rmdir', p)
      if (!isEmptyDir(e, r.ino)) throw posixError('ENOTEMPTY', 'rmdir', p)
      removeSubtree(e, { dir: r.dir, name: r.name, ino: r.ino, type: 'dir' }, Date.now())
    })
  }

  async unlink(p: string): Promise<void> {
    this.#usable('unlink', p, true)
    await this.#write((e) => {
      const r = named(e, 'unlink', p, 'EISDIR')
      if (r.ino === undefined) throw posixError('ENOENT', 'unlink', p)
      if (r.inode!.type === 'dir') throw posixError('EISDIR', 'unlink', p)
      removeSubtree(e, { dir: r.dir, name: r.name, ino: r.ino, type: r.inode!.type }, Date.now())
    })
  }

  async rm(p: string, opts: { recursive?: boolean } = {}): Promise<void> {
    this.#usable('rm', p, true)
    await this.#write((e) => {
      const r = named(e, 'rm', p, 'EBUSY')
      if (r.ino === undefined) throw posixError('ENOENT', 'rm', p)
      if (r.inode!.type === 'dir' && !opts.recursive) throw posixError('EISDIR', 'rm', p)
      removeSubtree(e, { dir: r.dir, name: r.name, ino: r.ino, type: r.inode!.type }, Date.now())
    })
  }

  async rename(from: string, to: string): Promise<void> {
    this.#usable('rename', from, true)
    await this.#write((e) =>
      withDest('rename', from, to, () => {
        const fail = (code: 'ENOENT' | 'EINVAL' | 'ENOTDIR' | 'EISDIR' | 'ENOTEMPTY'): never => {
          throw posixError(code, 'rename', from, to)
        }
        const a = named(e, 'rename', from, 'EBUSY')
        const b = named(e, 'rename', to, 'EBUSY')
        if (a.ino === undefined) return fail('ENOENT')
        if (a.dir === b.dir && a.name === b.name) return
        const type = a.inode!.type
        if (type === 'dir' && (b.dirs.includes(a.ino) || b.dir === a.ino)) fail('EINVAL')
        const now = Date.now()
        if (b.ino !== undefined) {
          const btype = b.inode!.type
          if (type === 'dir' && btype !== 'dir') fail('ENOTDIR')
          if (type !== 'dir' && btype === 'dir') fail('EISDIR')
          // Two links of one inode: rename(2) does nothing.
          if (b.ino === a.ino) return
          if (btype === 'dir' && !isEmptyDir(e, b.ino)) fail('ENOTEMPTY')
          removeSubtree(e, { dir: b.dir, name: b.name, ino: b.ino, type: btype }, now)
        }
        removeEntry(e, { dir: a.dir, name: a.name, ino: a.ino, type }, now)
        addEntry(e, { dir: b.dir, name: b.name, ino: a.ino, type }, now)
      }),
    )
  }

  async symlink(target: string, p: string): Promise<void> {
    if (typeof target !== 'string' || target.length === 0 || target.includes('\0')) {
      throw posixError(typeof target === 'string' && target.length === 0 ? 'ENOENT' : 'EINVAL', 'symlink', p)
    }
    this.#usable('symlink', p, true)
    await this.#write((e) => {
      const r = named(e, 'symlink', p, 'EEXIST')
      if (r.ino !== undefined) throw posixError('EEXIST', 'symlink', p)
      this.#create(e, r, { type: 'symlink', mode: 0o777, target, size: Buffer.byteLength(target) })
    })
  }

  async readlink(p: string): Promise<string> {
    this.#usable('readlink', p, false)
    return this.#read((t) => {
      const r = existing(t, 'readlink', p, false)
      if (r.inode.type !== 'symlink') throw posixError('EINVAL', 'readlink', p)
      return r.inode.target ?? ''
    })
  }

  async link(existingPath: string, p: string): Promise<void> {
    this.#usable('link', existingPath, true)
    await this.#write((e) =>
      withDest('link', existingPath, p, () => {
        const a = existing(e, 'link', existingPath, false)
        if (a.inode.type === 'dir') throw posixError('EPERM', 'link', existingPath, p)
        const b = named(e, 'link', p, 'EEXIST')
        if (b.ino !== undefined) throw posixError('EEXIST', 'link', existingPath, p)
        const now = Date.now()
        a.inode.nlink++
        putInode(e, a.ino, a.inode)
        addEntry(e, { dir: b.dir, name: b.name, ino: a.ino, type: a.inode.type }, now)
      }),
    )
  }

  async chmod(p: string, mode: number): Promise<void> {
    checkMode('chmod', p, mode)
    this.#usable('chmod', p, true)
    await this.#change('chmod', p, true, (i) => {
      i.mode = mode & 0o7777
    })
  }

  async chown(p: string, uid: number, gid: number): Promise<void> {
    checkOwner('chown', p, uid, gid)
    this.#usable('chown', p, true)
    await this.#change('chown', p, false, (i) => {
      i.uid = uid
      i.gid = gid
      // As Linux does for every caller, root included: a new owner loses setuid, and setgid with group-exec.
      if (i.type !== 'dir') {
        i.mode &= ~0o4000
        if ((i.mode & 0o2010) === 0o2010) i.mode &= ~0o2000
      }
    })
  }

  async utimes(p: string, atimeMs: number, mtimeMs: number): Promise<void> {
    checkTime('utime', p, atimeMs)
    checkTime('utime', p, mtimeMs)
    this.#usable('utime', p, true)
    await this.#change('utime', p, true, (i) => {
      i.mtimeMs = mtimeMs
    })
  }

  async #change(syscall: string, p: string, follow: boolean, fn: (i: Inode) => void): Promise<void> {
    await this.#write((e) => {
      const r = existing(e, syscall, p, follow)
      fn(r.inode)
      putInode(e, r.ino, r.inode)
    })
  }

  async truncate(p: string, len: number): Promise<void> {
    checkLength('truncate', p, len)
    this.#usable('truncate', p, true)
    await this.#write((e) => {
      const r = existing(e, 'truncate', p, true)
      if (r.inode.type === 'dir') throw posixError('EISDIR', 'truncate', p)
      if (r.inode.type !== 'file') throw posixError('EINVAL', 'truncate', p)
      truncateTo(e, r, { len, now: Date.now() })
    })
  }

  async mknod(p: string, type: 'fifo' | 'char' | 'block', mode: number, rdev = 0): Promise<void> {
    checkMode('mknod', p, mode)
    if (type !== 'fifo' && type !== 'char' && type !== 'block') throw posixError('EINVAL', 'mknod', p)
    if (!Number.isSafeInteger(rdev) || rdev < 0) throw posixError('EINVAL', 'mknod', p)
    this.#usable('mknod', p, true)
    await this.#write((e) => {
      const r = named(e, 'mknod', p, 'EEXIST')
      if (r.ino !== undefined) throw posixError('EEXIST', 'mknod', p)
      this.#create(e, r, { type, mode, rdev: type === 'fifo' ? 0 : rdev })
    })
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const fh of [...this.#handles]) await fh.close()
    // Operations already started finish before the snapshot can be committed or removed.
    await this.#snap.idle()
  }
}

/** Runs fn; a POSIX error of `syscall` names both paths, as node:fs does for rename and link. */
function withDest<T>(syscall: string, p: string, dest: string, fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    const e = err as PosixError
    if (typeof e.code === 'string' && e.syscall === syscall) throw posixError(e.code, syscall, p, dest)
    throw err
  }
}
