/**
 * The checks every SnapshotFs makes, written once (abstract-level's `put`
 * wrapping `_put`): argument syntax, EBADF once closed, EROFS on a read-only
 * snapshot, open handles tracked and closed with the file system. A file
 * system extends CheckedFs and implements the `_` methods, which see only
 * valid arguments on a usable, writable-if-needed snapshot; its handles
 * extend CheckedHandle the same way. Checks run in one order for every
 * implementation, so the same bad call gets the same code from each.
 */
import { posixError } from '../core/errors.js'
import type { FileHandle, FileStat, OpenFlags, SnapshotFs, TimeArg, XattrFlag } from '../core/snapshotter.js'
import { checkLength, checkMode, checkOwner, checkTime, isUint } from './path.js'
import { toNs } from './times.js'
import { checkXattrName, checkXattrValue, isOverlayPrivate, userXattrAllowed } from './xattrname.js'

const FLAGS: readonly OpenFlags[] = ['r', 'r+', 'w', 'wx', 'a']
const NODE_TYPES = ['fifo', 'char', 'block'] as const
export type NodeType = (typeof NODE_TYPES)[number]

/** read/write arguments: a Buffer, and a range inside it, at a position ≥ 0. */
function checkIoArgs(syscall: string, p: string, io: { buf: unknown; offset: unknown; length: unknown; position: unknown }): void {
  const { buf, offset, length, position } = io
  if (!Buffer.isBuffer(buf) || !isUint(offset) || !isUint(length) || !isUint(position)) throw posixError('EINVAL', syscall, p)
  if (offset + length > buf.length) throw posixError('EINVAL', syscall, p)
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}

export abstract class CheckedHandle implements FileHandle {
  readonly path: string
  readonly flags: OpenFlags
  #closed = false
  #onClose: (() => void) | undefined

  constructor(path: string, flags: OpenFlags) {
    this.path = path
    this.flags = flags
  }

  /** Called once by CheckedFs.open: the handle leaves the file system's set when it closes. */
  track(onClose: () => void): void {
    this.#onClose = onClose
  }

  /** EBADF once closed, or for a read on a write-only handle and the reverse. */
  #check(syscall: string, access: 'read' | 'write'): void {
    const ok = access === 'read' ? this.flags === 'r' || this.flags === 'r+' : this.flags !== 'r'
    if (this.#closed || !ok) throw posixError('EBADF', syscall, this.path)
  }

  async read(buf: Buffer, offset: number, length: number, position: number): Promise<number> {
    checkIoArgs('read', this.path, { buf, offset, length, position })
    this.#check('read', 'read')
    return this._read(buf, offset, length, position)
  }

  async write(buf: Buffer, offset: number, length: number, position: number): Promise<number> {
    checkIoArgs('write', this.path, { buf, offset, length, position })
    this.#check('write', 'write')
    return this._write(buf, offset, length, position)
  }

  async truncate(len: number): Promise<void> {
    checkLength('ftruncate', this.path, len)
    this.#check('ftruncate', 'write')
    return this._truncate(len)
  }

  async sync(): Promise<void> {
    if (this.#closed) throw posixError('EBADF', 'fsync', this.path)
    return this._sync()
  }

  async stat(): Promise<FileStat> {
    if (this.#closed) throw posixError('EBADF', 'fstat', this.path)
    return this._stat()
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#onClose?.()
    await this._close()
  }

  protected abstract _read(buf: Buffer, offset: number, length: number, position: number): Promise<number>
  protected abstract _write(buf: Buffer, offset: number, length: number, position: number): Promise<number>
  protected abstract _truncate(len: number): Promise<void>
  protected abstract _sync(): Promise<void>
  protected abstract _stat(): Promise<FileStat>
  protected abstract _close(): Promise<void>
}

export abstract class CheckedFs implements SnapshotFs {
  readonly readOnly: boolean
  readonly #handles = new Set<CheckedHandle>()
  #closed = false

  constructor(readOnly: boolean) {
    this.readOnly = readOnly
  }

  #usable(syscall: string, p: string, write: boolean): void {
    if (this.#closed) throw posixError('EBADF', syscall, p)
    if (write && this.readOnly) throw posixError('EROFS', syscall, p)
  }

  async stat(p: string): Promise<FileStat> {
    this.#usable('stat', p, false)
    return this._stat(p)
  }

  async lstat(p: string): Promise<FileStat> {
    this.#usable('lstat', p, false)
    return this._lstat(p)
  }

  async readdir(p: string): Promise<string[]> {
    this.#usable('scandir', p, false)
    return this._readdir(p)
  }

  async readFile(p: string): Promise<Buffer> {
    this.#usable('open', p, false)
    return this._readFile(p)
  }

  async writeFile(p: string, data: Buffer | string, opts: { mode?: number } = {}): Promise<void> {
    const buf = typeof data === 'string' ? Buffer.from(data) : data
    if (!Buffer.isBuffer(buf)) throw posixError('EINVAL', 'write', p)
    const mode = opts.mode ?? 0o644
    checkMode('open', p, mode)
    this.#usable('open', p, true)
    return this._writeFile(p, buf, mode)
  }

  async open(p: string, flags: OpenFlags, mode = 0o644): Promise<FileHandle> {
    if (!FLAGS.includes(flags)) throw posixError('EINVAL', 'open', p)
    checkMode('open', p, mode)
    this.#usable('open', p, flags !== 'r')
    const fh = await this._open(p, flags, mode)
    this.#handles.add(fh)
    fh.track(() => this.#handles.delete(fh))
    return fh
  }

  async mkdir(p: string, opts: { mode?: number; recursive?: boolean } = {}): Promise<void> {
    const mode = opts.mode ?? 0o755
    checkMode('mkdir', p, mode)
    this.#usable('mkdir', p, true)
    return opts.recursive ? this._mkdirp(p, mode) : this._mkdir(p, mode)
  }

  async rmdir(p: string): Promise<void> {
    this.#usable('rmdir', p, true)
    return this._rmdir(p)
  }

  async unlink(p: string): Promise<void> {
    this.#usable('unlink', p, true)
    return this._unlink(p)
  }

  async rm(p: string, opts: { recursive?: boolean } = {}): Promise<void> {
    this.#usable('rm', p, true)
    return this._rm(p, opts.recursive === true)
  }

  async rename(from: string, to: string): Promise<void> {
    this.#usable('rename', from, true)
    return this._rename(from, to)
  }

  async symlink(target: string, p: string): Promise<void> {
    if (typeof target !== 'string' || target.length === 0 || target.includes('\0')) {
      throw posixError(typeof target === 'string' && target.length === 0 ? 'ENOENT' : 'EINVAL', 'symlink', p)
    }
    this.#usable('symlink', p, true)
    return this._symlink(target, p)
  }

  async readlink(p: string): Promise<string> {
    this.#usable('readlink', p, false)
    return this._readlink(p)
  }

  async link(existing: string, p: string): Promise<void> {
    this.#usable('link', existing, true)
    return this._link(existing, p)
  }

  async chmod(p: string, mode: number): Promise<void> {
    checkMode('chmod', p, mode)
    this.#usable('chmod', p, true)
    return this._chmod(p, mode & 0o7777)
  }

  async chown(p: string, uid: number, gid: number): Promise<void> {
    checkOwner('chown', p, uid, gid)
    this.#usable('chown', p, true)
    return this._chown(p, uid, gid)
  }

  async utimes(p: string, atime: TimeArg, mtime: TimeArg): Promise<void> {
    checkTime('utime', p, atime)
    checkTime('utime', p, mtime)
    this.#usable('utime', p, true)
    return this._utimes(p, toNs(atime), toNs(mtime))
  }

  async lutimes(p: string, atime: TimeArg, mtime: TimeArg): Promise<void> {
    checkTime('lutime', p, atime)
    checkTime('lutime', p, mtime)
    this.#usable('lutime', p, true)
    return this._lutimes(p, toNs(atime), toNs(mtime))
  }

  /** A name the caller may use: its namespace served, and not overlayfs's own. */
  #xattrName(syscall: string, p: string, name: unknown): string {
    checkXattrName(syscall, p, name)
    if (isOverlayPrivate(name as string)) throw posixError('EOPNOTSUPP', syscall, p)
    return name as string
  }

  async getxattr(p: string, name: string): Promise<Buffer> {
    this.#xattrName('lgetxattr', p, name)
    this.#usable('lgetxattr', p, false)
    // Linux: user.* exists only on files and directories; elsewhere reading it finds nothing.
    if (name.startsWith('user.') && !userXattrAllowed((await this._lstat(p)).type)) throw posixError('ENODATA', 'lgetxattr', p)
    return this._getxattr(p, name)
  }

  async setxattr(p: string, name: string, value: Buffer, flags?: XattrFlag): Promise<void> {
    this.#xattrName('lsetxattr', p, name)
    checkXattrValue('lsetxattr', p, value, flags)
    this.#usable('lsetxattr', p, true)
    if (name.startsWith('user.') && !userXattrAllowed((await this._lstat(p)).type)) throw posixError('EPERM', 'lsetxattr', p)
    return this._setxattr(p, name, value, flags)
  }

  async listxattr(p: string): Promise<string[]> {
    this.#usable('llistxattr', p, false)
    const names = await this._listxattr(p)
    return names.filter((n) => !isOverlayPrivate(n)).sort(byteOrder)
  }

  async removexattr(p: string, name: string): Promise<void> {
    this.#xattrName('lremovexattr', p, name)
    this.#usable('lremovexattr', p, true)
    if (name.startsWith('user.') && !userXattrAllowed((await this._lstat(p)).type)) throw posixError('EPERM', 'lremovexattr', p)
    return this._removexattr(p, name)
  }

  async truncate(p: string, len: number): Promise<void> {
    checkLength('truncate', p, len)
    this.#usable('truncate', p, true)
    return this._truncate(p, len)
  }

  async mknod(p: string, type: NodeType, mode: number, rdev = 0): Promise<void> {
    checkMode('mknod', p, mode)
    if (!NODE_TYPES.includes(type)) throw posixError('EINVAL', 'mknod', p)
    if (!Number.isSafeInteger(rdev) || rdev < 0) throw posixError('EINVAL', 'mknod', p)
    this.#usable('mknod', p, true)
    return this._mknod(p, type, mode, type === 'fifo' ? 0 : rdev)
  }

  /** Closes every open handle, then the file system itself; twice is fine. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const fh of [...this.#handles]) await fh.close()
    await this._close()
  }

  protected abstract _stat(p: string): Promise<FileStat>
  protected abstract _lstat(p: string): Promise<FileStat>
  protected abstract _readdir(p: string): Promise<string[]>
  protected abstract _readFile(p: string): Promise<Buffer>
  protected abstract _writeFile(p: string, data: Buffer, mode: number): Promise<void>
  protected abstract _open(p: string, flags: OpenFlags, mode: number): Promise<CheckedHandle>
  protected abstract _mkdir(p: string, mode: number): Promise<void>
  /** mkdir -p: every missing directory of the path. */
  protected abstract _mkdirp(p: string, mode: number): Promise<void>
  protected abstract _rmdir(p: string): Promise<void>
  protected abstract _unlink(p: string): Promise<void>
  protected abstract _rm(p: string, recursive: boolean): Promise<void>
  protected abstract _rename(from: string, to: string): Promise<void>
  protected abstract _symlink(target: string, p: string): Promise<void>
  protected abstract _readlink(p: string): Promise<string>
  protected abstract _link(existing: string, p: string): Promise<void>
  /** `mode` holds permission bits only (07777). */
  protected abstract _chmod(p: string, mode: number): Promise<void>
  /** lchown semantics: a symlink's own owner. */
  protected abstract _chown(p: string, uid: number, gid: number): Promise<void>
  /** Times in nanoseconds; follows a final symlink. */
  protected abstract _utimes(p: string, atimeNs: bigint, mtimeNs: bigint): Promise<void>
  /** As _utimes, on a symlink itself. */
  protected abstract _lutimes(p: string, atimeNs: bigint, mtimeNs: bigint): Promise<void>
  /**
   * The xattr calls see a valid name in a served namespace (never overlayfs's
   * own), a valid value and flags; `user.*` only on files and directories.
   * Missing: ENODATA; `create` over an existing name: EEXIST; `replace` of a
   * missing one: ENODATA.
   */
  protected abstract _getxattr(p: string, name: string): Promise<Buffer>
  protected abstract _setxattr(p: string, name: string, value: Buffer, flags: XattrFlag | undefined): Promise<void>
  /** Every name, in any order (the base filters and sorts). */
  protected abstract _listxattr(p: string): Promise<string[]>
  protected abstract _removexattr(p: string, name: string): Promise<void>
  protected abstract _truncate(p: string, len: number): Promise<void>
  /** `rdev` is 0 for a FIFO. */
  protected abstract _mknod(p: string, type: NodeType, mode: number, rdev: number): Promise<void>
  /** Runs once, after every handle is closed. */
  protected abstract _close(): Promise<void>
}
