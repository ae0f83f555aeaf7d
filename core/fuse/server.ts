/**
 * A FUSE server for any SnapshotFs: the kernel's low-level, inode-based
 * requests answered through the path-based SnapshotFs.
 *
 * - Node ids are the snapshot's own inode numbers (the root's swapped with
 *   1, the id the kernel gives the root), and the attributes carry them
 *   unchanged, so hard links show one inode and 64-bit numbers survive.
 * - The server keeps, for each node the kernel knows (looked up and not yet
 *   forgotten), the paths it was reached by; a rename moves them, an unlink
 *   drops one. Open files are SnapshotFs file handles, which row keys by
 *   inode, so an open file survives a rename or an unlink of its name.
 * - Every handler is asynchronous and many run at once; nothing here blocks
 *   the event loop on the kernel, which would wait for this very loop.
 * - Writes go through the kernel's writeback cache; the kernel then orders
 *   and sizes them, flushes them at close(2) and before FSYNC, and keeps
 *   mtime. An fsync reaches the handle's `sync()`, when it has one.
 */
import { statfs } from 'node:fs/promises'
import type { FileHandle, FileStat, SnapshotFs } from '../snapshotter.js'
import { E, errnoOf } from './errno.js'
import {
  ATTR_OUT,
  Attr,
  DIRENT_HEADER,
  ENTRY_OUT,
  FOPEN_KEEP_CACHE,
  GETATTR_FH,
  Init,
  KERNEL_MAJOR,
  KERNEL_MINOR,
  OUT_HEADER,
  Op,
  RENAME_NOREPLACE,
  ROOT_ID,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  S_IFSOCK,
  align8,
  cString,
  direntType,
  parseRequest,
  putAttr,
  putEntry,
  putOutHeader,
  type KernelAttr,
  type Request,
  type Validity,
} from './protocol.js'
import { Session, unmountFuse } from './session.js'

/** Extended-attribute and nanosecond-time calls a SnapshotFs may have (feature-tested at run time). */
interface XattrFs {
  getxattr(p: string, name: string): Promise<Buffer>
  setxattr(p: string, name: string, value: Buffer, flags?: 'create' | 'replace'): Promise<void>
  listxattr(p: string): Promise<string[]>
  removexattr(p: string, name: string): Promise<void>
}
interface NsTimesFs {
  lutimes(p: string, atimeNs: bigint, mtimeNs: bigint): Promise<void>
}
type StatNs = FileStat & { mtimeNs?: bigint; atimeNs?: bigint; ctimeNs?: bigint }

export interface ServeOptions {
  /** Source shown in /proc/mounts (default "strata"). */
  fsName?: string
  /** Reader threads on /dev/fuse (default 2). */
  readers?: number
  /** A directory whose file system's free space statfs reports (the store's root); zeros without. */
  statfsPath?: string
  /** How long the kernel may cache names and attributes, in seconds (default 1). */
  cacheSeconds?: number
  /** The kernel's writeback cache for writes (default true). */
  writebackCache?: boolean
}

const NAME_MAX = 255
/** Largest file offset, as for every number this server hands SnapshotFs: a safe integer. */
const MAX_FILE_SIZE = Number.MAX_SAFE_INTEGER
const O_ACCMODE = 3
const O_EXCL = 0o200
const O_RDONLY = 0
const S_ISGID = 0o2000

interface Node {
  ino: number
  paths: Set<string>
  lookups: number
}

interface Dir {
  entries: { name: string; st: FileStat | undefined }[]
}

class Errno extends Error {
  readonly errno: number
  constructor(errno: number) {
    super(`errno ${errno}`)
    this.errno = errno
  }
}

function fail(errno: number): never {
  throw new Errno(errno)
}

const TYPE_BITS: Record<FileStat['type'], number> = {
  file: S_IFREG,
  dir: S_IFDIR,
  symlink: S_IFLNK,
  char: S_IFCHR,
  block: S_IFBLK,
  fifo: S_IFIFO,
  socket: S_IFSOCK,
}

function msToNs(ms: number): bigint {
  const whole = Math.floor(ms)
  return BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1e6))
}

function kernelAttr(st: StatNs): KernelAttr {
  const mtimeNs = st.mtimeNs ?? msToNs(st.mtimeMs)
  return {
    ino: BigInt(st.ino),
    size: st.size,
    blocks: Math.ceil(st.size / 512),
    atimeNs: st.atimeNs ?? mtimeNs,
    mtimeNs,
    ctimeNs: st.ctimeNs ?? mtimeNs,
    mode: TYPE_BITS[st.type] | (st.mode & 0o7777),
    nlink: st.nlink,
    uid: st.uid,
    gid: st.gid,
    rdev: st.rdev ?? 0,
    blksize: 4096,
  }
}

function join(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`
}

function checkName(raw: Buffer): void {
  if (raw.length > NAME_MAX) fail(E.ENAMETOOLONG)
}

export class FuseServer {
  readonly #fs: SnapshotFs
  readonly #opts: ServeOptions
  readonly #valid: Validity
  readonly #nodes = new Map<bigint, Node>()
  readonly #files = new Map<bigint, FileHandle>()
  readonly #dirs = new Map<bigint, Dir>()
  #nextFh = 1n
  #rootIno = 1
  #session: Session | undefined
  #unmounting: Promise<void> | undefined

  private constructor(fs: SnapshotFs, opts: ServeOptions) {
    this.#fs = fs
    this.#opts = opts
    const secs = opts.cacheSeconds ?? 1
    this.#valid = { sec: Math.floor(secs), nsec: Math.round((secs % 1) * 1e9) }
  }

  /** Serves `fs` at `mountpoint` (an existing directory) until `unmount()`. */
  static async serve(fs: SnapshotFs, mountpoint: string, opts: ServeOptions = {}): Promise<FuseServer> {
    const server = new FuseServer(fs, opts)
    const root = await fs.lstat('/')
    server.#rootIno = root.ino
    server.#nodes.set(ROOT_ID, { ino: root.ino, paths: new Set(['/']), lookups: 1 })
    server.#session = await Session.mount(mountpoint, (buf) => server.#dispatch(buf), {
      fsName: opts.fsName,
      readOnly: fs.readOnly,
      readers: opts.readers,
    })
    return server
  }

  get mountpoint(): string {
    return this.#session!.mountpoint
  }

  /** Files the kernel holds open on the mount (OPEN not yet RELEASEd). */
  get openFiles(): number {
    return this.#files.size
  }

  /** The FUSE connection number (see /sys/fs/fuse/connections). */
  get connection(): number | undefined {
    return this.#session?.device
  }

  /** Resolves once the kernel has ended the connection (unmounted or aborted). */
  get ended(): Promise<void> {
    return this.#session!.ended
  }

  /**
   * Unmounts and waits for the connection to end, then closes every handle
   * still open. A mount still in use answers `busy` (nothing changes) unless
   * `lazy`, which detaches it and aborts the connection if it outlives
   * `timeoutMs` (default 2000), so no caller ever waits on a hung mount.
   */
  async unmount(opts: { lazy?: boolean; timeoutMs?: number } = {}): Promise<void> {
    if (this.#unmounting !== undefined) return this.#unmounting
    const s = this.#session!
    const p = (async () => {
      await unmountFuse(s.mountpoint, opts.lazy)
      const timeout = opts.timeoutMs ?? 2000
      let timer: NodeJS.Timeout | undefined
      const timedOut = await Promise.race([
        s.ended.then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeout))),
      ])
      clearTimeout(timer)
      if (timedOut) {
        s.abortSync()
        await s.ended
      }
      await this.#closeAll()
    })()
    this.#unmounting = p
    p.catch(() => {
      this.#unmounting = undefined
    })
    return p
  }

  /** Kills the connection at once: every request fails with ENOTCONN (the last resort). */
  abort(): void {
    this.#session?.abortSync()
  }

  async #closeAll(): Promise<void> {
    const files = [...this.#files.values()]
    this.#files.clear()
    this.#dirs.clear()
    for (const h of files) await h.close().catch(() => {})
  }

  #dispatch(buf: Buffer): void {
    const req = parseRequest(buf)
    switch (req.opcode) {
      case Op.FORGET:
        this.#forget(req.nodeid, Number(req.body.readBigUInt64LE(0)))
        return
      case Op.BATCH_FORGET: {
        const count = req.body.readUInt32LE(0)
        for (let i = 0; i < count; i++) {
          const off = 8 + i * 16
          this.#forget(req.body.readBigUInt64LE(off), Number(req.body.readBigUInt64LE(off + 8)))
        }
        return
      }
      case Op.INTERRUPT:
        return
    }
    this.#handle(req).then(
      (reply) => {
        putOutHeader(reply, req.unique, 0)
        this.#session!.reply(reply)
      },
      (err: unknown) => {
        const errno = err instanceof Errno ? err.errno : errnoOf(err)
        if (errno === E.EIO && process.env.STRATA_FUSE_DEBUG) console.error('strata fuse:', req.opcode, err)
        const reply = Buffer.alloc(OUT_HEADER)
        putOutHeader(reply, req.unique, -errno)
        this.#session!.reply(reply)
      },
    )
  }

  #forget(nodeid: bigint, n: number): void {
    if (nodeid === ROOT_ID) return
    const node = this.#nodes.get(nodeid)
    if (!node) return
    node.lookups -= n
    if (node.lookups <= 0) this.#nodes.delete(nodeid)
  }

  #nodeidOf(ino: number): bigint {
    if (ino === this.#rootIno) return ROOT_ID
    if (ino === 1) return BigInt(this.#rootIno)
    return BigInt(ino)
  }

  /** A path the node is known by; ENOENT once every name the kernel used is gone. */
  #path(nodeid: bigint): string {
    const node = this.#nodes.get(nodeid)
    if (!node) fail(E.ENOENT)
    for (const p of node.paths) return p
    fail(E.ENOENT)
  }

  /** Counts one kernel lookup of `st` at `p`, and returns its node id. */
  #remember(st: FileStat, p: string): bigint {
    const id = this.#nodeidOf(st.ino)
    let node = this.#nodes.get(id)
    if (!node) {
      node = { ino: st.ino, paths: new Set(), lookups: 0 }
      this.#nodes.set(id, node)
    }
    node.paths.add(p)
    node.lookups++
    return id
  }

  #entryReply(st: FileStat, p: string, extra = 0): Buffer {
    const id = this.#remember(st, p)
    const out = Buffer.alloc(OUT_HEADER + ENTRY_OUT + extra)
    putEntry(out, OUT_HEADER, id, kernelAttr(st), this.#valid)
    return out
  }

  #attrReply(st: FileStat): Buffer {
    const out = Buffer.alloc(OUT_HEADER + ATTR_OUT)
    out.writeBigUInt64LE(BigInt(this.#valid.sec), OUT_HEADER)
    out.writeUInt32LE(this.#valid.nsec, OUT_HEADER + 8)
    putAttr(out, OUT_HEADER + 16, kernelAttr(st))
    return out
  }

  #writable(): void {
    if (this.#fs.readOnly) fail(E.EROFS)
  }

  #file(fh: bigint): FileHandle {
    const h = this.#files.get(fh)
    if (!h) fail(E.EBADF)
    return h
  }

  /** A new entry belongs to the caller, and to a setgid directory's group. */
  async #own(req: Request, parent: string, p: string, isDir: boolean): Promise<FileStat> {
    const dir = await this.#fs.lstat(parent)
    const gid = dir.mode & S_ISGID ? dir.gid : req.gid
    let st = await this.#fs.lstat(p)
    if (st.uid !== req.uid || st.gid !== gid) {
      await this.#fs.chown(p, req.uid, gid)
      st = { ...st, uid: req.uid, gid }
    }
    if (isDir && dir.mode & S_ISGID && !(st.mode & S_ISGID)) {
      await this.#fs.chmod(p, st.mode | S_ISGID)
      st = await this.#fs.lstat(p)
    }
    return st
  }

  #forgetPath(p: string): void {
    for (const node of this.#nodes.values()) node.paths.delete(p)
  }

  /** After a rename: every known path at or under `from` now lies under `to`. */
  #movePaths(from: string, to: string): void {
    const under = `${from}/`
    for (const node of this.#nodes.values()) {
      for (const p of [...node.paths]) {
        if (p === to || p.startsWith(`${to}/`)) node.paths.delete(p)
      }
    }
    for (const node of this.#nodes.values()) {
      for (const p of [...node.paths]) {
        if (p === from) {
          node.paths.delete(p)
          node.paths.add(to)
        } else if (p.startsWith(under)) {
          node.paths.delete(p)
          node.paths.add(to + p.slice(from.length))
        }
      }
    }
  }

  #named(req: Request, off = 0): { p: string; parent: string; next: number } {
    const parent = this.#path(req.nodeid)
    const { s, raw, next } = cString(req.body, off)
    checkName(raw)
    return { p: join(parent, s), parent, next }
  }

  async #handle(req: Request): Promise<Buffer> {
    const fs = this.#fs
    const b = req.body
    switch (req.opcode) {
      case Op.INIT:
        return this.#init(b)
      case Op.DESTROY:
        return Buffer.alloc(OUT_HEADER)
      case Op.LOOKUP: {
        const { p } = this.#named(req)
        return this.#entryReply(await fs.lstat(p), p)
      }
      case Op.GETATTR: {
        const flags = b.readUInt32LE(0)
        const h = flags & GETATTR_FH ? this.#files.get(b.readBigUInt64LE(8)) : undefined
        return this.#attrReply(h ? await h.stat() : await fs.lstat(this.#path(req.nodeid)))
      }
      case Op.SETATTR:
        return this.#attrReply(await this.#setattr(req))
      case Op.READLINK:
        return Buffer.concat([Buffer.alloc(OUT_HEADER), Buffer.from(await fs.readlink(this.#path(req.nodeid)))])
      case Op.SYMLINK: {
        this.#writable()
        const { p, parent, next } = this.#named(req)
        const target = cString(b, next).s
        await fs.symlink(target, p)
        return this.#entryReply(await this.#own(req, parent, p, false), p)
      }
      case Op.MKNOD: {
        this.#writable()
        const mode = b.readUInt32LE(0)
        const rdev = b.readUInt32LE(4)
        const { p, parent } = this.#named(req, 16)
        await this.#mknod(p, mode, rdev)
        return this.#entryReply(await this.#own(req, parent, p, false), p)
      }
      case Op.MKDIR: {
        this.#writable()
        const mode = b.readUInt32LE(0)
        const { p, parent } = this.#named(req, 8)
        await fs.mkdir(p, { mode: mode & 0o7777 })
        return this.#entryReply(await this.#own(req, parent, p, true), p)
      }
      case Op.UNLINK:
      case Op.RMDIR: {
        this.#writable()
        const { p } = this.#named(req)
        if (req.opcode === Op.UNLINK) await fs.unlink(p)
        else await fs.rmdir(p)
        this.#forgetPath(p)
        return Buffer.alloc(OUT_HEADER)
      }
      case Op.RENAME:
      case Op.RENAME2:
        return this.#rename(req)
      case Op.LINK: {
        this.#writable()
        const from = this.#path(b.readBigUInt64LE(0))
        const parent = this.#path(req.nodeid)
        const { s, raw } = cString(b, 8)
        checkName(raw)
        const p = join(parent, s)
        await fs.link(from, p)
        return this.#entryReply(await fs.lstat(p), p)
      }
      case Op.OPEN: {
        const flags = b.readUInt32LE(0)
        const p = this.#path(req.nodeid)
        const h = await fs.open(p, fs.readOnly || (flags & O_ACCMODE) === O_RDONLY ? 'r' : 'r+')
        return this.#openReply(h)
      }
      case Op.CREATE:
        return this.#create(req)
      case Op.READ: {
        const h = this.#file(b.readBigUInt64LE(0))
        const pos = Number(b.readBigUInt64LE(8))
        const size = b.readUInt32LE(16)
        const out = Buffer.allocUnsafe(OUT_HEADER + size)
        const n = await h.read(out, OUT_HEADER, size, pos)
        return n === size ? out : out.subarray(0, OUT_HEADER + n)
      }
      case Op.WRITE: {
        this.#writable()
        const h = this.#file(b.readBigUInt64LE(0))
        const pos = Number(b.readBigUInt64LE(8))
        const size = b.readUInt32LE(16)
        if (pos + size > MAX_FILE_SIZE) fail(E.EFBIG)
        const n = await h.write(b, 40, size, pos)
        const out = Buffer.alloc(OUT_HEADER + 8)
        out.writeUInt32LE(n, OUT_HEADER)
        return out
      }
      case Op.STATFS:
        return this.#statfs()
      case Op.RELEASE: {
        const fh = b.readBigUInt64LE(0)
        const h = this.#files.get(fh)
        this.#files.delete(fh)
        await h?.close()
        return Buffer.alloc(OUT_HEADER)
      }
      case Op.FLUSH:
        return Buffer.alloc(OUT_HEADER)
      case Op.FSYNC: {
        const h = this.#files.get(b.readBigUInt64LE(0)) as (FileHandle & { sync?: () => Promise<void> }) | undefined
        await h?.sync?.()
        return Buffer.alloc(OUT_HEADER)
      }
      case Op.FSYNCDIR:
        return Buffer.alloc(OUT_HEADER)
      case Op.OPENDIR:
        return this.#opendir(req)
      case Op.READDIR:
      case Op.READDIRPLUS:
        return this.#readdir(req)
      case Op.RELEASEDIR:
        this.#dirs.delete(b.readBigUInt64LE(0))
        return Buffer.alloc(OUT_HEADER)
      case Op.ACCESS:
        await fs.lstat(this.#path(req.nodeid))
        return Buffer.alloc(OUT_HEADER)
      case Op.GETXATTR:
      case Op.LISTXATTR:
      case Op.SETXATTR:
      case Op.REMOVEXATTR:
        return this.#xattr(req)
      default:
        fail(E.ENOSYS)
    }
  }

  #init(b: Buffer): Buffer {
    const readahead = b.readUInt32LE(8)
    const offered = b.readUInt32LE(12)
    let want =
      Init.ASYNC_READ |
      Init.BIG_WRITES |
      Init.MAX_PAGES |
      Init.DO_READDIRPLUS |
      Init.READDIRPLUS_AUTO |
      Init.PARALLEL_DIROPS |
      Init.CACHE_SYMLINKS |
      Init.ABORT_ERROR |
      Init.ASYNC_DIO |
      Init.AUTO_INVAL_DATA
    if (this.#opts.writebackCache ?? true) want |= Init.WRITEBACK_CACHE
    const maxWrite = this.#session?.maxWrite ?? 1 << 20
    const out = Buffer.alloc(OUT_HEADER + 64)
    const o = OUT_HEADER
    out.writeUInt32LE(KERNEL_MAJOR, o)
    out.writeUInt32LE(KERNEL_MINOR, o + 4)
    out.writeUInt32LE(Math.min(readahead, maxWrite), o + 8)
    out.writeUInt32LE((want & offered) >>> 0, o + 12)
    out.writeUInt16LE(64, o + 16) // max_background
    out.writeUInt16LE(48, o + 18) // congestion_threshold
    out.writeUInt32LE(maxWrite, o + 20)
    out.writeUInt32LE(1, o + 24) // time_gran: nanoseconds
    out.writeUInt16LE(Math.ceil(maxWrite / 4096), o + 28) // max_pages
    return out
  }

  async #setattr(req: Request): Promise<FileStat> {
    const fs = this.#fs
    const b = req.body
    const valid = b.readUInt32LE(0)
    const fh = b.readBigUInt64LE(8)
    const h = valid & Attr.FH ? this.#files.get(fh) : undefined
    const p = h ? undefined : this.#path(req.nodeid)
    const path = p ?? this.#pathOrUndefined(req.nodeid)
    if (valid & (Attr.MODE | Attr.UID | Attr.GID | Attr.SIZE | Attr.ATIME | Attr.MTIME | Attr.ATIME_NOW | Attr.MTIME_NOW)) this.#writable()
    if (valid & Attr.SIZE) {
      const size = Number(b.readBigUInt64LE(16))
      if (size > MAX_FILE_SIZE) fail(E.EFBIG)
      if (h) await h.truncate(size)
      else await fs.truncate(p!, size)
    }
    if (valid & (Attr.UID | Attr.GID)) {
      if (path === undefined) fail(E.ENOENT)
      const cur = await fs.lstat(path)
      await fs.chown(path, valid & Attr.UID ? b.readUInt32LE(76) : cur.uid, valid & Attr.GID ? b.readUInt32LE(80) : cur.gid)
    }
    if (valid & Attr.MODE) {
      if (path === undefined) fail(E.ENOENT)
      await fs.chmod(path, b.readUInt32LE(68) & 0o7777)
    }
    if (valid & (Attr.ATIME | Attr.MTIME | Attr.ATIME_NOW | Attr.MTIME_NOW)) {
      if (path === undefined) fail(E.ENOENT)
      const cur = (await fs.lstat(path)) as StatNs
      const curNs = cur.mtimeNs ?? msToNs(cur.mtimeMs)
      const nowNs = BigInt(Date.now()) * 1_000_000n
      const pick = (set: number, now: number, secOff: number, nsecOff: number, dflt: bigint): bigint => {
        if (valid & now) return nowNs
        if (valid & set) return b.readBigUInt64LE(secOff) * 1_000_000_000n + BigInt(b.readUInt32LE(nsecOff))
        return dflt
      }
      const atimeNs = pick(Attr.ATIME, Attr.ATIME_NOW, 32, 56, cur.atimeNs ?? curNs)
      const mtimeNs = pick(Attr.MTIME, Attr.MTIME_NOW, 40, 60, curNs)
      const ns = fs as SnapshotFs & Partial<NsTimesFs>
      if (typeof ns.lutimes === 'function') await ns.lutimes(path, atimeNs, mtimeNs)
      // SnapshotFs.utimes follows symlinks; without lutimes a symlink's own times stay as they are
      // (utimensat(AT_SYMLINK_NOFOLLOW) of a dangling link must not fail, as containerd's apply does it).
      else if (cur.type !== 'symlink') await fs.utimes(path, Number(atimeNs) / 1e6, Number(mtimeNs) / 1e6)
    }
    if (h) return h.stat()
    return fs.lstat(path!)
  }

  #pathOrUndefined(nodeid: bigint): string | undefined {
    try {
      return this.#path(nodeid)
    } catch {
      return undefined
    }
  }

  async #mknod(p: string, mode: number, rdev: number): Promise<void> {
    const perm = mode & 0o7777
    switch (mode & S_IFMT) {
      case S_IFREG:
        return (await this.#fs.open(p, 'wx', perm)).close()
      case S_IFIFO:
        return this.#fs.mknod(p, 'fifo', perm)
      case S_IFCHR:
        return this.#fs.mknod(p, 'char', perm, rdev)
      case S_IFBLK:
        return this.#fs.mknod(p, 'block', perm, rdev)
      default:
        fail(E.EOPNOTSUPP)
    }
  }

  async #rename(req: Request): Promise<Buffer> {
    this.#writable()
    const b = req.body
    const newdir = this.#path(b.readBigUInt64LE(0))
    const two = req.opcode === Op.RENAME2
    const flags = two ? b.readUInt32LE(8) : 0
    if (flags & ~RENAME_NOREPLACE) fail(E.EINVAL)
    const { p: from, next } = this.#named(req, two ? 16 : 8)
    const { s, raw } = cString(b, next)
    checkName(raw)
    const to = join(newdir, s)
    if (flags & RENAME_NOREPLACE) {
      const exists = await this.#fs.lstat(to).then(
        () => true,
        () => false,
      )
      if (exists) fail(E.EEXIST)
    }
    await this.#fs.rename(from, to)
    if (from !== to) this.#movePaths(from, to)
    return Buffer.alloc(OUT_HEADER)
  }

  #openReply(h: FileHandle, entry?: Buffer): Buffer {
    const fh = this.#nextFh++
    this.#files.set(fh, h)
    const out = entry ?? Buffer.alloc(OUT_HEADER + 16)
    const off = out.length - 16
    out.writeBigUInt64LE(fh, off)
    out.writeUInt32LE(this.#fs.readOnly ? FOPEN_KEEP_CACHE : 0, off + 8)
    return out
  }

  async #create(req: Request): Promise<Buffer> {
    this.#writable()
    const fs = this.#fs
    const flags = req.body.readUInt32LE(0)
    const mode = req.body.readUInt32LE(4)
    const { p, parent } = this.#named(req, 16)
    try {
      await (await fs.open(p, 'wx', mode & 0o7777)).close()
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST' || flags & O_EXCL) throw err
    }
    const st = await this.#own(req, parent, p, false)
    const h = await fs.open(p, 'r+')
    const entry = this.#entryReply(st, p, 16)
    return this.#openReply(h, entry)
  }

  async #statfs(): Promise<Buffer> {
    const out = Buffer.alloc(OUT_HEADER + 80)
    const o = OUT_HEADER
    if (this.#opts.statfsPath) {
      const s = await statfs(this.#opts.statfsPath)
      out.writeBigUInt64LE(BigInt(s.blocks), o)
      out.writeBigUInt64LE(BigInt(s.bfree), o + 8)
      out.writeBigUInt64LE(BigInt(s.bavail), o + 16)
      out.writeBigUInt64LE(BigInt(s.files), o + 24)
      out.writeBigUInt64LE(BigInt(s.ffree), o + 32)
      out.writeUInt32LE(s.bsize, o + 40)
      out.writeUInt32LE(s.bsize, o + 48)
    } else {
      out.writeUInt32LE(4096, o + 40)
      out.writeUInt32LE(4096, o + 48)
    }
    out.writeUInt32LE(NAME_MAX, o + 44)
    return out
  }

  async #opendir(req: Request): Promise<Buffer> {
    const fs = this.#fs
    const p = this.#path(req.nodeid)
    const names = await fs.readdir(p)
    const self = await fs.lstat(p)
    const parentPath = p === '/' ? '/' : p.slice(0, p.lastIndexOf('/')) || '/'
    const up = await fs.lstat(parentPath).catch(() => self)
    const entries: Dir['entries'] = [
      { name: '.', st: self },
      { name: '..', st: up },
    ]
    const stats = await Promise.all(names.map((n) => fs.lstat(join(p, n)).catch(() => undefined)))
    for (const [i, name] of names.entries()) entries.push({ name, st: stats[i] })
    const fh = this.#nextFh++
    this.#dirs.set(fh, { entries })
    const out = Buffer.alloc(OUT_HEADER + 16)
    out.writeBigUInt64LE(fh, OUT_HEADER)
    return out
  }

  #readdir(req: Request): Buffer {
    const b = req.body
    const dir = this.#dirs.get(b.readBigUInt64LE(0))
    if (!dir) fail(E.EBADF)
    const start = Number(b.readBigUInt64LE(8))
    const size = b.readUInt32LE(16)
    const plus = req.opcode === Op.READDIRPLUS
    const parent = this.#path(req.nodeid)
    const out = Buffer.alloc(OUT_HEADER + size)
    let o = OUT_HEADER
    for (let i = start; i < dir.entries.length; i++) {
      const { name, st } = dir.entries[i]
      if (!st) continue
      const nameBuf = Buffer.from(name)
      const len = align8((plus ? ENTRY_OUT : 0) + DIRENT_HEADER + nameBuf.length)
      if (o + len > out.length) break
      const attr = kernelAttr(st)
      let d = o
      if (plus) {
        const dot = name === '.' || name === '..'
        const id = dot ? 0n : this.#remember(st, join(parent, name))
        putEntry(out, o, id, attr, this.#valid)
        d += ENTRY_OUT
      }
      out.writeBigUInt64LE(attr.ino, d)
      out.writeBigUInt64LE(BigInt(i + 1), d + 8)
      out.writeUInt32LE(nameBuf.length, d + 16)
      out.writeUInt32LE(direntType(attr.mode), d + 20)
      nameBuf.copy(out, d + DIRENT_HEADER)
      o += len
    }
    return out.subarray(0, o)
  }

  async #xattr(req: Request): Promise<Buffer> {
    const fs = this.#fs as SnapshotFs & Partial<XattrFs>
    const b = req.body
    const p = this.#path(req.nodeid)
    switch (req.opcode) {
      case Op.GETXATTR:
      case Op.LISTXATTR: {
        const size = b.readUInt32LE(0)
        let value: Buffer
        if (req.opcode === Op.GETXATTR) {
          if (typeof fs.getxattr !== 'function') fail(E.EOPNOTSUPP)
          value = await fs.getxattr(p, cString(b, 8).s)
        } else {
          if (typeof fs.listxattr !== 'function') fail(E.EOPNOTSUPP)
          const names = await fs.listxattr(p)
          value = Buffer.concat(names.map((n) => Buffer.from(`${n}\0`)))
        }
        if (size === 0) {
          const out = Buffer.alloc(OUT_HEADER + 8)
          out.writeUInt32LE(value.length, OUT_HEADER)
          return out
        }
        if (value.length > size) fail(E.ERANGE)
        return Buffer.concat([Buffer.alloc(OUT_HEADER), value])
      }
      case Op.SETXATTR: {
        this.#writable()
        if (typeof fs.setxattr !== 'function') fail(E.EOPNOTSUPP)
        const size = b.readUInt32LE(0)
        // setxattr(2)'s flags: XATTR_CREATE 1, XATTR_REPLACE 2.
        const raw = b.readUInt32LE(4)
        const flags = raw & 1 ? 'create' : raw & 2 ? 'replace' : undefined
        const { s, next } = cString(b, 8)
        await fs.setxattr(p, s, Buffer.from(b.subarray(next, next + size)), flags)
        return Buffer.alloc(OUT_HEADER)
      }
      default: {
        this.#writable()
        if (typeof fs.removexattr !== 'function') fail(E.EOPNOTSUPP)
        await fs.removexattr(p, cString(b).s)
        return Buffer.alloc(OUT_HEADER)
      }
    }
  }
}
