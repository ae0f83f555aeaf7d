/**
 * SnapshotFs over a real directory. Paths resolve inside the root as under
 * chroot: each component is looked up in turn, `..` stops at the root, and a
 * symlink's target (absolute or relative) is resolved again from inside the
 * root, so no path ever leads outside it. Errors carry POSIX codes and name
 * the path as the caller gave it, never the host path.
 */
import * as fs from 'node:fs'
import * as fsp from 'node:fs/promises'
import { join } from 'node:path'
import { copyTree } from './copytree.js'
import { errnoCode, posixError, type PosixCode } from '../core/errors.js'
import { mknodAt } from './mknod.js'
import type { FileHandle, FileStat, FileType, OpenFlags, SnapshotFs } from '../core/snapshotter.js'
import { checkHandle, checkIoArgs, checkLength, checkMode, checkOwner, checkTime, splitPath } from './path.js'

const MAX_SYMLINKS = 40

export function toFileStat(st: fs.Stats): FileStat {
  const type: FileType = st.isFile()
    ? 'file'
    : st.isDirectory()
      ? 'dir'
      : st.isSymbolicLink()
        ? 'symlink'
        : st.isCharacterDevice()
          ? 'char'
          : st.isBlockDevice()
            ? 'block'
            : st.isFIFO()
              ? 'fifo'
              : 'socket'
  const out: FileStat = {
    type,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    size: st.size,
    nlink: st.nlink,
    ino: st.ino,
    mtimeMs: st.mtimeMs,
  }
  if (type === 'char' || type === 'block') out.rdev = st.rdev
  return out
}

interface Resolved {
  /** Host path of the entry (it may not exist). */
  real: string
  /** Host path of the directory holding it. */
  dir: string
  /** Its name in that directory; '' for the root itself. */
  name: string
  /** lstat of the entry, when it exists. */
  st?: fs.Stats
}

export interface DirFsOptions {
  readOnly?: boolean
  /** Runs once when the handle closes (an overlay mount's reference count, say). */
  onClose?: () => Promise<void>
}

const FLAGS: Record<OpenFlags, number> = {
  r: fs.constants.O_RDONLY,
  'r+': fs.constants.O_RDWR,
  w: fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC,
  wx: fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL,
  a: fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_APPEND,
}

export class DirFs implements SnapshotFs {
  readonly root: string
  readonly readOnly: boolean
  readonly #onClose: (() => Promise<void>) | undefined
  readonly #handles = new Set<DirFileHandle>()
  #closed = false

  constructor(root: string, opts: DirFsOptions = {}) {
    this.root = root
    this.readOnly = opts.readOnly ?? false
    this.#onClose = opts.onClose
  }

  /** Runs an fs call, turning its error into one that names the snapshot path. */
  async #call<T>(syscall: string, p: string, fn: () => Promise<T> | T, dest?: string): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      const code = errnoCode(err)
      if (code !== undefined && /^E[A-Z]+$/.test(code)) throw posixError(code as PosixCode, syscall, p, dest)
      throw err
    }
  }

  #usable(syscall: string, p: string, write: boolean): void {
    if (this.#closed) throw posixError('EBADF', syscall, p)
    if (write && this.readOnly) throw posixError('EROFS', syscall, p)
  }

  /**
   * Resolves `p` inside the root. With `followLast` a final symlink is
   * followed too. A missing final component is fine (the caller may create
   * it); a missing or non-directory middle component is ENOENT or ENOTDIR.
   */
  #resolve(syscall: string, p: string, followLast: boolean): Resolved {
    const queue = splitPath(syscall, p)
    const stack: string[] = []
    let links = 0
    while (queue.length > 0) {
      const name = queue.shift()!
      if (name === '..') {
        stack.pop()
        continue
      }
      const real = join(this.root, ...stack, name)
      const last = queue.length === 0
      let st: fs.Stats
      try {
        st = fs.lstatSync(real)
      } catch (err) {
        const code = errnoCode(err)
        if (code === 'ENOENT' && last) return { real, dir: join(this.root, ...stack), name }
        throw posixError((code ?? 'EIO') as PosixCode, syscall, p)
      }
      if (st.isSymbolicLink() && (!last || followLast)) {
        if (++links > MAX_SYMLINKS) throw posixError('ELOOP', syscall, p)
        const target = fs.readlinkSync(real)
        if (target.startsWith('/')) stack.length = 0
        queue.unshift(...target.split('/').filter((s) => s !== '' && s !== '.'))
        continue
      }
      if (!last && !st.isDirectory()) throw posixError('ENOTDIR', syscall, p)
      if (last) return { real, dir: join(this.root, ...stack), name, st }
      stack.push(name)
    }
    const real = join(this.root, ...stack)
    const dir = stack.length === 0 ? this.root : join(this.root, ...stack.slice(0, -1))
    return { real, dir, name: stack.at(-1) ?? '', st: fs.lstatSync(real) }
  }

  #existing(syscall: string, p: string, followLast: boolean): Resolved & { st: fs.Stats } {
    const r = this.#resolve(syscall, p, followLast)
    if (!r.st) throw posixError('ENOENT', syscall, p)
    return r as Resolved & { st: fs.Stats }
  }

  /** A path that names an entry in a directory (not the root itself). */
  #named(syscall: string, p: string, rootCode: PosixCode): Resolved {
    const r = this.#resolve(syscall, p, false)
    if (r.name === '') throw posixError(rootCode, syscall, p)
    return r
  }

  async stat(p: string): Promise<FileStat> {
    this.#usable('stat', p, false)
    return this.#call('stat', p, () => toFileStat(this.#existing('stat', p, true).st))
  }

  async lstat(p: string): Promise<FileStat> {
    this.#usable('lstat', p, false)
    return this.#call('lstat', p, () => toFileStat(this.#existing('lstat', p, false).st))
  }

  async readdir(p: string): Promise<string[]> {
    this.#usable('scandir', p, false)
    return this.#call('scandir', p, async () => {
      const r = this.#existing('scandir', p, true)
      if (!r.st.isDirectory()) throw posixError('ENOTDIR', 'scandir', p)
      return (await fsp.readdir(r.real)).sort()
    })
  }

  async readFile(p: string): Promise<Buffer> {
    this.#usable('open', p, false)
    return this.#call('open', p, async () => {
      const r = this.#existing('open', p, true)
      if (r.st.isDirectory()) throw posixError('EISDIR', 'read', p)
      return fsp.readFile(r.real, { flag: fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW })
    })
  }

  async writeFile(p: string, data: Buffer | string, opts: { mode?: number } = {}): Promise<void> {
    const fh = await this.open(p, 'w', opts.mode)
    try {
      const buf = typeof data === 'string' ? Buffer.from(data) : data
      if (!Buffer.isBuffer(buf)) throw posixError('EINVAL', 'write', p)
      let off = 0
      while (off < buf.length) off += await fh.write(buf, off, buf.length - off, off)
    } finally {
      await fh.close()
    }
  }

  async open(p: string, flags: OpenFlags, mode = 0o644): Promise<FileHandle> {
    if (!Object.hasOwn(FLAGS, flags)) throw posixError('EINVAL', 'open', p)
    checkMode('open', p, mode)
    const writes = flags !== 'r'
    this.#usable('open', p, writes)
    return this.#call('open', p, async () => {
      const r = this.#resolve('open', p, true)
      if (r.name === '' || r.st?.isDirectory()) {
        if (writes) throw posixError('EISDIR', 'open', p)
      }
      if (r.st && flags === 'wx') throw posixError('EEXIST', 'open', p)
      if (!r.st && (flags === 'r' || flags === 'r+')) throw posixError('ENOENT', 'open', p)
      const handle = await fsp.open(r.real, FLAGS[flags] | fs.constants.O_NOFOLLOW, 0o600)
      if (!r.st) await handle.chmod(mode & 0o7777)
      const fh = new DirFileHandle(handle, p, flags, () => this.#handles.delete(fh))
      this.#handles.add(fh)
      return fh
    })
  }

  async mkdir(p: string, opts: { mode?: number; recursive?: boolean } = {}): Promise<void> {
    const mode = opts.mode ?? 0o755
    checkMode('mkdir', p, mode)
    this.#usable('mkdir', p, true)
    if (opts.recursive) return this.#mkdirp(p, mode)
    return this.#call('mkdir', p, async () => {
      const r = this.#resolve('mkdir', p, false)
      if (r.st || r.name === '') throw posixError('EEXIST', 'mkdir', p)
      await fsp.mkdir(r.real, { mode: 0o700 })
      await fsp.chmod(r.real, mode & 0o7777)
    })
  }

  async #mkdirp(p: string, mode: number): Promise<void> {
    const parts = splitPath('mkdir', p)
    for (let i = 1; i <= parts.length; i++) {
      const sub = '/' + parts.slice(0, i).join('/')
      const r = await this.#call('mkdir', p, () => this.#resolve('mkdir', sub, true))
      if (r.st?.isDirectory() || r.name === '') continue
      if (r.st) throw posixError(i === parts.length ? 'EEXIST' : 'ENOTDIR', 'mkdir', p)
      await this.#call('mkdir', p, async () => {
        await fsp.mkdir(r.real, { mode: 0o700 })
        await fsp.chmod(r.real, mode & 0o7777)
      })
    }
  }

  async rmdir(p: string): Promise<void> {
    this.#usable('rmdir', p, true)
    return this.#call('rmdir', p, async () => {
      const r = this.#named('rmdir', p, 'EBUSY')
      if (!r.st) throw posixError('ENOENT', 'rmdir', p)
      if (!r.st.isDirectory()) throw posixError('ENOTDIR', 'rmdir', p)
      await fsp.rmdir(r.real)
    })
  }

  async unlink(p: string): Promise<void> {
    this.#usable('unlink', p, true)
    return this.#call('unlink', p, async () => {
      const r = this.#named('unlink', p, 'EISDIR')
      if (!r.st) throw posixError('ENOENT', 'unlink', p)
      if (r.st.isDirectory()) throw posixError('EISDIR', 'unlink', p)
      await fsp.unlink(r.real)
    })
  }

  async rm(p: string, opts: { recursive?: boolean } = {}): Promise<void> {
    this.#usable('rm', p, true)
    return this.#call('rm', p, async () => {
      const r = this.#named('rm', p, 'EBUSY')
      if (!r.st) throw posixError('ENOENT', 'rm', p)
      if (r.st.isDirectory() && !opts.recursive) throw posixError('EISDIR', 'rm', p)
      await fsp.rm(r.real, { recursive: true })
    })
  }

  async rename(from: string, to: string): Promise<void> {
    this.#usable('rename', from, true)
    return this.#call(
      'rename',
      from,
      async () => {
        const a = this.#named('rename', from, 'EBUSY')
        const b = this.#named('rename', to, 'EBUSY')
        if (!a.st) throw posixError('ENOENT', 'rename', from, to)
        if (b.real === a.real) return
        if (b.real.startsWith(a.real + '/')) throw posixError('EINVAL', 'rename', from, to)
        if (b.st) checkReplace(a.st, b.st, from, to)
        try {
          await fsp.rename(a.real, b.real)
        } catch (err) {
          if (errnoCode(err) !== 'EXDEV') throw err
          await moveAcross(a.real, b, a.st)
        }
      },
      to,
    )
  }

  async symlink(target: string, p: string): Promise<void> {
    if (typeof target !== 'string' || target.length === 0 || target.includes('\0')) {
      throw posixError(typeof target === 'string' && target.length === 0 ? 'ENOENT' : 'EINVAL', 'symlink', p)
    }
    this.#usable('symlink', p, true)
    return this.#call('symlink', p, async () => {
      const r = this.#named('symlink', p, 'EEXIST')
      if (r.st) throw posixError('EEXIST', 'symlink', p)
      await fsp.symlink(target, r.real)
    })
  }

  async readlink(p: string): Promise<string> {
    this.#usable('readlink', p, false)
    return this.#call('readlink', p, async () => {
      const r = this.#existing('readlink', p, false)
      if (!r.st.isSymbolicLink()) throw posixError('EINVAL', 'readlink', p)
      return fsp.readlink(r.real)
    })
  }

  async link(existing: string, p: string): Promise<void> {
    this.#usable('link', existing, true)
    return this.#call(
      'link',
      existing,
      async () => {
        const a = this.#existing('link', existing, false)
        if (a.st.isDirectory()) throw posixError('EPERM', 'link', existing, p)
        const b = this.#named('link', p, 'EEXIST')
        if (b.st) throw posixError('EEXIST', 'link', existing, p)
        await fsp.link(a.real, b.real)
      },
      p,
    )
  }

  async chmod(p: string, mode: number): Promise<void> {
    checkMode('chmod', p, mode)
    this.#usable('chmod', p, true)
    return this.#call('chmod', p, async () => fsp.chmod(this.#existing('chmod', p, true).real, mode & 0o7777))
  }

  async chown(p: string, uid: number, gid: number): Promise<void> {
    checkOwner('chown', p, uid, gid)
    this.#usable('chown', p, true)
    return this.#call('chown', p, async () => fsp.lchown(this.#existing('chown', p, false).real, uid, gid))
  }

  async utimes(p: string, atimeMs: number, mtimeMs: number): Promise<void> {
    checkTime('utime', p, atimeMs)
    checkTime('utime', p, mtimeMs)
    this.#usable('utime', p, true)
    return this.#call('utime', p, async () => {
      fs.lutimesSync(this.#existing('utime', p, true).real, atimeMs / 1000, mtimeMs / 1000)
    })
  }

  async truncate(p: string, len: number): Promise<void> {
    checkLength('truncate', p, len)
    this.#usable('truncate', p, true)
    return this.#call('truncate', p, async () => {
      const r = this.#existing('truncate', p, true)
      if (r.st.isDirectory()) throw posixError('EISDIR', 'truncate', p)
      await fsp.truncate(r.real, len)
    })
  }

  async mknod(p: string, type: 'fifo' | 'char' | 'block', mode: number, rdev = 0): Promise<void> {
    checkMode('mknod', p, mode)
    if (type !== 'fifo' && type !== 'char' && type !== 'block') throw posixError('EINVAL', 'mknod', p)
    this.#usable('mknod', p, true)
    return this.#call('mknod', p, async () => {
      const r = this.#named('mknod', p, 'EEXIST')
      if (r.st) throw posixError('EEXIST', 'mknod', p)
      await mknodAt(r.real, type, mode, rdev)
    })
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const fh of [...this.#handles]) await fh.close()
    await this.#onClose?.()
  }
}

/** rename(2)'s rules for replacing an existing target. */
function checkReplace(src: fs.Stats, dst: fs.Stats, from: string, to: string): void {
  if (src.isDirectory() && !dst.isDirectory()) throw posixError('ENOTDIR', 'rename', from, to)
  if (!src.isDirectory() && dst.isDirectory()) throw posixError('EISDIR', 'rename', from, to)
}

/**
 * What mv(1) does when the kernel answers EXDEV (overlayfs renaming a
 * directory from a lower layer): copy to a sibling of the target, rename that
 * over the target, then remove the source.
 */
async function moveAcross(src: string, dst: Resolved, st: fs.Stats): Promise<void> {
  if (dst.st?.isDirectory() && (await fsp.readdir(dst.real)).length > 0) {
    throw Object.assign(new Error('directory not empty'), { code: 'ENOTEMPTY' })
  }
  const tmp = join(dst.dir, `.strata-move-${process.pid}-${Date.now()}`)
  await copyTree(src, tmp)
  try {
    if (st.isDirectory() && dst.st) await fsp.rmdir(dst.real)
    await fsp.rename(tmp, dst.real)
  } catch (err) {
    await fsp.rm(tmp, { recursive: true, force: true })
    throw err
  }
  await fsp.rm(src, { recursive: true })
}

class DirFileHandle implements FileHandle {
  readonly #fh: fsp.FileHandle
  readonly #path: string
  readonly #flags: OpenFlags
  readonly #onClose: () => void
  #closed = false

  constructor(fh: fsp.FileHandle, path: string, flags: OpenFlags, onClose: () => void) {
    this.#fh = fh
    this.#path = path
    this.#flags = flags
    this.#onClose = onClose
  }

  #check(syscall: string, access: 'read' | 'write'): void {
    checkHandle(this.#closed, this.#flags, syscall, this.#path, access)
  }

  async read(buf: Buffer, offset: number, length: number, position: number): Promise<number> {
    checkIoArgs('read', this.#path, buf, offset, length, position)
    this.#check('read', 'read')
    return (await this.#fh.read(buf, offset, length, position)).bytesRead
  }

  async write(buf: Buffer, offset: number, length: number, position: number): Promise<number> {
    checkIoArgs('write', this.#path, buf, offset, length, position)
    this.#check('write', 'write')
    return (await this.#fh.write(buf, offset, length, position)).bytesWritten
  }

  async truncate(len: number): Promise<void> {
    checkLength('ftruncate', this.#path, len)
    this.#check('ftruncate', 'write')
    await this.#fh.truncate(len)
  }

  async stat(): Promise<FileStat> {
    if (this.#closed) throw posixError('EBADF', 'fstat', this.#path)
    return toFileStat(await this.#fh.stat())
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#onClose()
    await this.#fh.close()
  }
}
