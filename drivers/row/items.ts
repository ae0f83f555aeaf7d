/**
 * The values of a snapshot's items, and the access every operation needs:
 * a read-only view of one tree, or an edit that changes it. Values are
 * msgpack arrays (short, positional) so a leaf of 4 KiB holds about a
 * hundred block pointers or a few dozen inodes.
 */
import type { FileType } from '../../core/snapshotter.js'
import { packValue, unpackValue, type Ptr } from './node.js'

export const ROOT_INO = 1

const TYPES: FileType[] = ['file', 'dir', 'symlink', 'char', 'block', 'fifo', 'socket']

export interface Inode {
  type: FileType
  /** Permission bits with setuid, setgid and sticky (07777). */
  mode: number
  uid: number
  gid: number
  /** Apparent size; for a symlink the length of its target. */
  size: number
  nlink: number
  mtimeMs: number
  rdev: number
  /** Symlink target. */
  target?: string
  /** A small file's bytes, kept in the inode (bytes past its end up to `size` are zeros). */
  data?: Buffer
  /** The generation that wrote this version of the inode (for usage counting). */
  gen: number
}

export function encodeInode(i: Inode): Buffer {
  return packValue([
    TYPES.indexOf(i.type),
    i.mode,
    i.uid,
    i.gid,
    i.size,
    i.nlink,
    i.mtimeMs,
    i.gen,
    i.rdev,
    i.target ?? null,
    i.data ?? null,
  ])
}

export function decodeInode(b: Buffer): Inode {
  const [t, mode, uid, gid, size, nlink, mtimeMs, gen, rdev, target, data] =
    unpackValue<[number, number, number, number, number, number, number, number, number, string | null, Buffer | null]>(b)
  const i: Inode = { type: TYPES[t], mode, uid, gid, size, nlink, mtimeMs, gen, rdev }
  if (target !== null) i.target = target
  if (data !== null) i.data = data
  return i
}

export interface Dirent {
  ino: number
  type: FileType
}

export function encodeDirent(d: Dirent): Buffer {
  return packValue([d.ino, TYPES.indexOf(d.type)])
}

export function decodeDirent(b: Buffer): Dirent {
  const [ino, t] = unpackValue<[number, number]>(b)
  return { ino, type: TYPES[t] }
}

/** Where one block of a file lives: its database id and its length. */
export interface BlockPtr {
  g: number
  s: number
  len: number
}

export function encodeBlockPtr(p: BlockPtr): Buffer {
  return packValue([p.g, p.s, p.len])
}

export function decodeBlockPtr(b: Buffer): BlockPtr {
  const [g, s, len] = unpackValue<[number, number, number]>(b)
  return { g, s, len }
}

/** A back reference has no value: its key says everything. */
export const NO_VALUE = packValue(null)

/** Read access to one tree as it stands. */
export interface Items {
  readonly root: Ptr
  readonly blockSize: number
  get(key: Buffer): Buffer | undefined
  scan(lo: Buffer, hi: Buffer, fn: (k: Buffer, v: Buffer) => boolean | void): void
  /** A data block's bytes. */
  block(p: BlockPtr): Buffer
}

/** An open change to one active snapshot's tree: everything in it lands in one batch. */
export interface ItemEdit extends Items {
  readonly gen: number
  /** The largest file kept inside its inode. */
  readonly inlineMax: number
  put(key: Buffer, val: Buffer): void
  del(key: Buffer): Buffer | undefined
  /** Deletes [lo, hi); `onItem` sees the deleted items that lived in nodes of this generation. */
  delRange(lo: Buffer, hi: Buffer, onItem: (k: Buffer, v: Buffer) => void): void
  allocIno(): number
  /** Stores a new block born in this generation. */
  newBlock(data: Buffer): BlockPtr
  /** Replaces the bytes of a block born in this generation, in place. */
  rewriteBlock(p: BlockPtr, data: Buffer): BlockPtr
  /** Frees a block if this generation owns it. */
  freeBlock(p: BlockPtr): void
  /** Adds to the count of inodes this generation owns. */
  countInodes(delta: number): void
}
