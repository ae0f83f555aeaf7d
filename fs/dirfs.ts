/**
 * SnapshotFs over a real directory. Paths resolve inside the root as under
 * chroot: each component is looked up in turn, `..` stops at the root, and a
 * symlink's target (absolute or relative) is resolved again from inside the
 * root, so no path ever leads outside it. Errors carry POSIX codes and name
 * the path as the caller gave it, never the host path.
 */
import * as fs from 'node:fs'
import * as fsp from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { copyTree } from './copytree.js'
import { flushMode, fsyncPath } from '../core/durable.js'
import { errnoCode, posixError, type PosixCode } from '../core/errors.js'
import { mknodAt } from './mknod.js'
import type { FileStat, FileType, OpenFlags, XattrFlag } from '../core/snapshotter.js'
import { setHostTimesAsync } from './hosttimes.js'
import { hostGetXattr, hostListXattrs, hostRemoveXattr, hostSetXattr, hostXattrsAsync } from './hostxattr.js'
import { nsToMs } from './times.js'
import { CheckedFs, CheckedHandle, type NodeType } from './checked.js'
import { type AsyncPathLookup, type PathLookup, resolveInRoot, resolveInRootAsync, splitPath } from './path.js'

export function toFileStat(st: fs.BigIntStats): FileStat {
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
    mode: Number(st.mode) & 0o7777,
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: Number(st.size),
    nlink: Number(st.nlink),
    ino: Number(st.ino),
    mtimeMs: nsToMs(st.mtimeNs),
    mtimeNs: st.mtimeNs,
    atimeNs: st.atimeNs,
    ctimeNs: st.ctimeNs,
  }
  if (type === 'char' || type === 'block') out.rdev = Number(st.rdev)
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
  st?: fs.BigIntStats
}

export interface DirFsOptions {
  /**
   * Only asynchronous calls, never a synchronous one: for a directory this
   * very process serves (a FUSE mount of its own, core/fuse), where a
   * blocking lstat would wait for the event loop it blocks. Slower on a
   * plain directory, which is why it is not the default.
   */
  neverBlock?: boolean
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

/**
 * writeFile of up to this many bytes runs in synchronous calls, as do the
 * metadata calls (mkdir, symlink, chmod, chown, utimes): one system call each,
 * where a trip through libuv's thread pool costs more than the call itself,
 * and an image layer makes thousands of them.
 */
const SYNC_WRITE_MAX = 1 << 20

/** One entry as the resolver sees it: its host path and lstat (the root's is taken only when asked for). */
interface HostNode {
  real: string
  st?: fs.BigIntStats
}

export class DirFs extends CheckedFs {
  readonly root: string
  readonly #onClose: (() => Promise<void>) | undefined
  readonly #look: PathLookup<HostNode>
  readonly #asyncLook: AsyncPathLookup<HostNode> | undefined
  /** xattr calls: synchronous (fast) unless the file system must never block the event loop. */
  readonly #xattrs: typeof hostXattrsAsync

  constructor(root: string, opts: DirFsOptions = {}) {
    super(opts.readOnly ?? false)
    this.root = root
    this.#onClose = opts.onClose
    this.#look = {
      root: { real: root },
      child: (dir, name) => {
        const real = join(dir.real, name)
        try {
          return { real, st: fs.lstatSync(real, { bigint: true }) }
        } catch (err) {
          if (errnoCode(err) === 'ENOENT') return undefined
          throw err
        }
      },
      linkTarget: (n) => (n.st?.isSymbolicLink() ? fs.readlinkSync(n.real) : undefined),
      isDir: (n) => n.st?.isDirectory() ?? true,
    }
    this.#asyncLook = opts.neverBlock
      ? {
          root: { real: root },
          child: async (dir, name) => {
            const real = join(dir.real, name)
            try {
              return { real, st: await fsp.lstat(real, { bigint: true }) }
            } catch (err) {
              if (errnoCode(err) === 'ENOENT') return undefined
              throw err
            }
          },
          linkTarget: async (n) => (n.st?.isSymbolicLink() ? fsp.readlink(n.real) : undefined),
          isDir: (n) => n.st?.isDirectory() ?? true,
        }
      : undefined
    this.#xattrs = opts.neverBlock
      ? hostXattrsAsync
      : {
          get: async (path, name) => hostGetXattr(path, name),
          set: async (path, name, value) => hostSetXattr(path, name, value),
          list: async (path) => hostListXattrs(path),
          remove: async (path, name) => hostRemoveXattr(path, name),
        }
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

  /** Resolves `p` inside the root (fs/path.ts resolveInRoot); a missing last component has no `st`. */
  async #resolve(syscall: string, p: string, followLast: boolean): Promise<Resolved> {
    const w = this.#asyncLook
      ? await resolveInRootAsync(this.#asyncLook, syscall, p, followLast)
      : resolveInRoot(this.#look, syscall, p, followLast)
    const dir = w.dirs.at(-1)?.real ?? this.root
    if (w.node === undefined) return { real: join(dir, w.name), dir, name: w.name }
    const st = w.node.st ?? (this.#asyncLook ? await fsp.lstat(w.node.real, { bigint: true }) : fs.lstatSync(w.node.real, { bigint: true }))
    return { real: w.node.real, dir, name: w.name, st }
  }

  async #existing(syscall: string, p: string, followLast: boolean): Promise<Resolved & { st: fs.BigIntStats }> {
    const r = await this.#resolve(syscall, p, followLast)
    if (!r.st) throw posixError('ENOENT', syscall, p)
    return r as Resolved & { st: fs.BigIntStats }
  }

  /** A path that names an entry in a directory (not the root itself). */
  async #named(syscall: string, p: string, rootCode: PosixCode): Promise<Resolved> {
    const r = await this.#resolve(syscall, p, false)
    if (r.name === '') throw posixError(rootCode, syscall, p)
    return r
  }

  protected async _stat(p: string): Promise<FileStat> {
    return this.#call('stat', p, async () => toFileStat((await this.#existing('stat', p, true)).st))
  }

  protected async _lstat(p: string): Promise<FileStat> {
    return this.#call('lstat', p, async () => toFileStat((await this.#existing('lstat', p, false)).st))
  }

  protected async _readdir(p: string): Promise<string[]> {
    return this.#call('scandir', p, async () => {
      const r = await this.#existing('scandir', p, true)
      if (!r.st.isDirectory()) throw posixError('ENOTDIR', 'scandir', p)
      return (await fsp.readdir(r.real)).sort()
    })
  }

  protected async _readFile(p: string): Promise<Buffer> {
    return this.#call('open', p, async () => {
      const r = await this.#existing('open', p, true)
      if (r.st.isDirectory()) throw posixError('EISDIR', 'read', p)
      return fsp.readFile(r.real, { flag: fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW })
    })
  }

  protected async _writeFile(p: string, buf: Buffer, mode: number): Promise<void> {
    // A small file in synchronous calls: one trip instead of four through libuv's pool, which on a
    // layer of thousands of small files is most of the time (as in fs/copytree.ts).
    if (buf.length <= SYNC_WRITE_MAX && !this.#asyncLook) {
      return this.#call('open', p, async () => {
        const r = await this.#resolve('open', p, true)
        if (r.name === '' || r.st?.isDirectory()) throw posixError('EISDIR', 'open', p)
        const fd = fs.openSync(r.real, FLAGS.w | fs.constants.O_NOFOLLOW, 0o600)
        try {
          if (!r.st) fs.fchmodSync(fd, mode & 0o7777)
          let off = 0
          while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off, off)
        } finally {
          fs.closeSync(fd)
        }
      })
    }
    const fh = await this.open(p, 'w', mode)
    try {
      let off = 0
      while (off < buf.length) off += await fh.write(buf, off, buf.length - off, off)
    } finally {
      await fh.close()
    }
  }

  protected async _open(p: string, flags: OpenFlags, mode: number): Promise<DirFileHandle> {
    const writes = flags !== 'r'
    return this.#call('open', p, async () => {
      const r = await this.#resolve('open', p, true)
      if (r.name === '' || r.st?.isDirectory()) {
        if (writes) throw posixError('EISDIR', 'open', p)
      }
      if (r.st && flags === 'wx') throw posixError('EEXIST', 'open', p)
      if (!r.st && (flags === 'r' || flags === 'r+')) throw posixError('ENOENT', 'open', p)
      const handle = await fsp.open(r.real, FLAGS[flags] | fs.constants.O_NOFOLLOW, 0o600)
      if (!r.st) await handle.chmod(mode & 0o7777)
      return new DirFileHandle(handle, { path: p, dir: dirname(r.real) }, flags)
    })
  }

  protected async _mkdir(p: string, mode: number): Promise<void> {
    return this.#call('mkdir', p, async () => {
      const r = await this.#resolve('mkdir', p, false)
      if (r.st || r.name === '') throw posixError('EEXIST', 'mkdir', p)
      if (this.#asyncLook) {
        await fsp.mkdir(r.real, { mode: 0o700 })
        await fsp.chmod(r.real, mode & 0o7777)
      } else {
        fs.mkdirSync(r.real, { mode: 0o700 })
        fs.chmodSync(r.real, mode & 0o7777)
      }
    })
  }

  protected async _mkdirp(p: string, mode: number): Promise<void> {
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

  protected async _rmdir(p: string): Promise<void> {
    return this.#call('rmdir', p, async () => {
      const r = await this.#named('rmdir', p, 'EBUSY')
      if (!r.st) throw posixError('ENOENT', 'rmdir', p)
      if (!r.st.isDirectory()) throw posixError('ENOTDIR', 'rmdir', p)
      await fsp.rmdir(r.real)
    })
  }

  protected async _unlink(p: string): Promise<void> {
    return this.#call('unlink', p, async () => {
      const r = await this.#named('unlink', p, 'EISDIR')
      if (!r.st) throw posixError('ENOENT', 'unlink', p)
      if (r.st.isDirectory()) throw posixError('EISDIR', 'unlink', p)
      await fsp.unlink(r.real)
    })
  }

  protected async _rm(p: string, recursive: boolean): Promise<void> {
    return this.#call('rm', p, async () => {
      const r = await this.#named('rm', p, 'EBUSY')
      if (!r.st) throw posixError('ENOENT', 'rm', p)
      if (r.st.isDirectory() && !recursive) throw posixError('EISDIR', 'rm', p)
      await fsp.rm(r.real, { recursive: true })
    })
  }

  protected async _rename(from: string, to: string): Promise<void> {
    return this.#call(
      'rename',
      from,
      async () => {
        const a = await this.#named('rename', from, 'EBUSY')
        const b = await this.#named('rename', to, 'EBUSY')
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

  protected async _symlink(target: string, p: string): Promise<void> {
    return this.#call('symlink', p, async () => {
      const r = await this.#named('symlink', p, 'EEXIST')
      if (r.st) throw posixError('EEXIST', 'symlink', p)
      if (this.#asyncLook) await fsp.symlink(target, r.real)
      else fs.symlinkSync(target, r.real)
    })
  }

  protected async _readlink(p: string): Promise<string> {
    return this.#call('readlink', p, async () => {
      const r = await this.#existing('readlink', p, false)
      if (!r.st.isSymbolicLink()) throw posixError('EINVAL', 'readlink', p)
      return fsp.readlink(r.real)
    })
  }

  protected async _link(existing: string, p: string): Promise<void> {
    return this.#call(
      'link',
      existing,
      async () => {
        const a = await this.#existing('link', existing, false)
        if (a.st.isDirectory()) throw posixError('EPERM', 'link', existing, p)
        const b = await this.#named('link', p, 'EEXIST')
        if (b.st) throw posixError('EEXIST', 'link', existing, p)
        await fsp.link(a.real, b.real)
      },
      p,
    )
  }

  protected async _chmod(p: string, mode: number): Promise<void> {
    return this.#call('chmod', p, async () => {
      const r = await this.#existing('chmod', p, true)
      return this.#asyncLook ? fsp.chmod(r.real, mode) : fs.chmodSync(r.real, mode)
    })
  }

  protected async _chown(p: string, uid: number, gid: number): Promise<void> {
    return this.#call('chown', p, async () => {
      const r = await this.#existing('chown', p, false)
      return this.#asyncLook ? fsp.lchown(r.real, uid, gid) : fs.lchownSync(r.real, uid, gid)
    })
  }

  protected async _utimes(p: string, atimeNs: bigint, mtimeNs: bigint): Promise<void> {
    // The path is resolved inside the root, so its final symlink is already followed.
    return this.#call('utime', p, async () =>
      setHostTimesAsync(
        (await this.#existing('utime', p, true)).real,
        { atimeNs, mtimeNs },
        { follow: false, neverBlock: this.#asyncLook !== undefined },
      ),
    )
  }

  protected async _lutimes(p: string, atimeNs: bigint, mtimeNs: bigint): Promise<void> {
    return this.#call('lutime', p, async () =>
      setHostTimesAsync(
        (await this.#existing('lutime', p, false)).real,
        { atimeNs, mtimeNs },
        { follow: false, neverBlock: this.#asyncLook !== undefined },
      ),
    )
  }

  protected async _getxattr(p: string, name: string): Promise<Buffer> {
    return this.#call('lgetxattr', p, async () => {
      const v = await this.#xattrs.get((await this.#existing('lgetxattr', p, false)).real, name)
      if (v === undefined) throw posixError('ENODATA', 'lgetxattr', p)
      return v
    })
  }

  protected async _setxattr(p: string, name: string, value: Buffer, flags: XattrFlag | undefined): Promise<void> {
    return this.#call('lsetxattr', p, async () => {
      const real = (await this.#existing('lsetxattr', p, false)).real
      // The binding has no XATTR_CREATE/XATTR_REPLACE: the check runs first (a race only between two writers of one name).
      if (flags !== undefined) {
        const had = (await this.#xattrs.get(real, name)) !== undefined
        if (flags === 'create' && had) throw posixError('EEXIST', 'lsetxattr', p)
        if (flags === 'replace' && !had) throw posixError('ENODATA', 'lsetxattr', p)
      }
      await this.#xattrs.set(real, name, value)
    })
  }

  protected async _listxattr(p: string): Promise<string[]> {
    return this.#call('llistxattr', p, async () => this.#xattrs.list((await this.#existing('llistxattr', p, false)).real))
  }

  protected async _removexattr(p: string, name: string): Promise<void> {
    return this.#call('lremovexattr', p, async () => {
      const real = (await this.#existing('lremovexattr', p, false)).real
      if ((await this.#xattrs.get(real, name)) === undefined) throw posixError('ENODATA', 'lremovexattr', p)
      await this.#xattrs.remove(real, name)
    })
  }

  protected async _truncate(p: string, len: number): Promise<void> {
    return this.#call('truncate', p, async () => {
      const r = await this.#existing('truncate', p, true)
      if (r.st.isDirectory()) throw posixError('EISDIR', 'truncate', p)
      await fsp.truncate(r.real, len)
    })
  }

  protected async _mknod(p: string, type: NodeType, mode: number, rdev: number): Promise<void> {
    return this.#call('mknod', p, async () => {
      const r = await this.#named('mknod', p, 'EEXIST')
      if (r.st) throw posixError('EEXIST', 'mknod', p)
      await mknodAt(r.real, type, mode, rdev)
    })
  }

  protected async _close(): Promise<void> {
    await this.#onClose?.()
  }
}

/** rename(2)'s rules for replacing an existing target. */
function checkReplace(src: fs.BigIntStats, dst: fs.BigIntStats, from: string, to: string): void {
  if (src.isDirectory() && !dst.isDirectory()) throw posixError('ENOTDIR', 'rename', from, to)
  if (!src.isDirectory() && dst.isDirectory()) throw posixError('EISDIR', 'rename', from, to)
}

/**
 * What mv(1) does when the kernel answers EXDEV (overlayfs renaming a
 * directory from a lower layer): copy to a sibling of the target, rename that
 * over the target, then remove the source.
 */
async function moveAcross(src: string, dst: Resolved, st: fs.BigIntStats): Promise<void> {
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

class DirFileHandle extends CheckedHandle {
  readonly #fh: fsp.FileHandle
  /** The real directory that held the file when it was opened: its entry is flushed with it. */
  readonly #dir: string

  constructor(fh: fsp.FileHandle, where: { path: string; dir: string }, flags: OpenFlags) {
    super(where.path, flags)
    this.#fh = fh
    this.#dir = where.dir
  }

  protected async _sync(): Promise<void> {
    if (flushMode() === 'off') return
    await this.#fh.sync()
    // A new file's name lives in its directory: without this it may vanish with its data.
    await fsyncPath(this.#dir)
  }

  protected async _read(buf: Buffer, offset: number, length: number, position: number): Promise<number> {
    return (await this.#fh.read(buf, offset, length, position)).bytesRead
  }

  protected async _write(buf: Buffer, offset: number, length: number, position: number): Promise<number> {
    return (await this.#fh.write(buf, offset, length, position)).bytesWritten
  }

  protected async _truncate(len: number): Promise<void> {
    await this.#fh.truncate(len)
  }

  protected async _stat(): Promise<FileStat> {
    return toFileStat(await this.#fh.stat({ bigint: true }))
  }

  protected async _close(): Promise<void> {
    await this.#fh.close()
  }
}
