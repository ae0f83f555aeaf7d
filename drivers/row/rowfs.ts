/**
 * SnapshotFs over a snapshot's tree, with DirFs's behaviour: the same
 * argument checks (fs/path.ts), the same POSIX codes in the same order,
 * modes applied exactly (no umask), lchown semantics, readdir sorted. Each
 * operation is all or nothing; operations are gathered into one batch (see
 * snap.ts), and a large write is a few steps, one slice of blocks each.
 */
import { posixError, type PosixError } from '../../core/errors.js'
import { CheckedFs, type NodeType } from '../../fs/checked.js'
import { splitPath } from '../../fs/path.js'
import type { FileStat, OpenFlags, XattrFlag } from '../../core/snapshotter.js'
import { ItemType, typeRange, xattrKey, xattrName } from './keys.js'
import { readAll, stepBytes, truncateTo, writeAt, writeData } from './filedata.js'
import { RowFileHandle } from './filehandle.js'
import {
  addEntry,
  createInode,
  entries,
  isEmptyDir,
  mustInode,
  putInode,
  removeEntry,
  removeSubtree,
  statOf,
  type NewInode,
} from './namespace.js'
import { existing, named, resolve, type Resolved } from './resolve.js'
import type { Snap } from './snap.js'
import type { Edit } from './edit.js'
import type { Inode } from './format.js'
import type { Items } from './items.js'

function owner(): { uid: number; gid: number } {
  return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 }
}

export class RowFs extends CheckedFs {
  readonly #snap: Snap

  constructor(snap: Snap, readOnly: boolean) {
    super(readOnly)
    this.#snap = snap
  }

  #read<T>(fn: (t: Items) => T): Promise<T> {
    return this.#snap.read(fn)
  }

  #write<T>(fn: (e: Edit) => T): Promise<T> {
    return this.#snap.write(fn)
  }

  protected async _stat(p: string): Promise<FileStat> {
    return this.#read((t) => {
      const r = existing(t, 'stat', p, true)
      return statOf(r.ino, r.inode)
    })
  }

  protected async _lstat(p: string): Promise<FileStat> {
    return this.#read((t) => {
      const r = existing(t, 'lstat', p, false)
      return statOf(r.ino, r.inode)
    })
  }

  protected async _readdir(p: string): Promise<string[]> {
    return this.#read((t) => {
      const r = existing(t, 'scandir', p, true)
      if (r.inode.type !== 'dir') throw posixError('ENOTDIR', 'scandir', p)
      return entries(t, r.ino)
        .map(([name]) => name)
        .sort()
    })
  }

  protected async _readFile(p: string): Promise<Buffer> {
    return this.#read((t) => {
      const r = existing(t, 'open', p, true)
      if (r.inode.type === 'dir') throw posixError('EISDIR', 'read', p)
      if (r.inode.type !== 'file') return Buffer.alloc(0)
      return readAll(t, r)
    })
  }

  /** Create or truncate, then write: one batch for a file up to one write step, more for larger ones. */
  protected async _writeFile(p: string, buf: Buffer, mode: number): Promise<void> {
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
    if (!whole) await writeData(this.#snap, { ino, path: p }, buf, { pos: 0, append: false })
  }

  protected async _open(p: string, flags: OpenFlags, mode: number): Promise<RowFileHandle> {
    const writes = flags !== 'r'
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
    return new RowFileHandle(this.#snap, ino, p, flags)
  }

  /** A new inode owned by the caller; in a setgid directory it takes the directory's group, as on Linux. */
  #create(e: Edit, r: Resolved, spec: Omit<NewInode, 'uid' | 'gid' | 'mtimeMs'>): number {
    const ids = owner()
    const parent = mustInode(e, r.dir)
    if (parent.mode & 0o2000) ids.gid = parent.gid
    return createInode(e, r, { ...spec, ...ids, mtimeMs: Date.now() })[0]
  }

  protected async _mkdir(p: string, mode: number): Promise<void> {
    await this.#write((e) => {
      const r = resolve(e, 'mkdir', p, false)
      if (r.ino !== undefined || r.name === '') throw posixError('EEXIST', 'mkdir', p)
      this.#create(e, r, { type: 'dir', mode })
    })
  }

  /** Every missing directory of the path, in one batch. */
  protected async _mkdirp(p: string, mode: number): Promise<void> {
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

  protected async _rmdir(p: string): Promise<void> {
    await this.#write((e) => {
      const r = named(e, 'rmdir', p, 'EBUSY')
      if (r.ino === undefined) throw posixError('ENOENT', 'rmdir', p)
      if (r.inode!.type !== 'dir') throw posixError('ENOTDIR', 'rmdir', p)
      if (!isEmptyDir(e, r.ino)) throw posixError('ENOTEMPTY', 'rmdir', p)
      removeSubtree(e, { dir: r.dir, name: r.name, ino: r.ino, type: 'dir' }, Date.now())
    })
  }

  protected async _unlink(p: string): Promise<void> {
    await this.#write((e) => {
      const r = named(e, 'unlink', p, 'EISDIR')
      if (r.ino === undefined) throw posixError('ENOENT', 'unlink', p)
      if (r.inode!.type === 'dir') throw posixError('EISDIR', 'unlink', p)
      removeSubtree(e, { dir: r.dir, name: r.name, ino: r.ino, type: r.inode!.type }, Date.now())
    })
  }

  protected async _rm(p: string, recursive: boolean): Promise<void> {
    await this.#write((e) => {
      const r = named(e, 'rm', p, 'EBUSY')
      if (r.ino === undefined) throw posixError('ENOENT', 'rm', p)
      if (r.inode!.type === 'dir' && !recursive) throw posixError('EISDIR', 'rm', p)
      removeSubtree(e, { dir: r.dir, name: r.name, ino: r.ino, type: r.inode!.type }, Date.now())
    })
  }

  protected async _rename(from: string, to: string): Promise<void> {
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

  protected async _symlink(target: string, p: string): Promise<void> {
    if (typeof target !== 'string' || target.length === 0 || target.includes('\0')) {
      throw posixError(typeof target === 'string' && target.length === 0 ? 'ENOENT' : 'EINVAL', 'symlink', p)
    }
    await this.#write((e) => {
      const r = named(e, 'symlink', p, 'EEXIST')
      if (r.ino !== undefined) throw posixError('EEXIST', 'symlink', p)
      this.#create(e, r, { type: 'symlink', mode: 0o777, target, size: Buffer.byteLength(target) })
    })
  }

  protected async _readlink(p: string): Promise<string> {
    return this.#read((t) => {
      const r = existing(t, 'readlink', p, false)
      if (r.inode.type !== 'symlink') throw posixError('EINVAL', 'readlink', p)
      return r.inode.target ?? ''
    })
  }

  protected async _link(existingPath: string, p: string): Promise<void> {
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

  protected async _chmod(p: string, mode: number): Promise<void> {
    await this.#change('chmod', p, true, (i) => {
      i.mode = mode
    })
  }

  protected async _chown(p: string, uid: number, gid: number): Promise<void> {
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

  protected async _utimes(p: string, atimeNs: bigint, mtimeNs: bigint): Promise<void> {
    await this.#change('utime', p, true, (i) => {
      i.atimeNs = atimeNs
      i.mtimeNs = mtimeNs
    })
  }

  protected async _lutimes(p: string, atimeNs: bigint, mtimeNs: bigint): Promise<void> {
    await this.#change('lutime', p, false, (i) => {
      i.atimeNs = atimeNs
      i.mtimeNs = mtimeNs
    })
  }

  protected async _getxattr(p: string, name: string): Promise<Buffer> {
    return this.#read((t) => {
      const r = existing(t, 'lgetxattr', p, false)
      const v = t.get(xattrKey(r.ino, name))
      if (v === undefined) throw posixError('ENODATA', 'lgetxattr', p)
      return Buffer.from(v)
    })
  }

  /** The value is an item of the inode: copied on write with it, counted in usage, freed with it. */
  protected async _setxattr(p: string, name: string, value: Buffer, flags: XattrFlag | undefined): Promise<void> {
    await this.#write((e) => {
      const r = existing(e, 'lsetxattr', p, false)
      const key = xattrKey(r.ino, name)
      const had = e.get(key) !== undefined
      if (flags === 'create' && had) throw posixError('EEXIST', 'lsetxattr', p)
      if (flags === 'replace' && !had) throw posixError('ENODATA', 'lsetxattr', p)
      e.put(key, Buffer.from(value))
      putInode(e, r.ino, r.inode)
    })
  }

  protected async _listxattr(p: string): Promise<string[]> {
    return this.#read((t) => {
      const r = existing(t, 'llistxattr', p, false)
      const names: string[] = []
      const [lo, hi] = typeRange(r.ino, ItemType.Xattr)
      t.scan(lo, hi, (k) => {
        names.push(xattrName(k))
      })
      return names
    })
  }

  protected async _removexattr(p: string, name: string): Promise<void> {
    await this.#write((e) => {
      const r = existing(e, 'lremovexattr', p, false)
      if (e.del(xattrKey(r.ino, name)) === undefined) throw posixError('ENODATA', 'lremovexattr', p)
      putInode(e, r.ino, r.inode)
    })
  }

  async #change(syscall: string, p: string, follow: boolean, fn: (i: Inode) => void): Promise<void> {
    await this.#write((e) => {
      const r = existing(e, syscall, p, follow)
      fn(r.inode)
      putInode(e, r.ino, r.inode)
    })
  }

  protected async _truncate(p: string, len: number): Promise<void> {
    await this.#write((e) => {
      const r = existing(e, 'truncate', p, true)
      if (r.inode.type === 'dir') throw posixError('EISDIR', 'truncate', p)
      if (r.inode.type !== 'file') throw posixError('EINVAL', 'truncate', p)
      truncateTo(e, r, { len, now: Date.now() })
    })
  }

  protected async _mknod(p: string, type: NodeType, mode: number, rdev: number): Promise<void> {
    await this.#write((e) => {
      const r = named(e, 'mknod', p, 'EEXIST')
      if (r.ino !== undefined) throw posixError('EEXIST', 'mknod', p)
      this.#create(e, r, { type, mode, rdev })
    })
  }

  protected async _close(): Promise<void> {
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
