/**
 * row's on-disk format, in one place: every database key and every value
 * layout, with the codecs of the values. Keys are built in keys.ts (their
 * byte layouts are in its header); tree nodes are encoded in node.ts.
 * Values are msgpack arrays, positional, so items stay small.
 *
 * Database keys (the driver's sublevel `row` of the store's LevelDB):
 *
 *   key                      value
 *   M                        [version, blockSize]                              FormatRecord
 *   S <id u32>               [root.g, root.s, nextIno, nextSeq, bytes, inodes] TreeRecord
 *   G <id u32>               null: the snapshot is removed, its objects await freeing (gc.ts)
 *   T <gen u32> <seq u32>    [level, keys, vals | kids]                        a tree node (node.ts)
 *   K <gen u32> <seq u32>    raw bytes                                         a data block
 *
 * Items of one snapshot's tree (keys.ts; values here):
 *
 *   <ino> 1                  [type, mode, uid, gid, size, nlink, mtimeMs, gen, rdev, target|null, data|null,
 *                             mtimeSubNs, atimeMs, atimeSubNs, ctimeMs, ctimeSubNs]         Inode
 *   <ino> 2 <name>           [ino, type]                                       a directory entry (Dirent)
 *   <ino> 3 <parent> <name>  null                                              a back reference (NO_VALUE)
 *   <ino> 4 <idx>            [g, s, len]                                       where block idx lives (BlockPtr)
 *   <ino> 5 <name>           raw bytes                                         an extended attribute's value
 *
 * Times are whole milliseconds plus the nanoseconds below them (msgpack has
 * no exact 64-bit nanosecond number that old readers take); the five time
 * fields after `data` came with xattrs and are absent in older inodes, which
 * read as atime = ctime = mtime. Neither addition changes what an older
 * reader sees, so FORMAT_VERSION stays 1: older code ignores trailing array
 * fields and item type 5.
 *
 * `type` is an index into FILE_TYPES; `gen` is the snapshot id that wrote
 * this version of the inode; an internal node's `kids` are flat pairs
 * g0, s0, g1, s1, … (node.ts).
 *
 * The write path of one operation: RowFs (rowfs.ts) → Snap.write (snap.ts,
 * the snapshot's mutex) → a new Edit (edit.ts) → namespace.ts / filedata.ts
 * change items → tree.ts inserts into nodes copied into this generation →
 * Edit.batch() gathers nodes, blocks and the TreeRecord → one LevelDB batch
 * → landed() publishes the new nodes and blocks to the caches (nodestore.ts).
 *
 * Freeing (gc.ts): remove writes the G key and deletes the S key in one
 * batch; the T and K ranges born in that generation are then deleted in
 * chunks, resumable after a crash. Nothing is reference counted.
 */
import type { FileStat, FileType } from '../../core/snapshotter.js'
import { packValue, unpackValue, type Ptr } from './node.js'

/** The format this code writes; a store of another version is refused at open. */
export const FORMAT_VERSION = 1

/** `M`: the store's format, fixed when it is created. */
export interface FormatRecord {
  version: number
  blockSize: number
}

export function encodeFormatRecord(f: FormatRecord): Buffer {
  return packValue([f.version, f.blockSize])
}

export function decodeFormatRecord(b: Buffer): FormatRecord {
  const [version, blockSize] = unpackValue<[number, number]>(b)
  return { version, blockSize }
}

export interface Format {
  blockSize: number
  /** Nodes split above this many encoded bytes. */
  nodeBytes: number
  /** Files up to this size live inside their inode. */
  inlineMax: number
}

/** What the database keeps per snapshot (`S <id>`): its tree and counters. */
export interface TreeRecord {
  root: Ptr
  /** The next inode number. */
  ino: number
  /** The next node or block sequence number of this generation. */
  seq: number
  /** Bytes of nodes and blocks this generation owns. */
  bytes: number
  /** Inodes this generation wrote. */
  inodes: number
}

export function encodeTreeRecord(r: TreeRecord): Buffer {
  return packValue([r.root.g, r.root.s, r.ino, r.seq, r.bytes, r.inodes])
}

export function decodeTreeRecord(b: Buffer): TreeRecord {
  const [g, s, ino, seq, bytes, inodes] = unpackValue<number[]>(b)
  return { root: { g, s }, ino, seq, bytes, inodes }
}

export const FILE_TYPES: FileType[] = ['file', 'dir', 'symlink', 'char', 'block', 'fifo', 'socket']

/** An inode as row stores it: FileStat's fields (less `ino`, its key), and what only row keeps. */
export interface Inode extends Pick<FileStat, 'type' | 'mode' | 'uid' | 'gid' | 'size' | 'nlink' | 'mtimeNs' | 'atimeNs' | 'ctimeNs'> {
  /** Device number (0 for anything but a device). */
  rdev: number
  /** Symlink target. */
  target?: string
  /** A small file's bytes, kept in the inode (bytes past its end up to `size` are zeros). */
  data?: Buffer
  /** The generation that wrote this version of the inode (for usage counting). */
  gen: number
}

const NS_PER_MS = 1_000_000n

/** A time as [whole ms, ns below them]: both plain numbers, exact. */
function splitNs(ns: bigint): [number, number] {
  let ms = ns / NS_PER_MS
  let sub = ns % NS_PER_MS
  if (sub < 0n) {
    sub += NS_PER_MS
    ms -= 1n
  }
  return [Number(ms), Number(sub)]
}

function joinNs(ms: number, sub: number): bigint {
  // Inodes before nanoseconds held a float of milliseconds: its fraction becomes nanoseconds.
  const whole = Math.floor(ms)
  return BigInt(whole) * NS_PER_MS + BigInt(Math.round((ms - whole) * 1e6) + sub)
}

export function encodeInode(i: Inode): Buffer {
  const [mMs, mSub] = splitNs(i.mtimeNs)
  const [aMs, aSub] = splitNs(i.atimeNs)
  const [cMs, cSub] = splitNs(i.ctimeNs)
  return packValue([
    FILE_TYPES.indexOf(i.type),
    i.mode,
    i.uid,
    i.gid,
    i.size,
    i.nlink,
    mMs,
    i.gen,
    i.rdev,
    i.target ?? null,
    i.data ?? null,
    mSub,
    aMs,
    aSub,
    cMs,
    cSub,
  ])
}

type InodeArray = [number, number, number, number, number, number, number, number, number, string | null, Buffer | null, ...number[]]

export function decodeInode(b: Buffer): Inode {
  const [t, mode, uid, gid, size, nlink, mtimeMs, gen, rdev, target, data, mSub, aMs, aSub, cMs, cSub] = unpackValue<InodeArray>(b)
  const mtimeNs = joinNs(mtimeMs, mSub ?? 0)
  const atimeNs = aMs === undefined ? mtimeNs : joinNs(aMs, aSub ?? 0)
  const ctimeNs = cMs === undefined ? mtimeNs : joinNs(cMs, cSub ?? 0)
  const i: Inode = { type: FILE_TYPES[t], mode, uid, gid, size, nlink, mtimeNs, atimeNs, ctimeNs, gen, rdev }
  if (target !== null) i.target = target
  if (data !== null) i.data = data
  return i
}

export interface Dirent {
  ino: number
  type: FileType
}

export function encodeDirent(d: Dirent): Buffer {
  return packValue([d.ino, FILE_TYPES.indexOf(d.type)])
}

export function decodeDirent(b: Buffer): Dirent {
  const [ino, t] = unpackValue<[number, number]>(b)
  return { ino, type: FILE_TYPES[t] }
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
