/**
 * The FUSE kernel protocol as this server speaks it: opcode numbers, INIT
 * flags and the byte layout of the structs it reads and writes (numbers from
 * the kernel's include/uapi/linux/fuse.h; layouts little-endian, 64-bit
 * aligned). The server answers at minor version 32: the kernel speaks the
 * smaller of the two minors, so every struct here has its 7.32 size.
 */

export const KERNEL_MAJOR = 7
export const KERNEL_MINOR = 32
export const ROOT_ID = 1n

export const Op = {
  LOOKUP: 1,
  FORGET: 2,
  GETATTR: 3,
  SETATTR: 4,
  READLINK: 5,
  SYMLINK: 6,
  MKNOD: 8,
  MKDIR: 9,
  UNLINK: 10,
  RMDIR: 11,
  RENAME: 12,
  LINK: 13,
  OPEN: 14,
  READ: 15,
  WRITE: 16,
  STATFS: 17,
  RELEASE: 18,
  FSYNC: 20,
  SETXATTR: 21,
  GETXATTR: 22,
  LISTXATTR: 23,
  REMOVEXATTR: 24,
  FLUSH: 25,
  INIT: 26,
  OPENDIR: 27,
  READDIR: 28,
  RELEASEDIR: 29,
  FSYNCDIR: 30,
  GETLK: 31,
  SETLK: 32,
  SETLKW: 33,
  ACCESS: 34,
  CREATE: 35,
  INTERRUPT: 36,
  BMAP: 37,
  DESTROY: 38,
  IOCTL: 39,
  POLL: 40,
  BATCH_FORGET: 42,
  FALLOCATE: 43,
  READDIRPLUS: 44,
  RENAME2: 45,
  LSEEK: 46,
  COPY_FILE_RANGE: 47,
} as const

/** INIT flags (fuse_init_in.flags / fuse_init_out.flags). */
export const Init = {
  ASYNC_READ: 1 << 0,
  BIG_WRITES: 1 << 5,
  AUTO_INVAL_DATA: 1 << 12,
  DO_READDIRPLUS: 1 << 13,
  READDIRPLUS_AUTO: 1 << 14,
  ASYNC_DIO: 1 << 15,
  WRITEBACK_CACHE: 1 << 16,
  PARALLEL_DIROPS: 1 << 18,
  ABORT_ERROR: 1 << 21,
  MAX_PAGES: 1 << 22,
  CACHE_SYMLINKS: 1 << 23,
} as const

/** fuse_setattr_in.valid bits. */
export const Attr = {
  MODE: 1 << 0,
  UID: 1 << 1,
  GID: 1 << 2,
  SIZE: 1 << 3,
  ATIME: 1 << 4,
  MTIME: 1 << 5,
  FH: 1 << 6,
  ATIME_NOW: 1 << 7,
  MTIME_NOW: 1 << 8,
  CTIME: 1 << 10,
} as const

export const FOPEN_DIRECT_IO = 1 << 0
export const FOPEN_KEEP_CACHE = 1 << 1
export const GETATTR_FH = 1 << 0
export const RENAME_NOREPLACE = 1 << 0

export const IN_HEADER = 40
export const OUT_HEADER = 16
/** fuse_attr at 7.32: 88 bytes. */
export const ATTR_SIZE = 88
/** fuse_entry_out: nodeid, generation, entry_valid, attr_valid, two nsec fields, attr. */
export const ENTRY_OUT = 40 + ATTR_SIZE
export const ATTR_OUT = 16 + ATTR_SIZE
export const DIRENT_HEADER = 24

export const S_IFMT = 0o170000
export const S_IFREG = 0o100000
export const S_IFDIR = 0o040000
export const S_IFLNK = 0o120000
export const S_IFCHR = 0o020000
export const S_IFBLK = 0o060000
export const S_IFIFO = 0o010000
export const S_IFSOCK = 0o140000

/** One request as read from /dev/fuse: the header's fields and the body after it. */
export interface Request {
  opcode: number
  unique: bigint
  nodeid: bigint
  uid: number
  gid: number
  pid: number
  body: Buffer
}

export function parseRequest(buf: Buffer): Request {
  const len = buf.readUInt32LE(0)
  return {
    opcode: buf.readUInt32LE(4),
    unique: buf.readBigUInt64LE(8),
    nodeid: buf.readBigUInt64LE(16),
    uid: buf.readUInt32LE(24),
    gid: buf.readUInt32LE(28),
    pid: buf.readUInt32LE(32),
    body: buf.subarray(IN_HEADER, len),
  }
}

/** Writes fuse_out_header at the start of `buf` (whose length is the reply's). */
export function putOutHeader(buf: Buffer, unique: bigint, error: number): void {
  buf.writeUInt32LE(buf.length, 0)
  buf.writeInt32LE(error, 4)
  buf.writeBigUInt64LE(unique, 8)
}

/** A NUL-terminated name at `off` in `body`, and where the next field starts. */
export function cString(body: Buffer, off = 0): { s: string; raw: Buffer; next: number } {
  let end = body.indexOf(0, off)
  if (end < 0) end = body.length
  const raw = body.subarray(off, end)
  return { s: raw.toString('utf8'), raw, next: end + 1 }
}

/** The attributes the server reports, in kernel terms. */
export interface KernelAttr {
  ino: bigint
  size: number
  blocks: number
  atimeNs: bigint
  mtimeNs: bigint
  ctimeNs: bigint
  /** S_IF* type bits with the permission bits. */
  mode: number
  nlink: number
  uid: number
  gid: number
  rdev: number
  blksize: number
}

const NS = 1_000_000_000n

export function putAttr(buf: Buffer, off: number, a: KernelAttr): void {
  buf.writeBigUInt64LE(a.ino, off)
  buf.writeBigUInt64LE(BigInt(a.size), off + 8)
  buf.writeBigUInt64LE(BigInt(a.blocks), off + 16)
  buf.writeBigInt64LE(a.atimeNs / NS, off + 24)
  buf.writeBigInt64LE(a.mtimeNs / NS, off + 32)
  buf.writeBigInt64LE(a.ctimeNs / NS, off + 40)
  buf.writeUInt32LE(Number(a.atimeNs % NS), off + 48)
  buf.writeUInt32LE(Number(a.mtimeNs % NS), off + 52)
  buf.writeUInt32LE(Number(a.ctimeNs % NS), off + 56)
  buf.writeUInt32LE(a.mode, off + 60)
  buf.writeUInt32LE(a.nlink, off + 64)
  buf.writeUInt32LE(a.uid, off + 68)
  buf.writeUInt32LE(a.gid, off + 72)
  buf.writeUInt32LE(a.rdev >>> 0, off + 76)
  buf.writeUInt32LE(a.blksize, off + 80)
  buf.writeUInt32LE(0, off + 84)
}

/** Cache lifetimes, in seconds and nanoseconds, of names and attributes. */
export interface Validity {
  sec: number
  nsec: number
}

export function putEntry(buf: Buffer, off: number, nodeid: bigint, a: KernelAttr, valid: Validity): void {
  buf.writeBigUInt64LE(nodeid, off)
  buf.writeBigUInt64LE(0n, off + 8)
  buf.writeBigUInt64LE(BigInt(valid.sec), off + 16)
  buf.writeBigUInt64LE(BigInt(valid.sec), off + 24)
  buf.writeUInt32LE(valid.nsec, off + 32)
  buf.writeUInt32LE(valid.nsec, off + 36)
  putAttr(buf, off + 40, a)
}

/** fuse_dirent's type field: the S_IF* bits shifted to DT_* values. */
export function direntType(mode: number): number {
  return (mode & S_IFMT) >>> 12
}

export function align8(n: number): number {
  return (n + 7) & ~7
}
