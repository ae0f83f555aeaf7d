/**
 * Inodes and directory entries as items: look up, create, link, unlink and
 * delete. Every change goes through an ItemEdit, so a whole operation
 * (entry, back reference, parent's link count and time) lands in one batch.
 *
 * Inode numbers come from the snapshot's counter, which a child inherits
 * from its parent: a number names one file for the life of a lineage, and
 * copy-on-write of an inode keeps its number.
 */
import { nsToMs, toNs } from '../../fs/times.js'
import { DataLossError, posixError } from '../../core/errors.js'
import type { FileStat, FileType } from '../../core/snapshotter.js'
import { ItemType, backrefKey, direntKey, direntName, inodeKey, inodeRange, itemType, readU64, typeRange } from './keys.js'
import { type Dirent, type Inode, NO_VALUE, decodeBlockPtr, decodeDirent, decodeInode, encodeDirent, encodeInode } from './format.js'
import { type ItemEdit, type Items, ROOT_INO } from './items.js'

export { ROOT_INO }

export function getInode(t: Items, ino: number): Inode | undefined {
  const v = t.get(inodeKey(ino))
  return v === undefined ? undefined : decodeInode(v)
}

export function mustInode(t: Items, ino: number): Inode {
  const i = getInode(t, ino)
  if (i === undefined) throw new DataLossError(`row: inode ${ino} is missing`)
  return i
}

export function lookupEntry(t: Items, dir: number, name: string): Dirent | undefined {
  const v = t.get(direntKey(dir, name))
  return v === undefined ? undefined : decodeDirent(v)
}

/** Every entry of a directory, in key (UTF-8 byte) order. */
export function entries(t: Items, dir: number): Array<[string, Dirent]> {
  const out: Array<[string, Dirent]> = []
  const [lo, hi] = typeRange(dir, ItemType.Dirent)
  t.scan(lo, hi, (k, v) => {
    out.push([direntName(k), decodeDirent(v)])
  })
  return out
}

export function isEmptyDir(t: Items, dir: number): boolean {
  const [lo, hi] = typeRange(dir, ItemType.Dirent)
  let empty = true
  t.scan(lo, hi, () => {
    empty = false
    return false
  })
  return empty
}

/** The (directory, name) pairs that link to `ino`. */
export function links(t: Items, ino: number): Array<{ parent: number; name: string }> {
  const out: Array<{ parent: number; name: string }> = []
  const [lo, hi] = typeRange(ino, ItemType.Backref)
  t.scan(lo, hi, (k) => {
    out.push({ parent: readU64(k, 9), name: k.toString('utf8', 17) })
  })
  return out
}

/** Writes an inode; the first write of an inode in a generation counts it as that generation's. */
export function putInode(e: ItemEdit, ino: number, inode: Inode): void {
  // Every write of an inode is a change of its status, as ctime records on Linux.
  inode.ctimeNs = toNs(Date.now())
  if (inode.gen !== e.gen) {
    inode.gen = e.gen
    e.countInodes(1)
  }
  e.put(inodeKey(ino), encodeInode(inode))
}

export interface NewInode {
  type: FileType
  mode: number
  uid: number
  gid: number
  size?: number
  rdev?: number
  target?: string
  mtimeMs: number
}

/** A name in a directory and what it links to. */
export interface Link {
  dir: number
  name: string
  ino: number
  type: FileType
}

/** Creates an inode and links it as dir/name. */
export function createInode(e: ItemEdit, at: { dir: number; name: string }, spec: NewInode): [number, Inode] {
  const ino = e.allocIno()
  const now = toNs(spec.mtimeMs)
  const inode: Inode = {
    type: spec.type,
    mode: spec.mode & 0o7777,
    uid: spec.uid,
    gid: spec.gid,
    size: spec.size ?? 0,
    nlink: spec.type === 'dir' ? 2 : 1,
    mtimeNs: now,
    atimeNs: now,
    ctimeNs: now,
    rdev: spec.rdev ?? 0,
    gen: -1,
  }
  if (spec.target !== undefined) inode.target = spec.target
  if (spec.type === 'file') inode.data = Buffer.alloc(0)
  putInode(e, ino, inode)
  addEntry(e, { ...at, ino, type: spec.type }, spec.mtimeMs)
  return [ino, inode]
}

/** Links an inode as dir/name; a directory entry adds one link to its parent. */
export function addEntry(e: ItemEdit, l: Link, nowMs: number): void {
  e.put(direntKey(l.dir, l.name), encodeDirent({ ino: l.ino, type: l.type }))
  e.put(backrefKey(l.ino, l.dir, l.name), NO_VALUE)
  touchDir(e, l.dir, l.type === 'dir' ? 1 : 0, nowMs)
}

/** Unlinks dir/name (the inode itself is the caller's business). */
export function removeEntry(e: ItemEdit, l: Link, nowMs: number): void {
  e.del(direntKey(l.dir, l.name))
  e.del(backrefKey(l.ino, l.dir, l.name))
  touchDir(e, l.dir, l.type === 'dir' ? -1 : 0, nowMs)
}

function touchDir(e: ItemEdit, dir: number, nlinkDelta: number, nowMs: number): void {
  const d = mustInode(e, dir)
  d.nlink += nlinkDelta
  d.mtimeNs = toNs(nowMs)
  putInode(e, dir, d)
}

/** Drops one link of a non-directory; the inode goes with its last link. */
export function dropLink(e: ItemEdit, ino: number): void {
  const i = mustInode(e, ino)
  if (i.nlink <= 1) {
    deleteInode(e, ino)
    return
  }
  i.nlink--
  putInode(e, ino, i)
}

/** A visitor for removed items: frees the blocks and uncounts the inodes this generation owns. */
export function freeing(e: ItemEdit): (k: Buffer, v: Buffer) => void {
  return (k, v) => {
    const type = itemType(k)
    if (type === ItemType.Block) e.freeBlock(decodeBlockPtr(v))
    else if (type === ItemType.Inode && decodeInode(v).gen === e.gen) e.countInodes(-1)
  }
}

/** Deletes every item of an inode and frees what this generation owned of it. */
export function deleteInode(e: ItemEdit, ino: number): void {
  const [lo, hi] = inodeRange(ino)
  e.delRange(lo, hi, freeing(e))
}

/** Unlinks dir/name and everything below it (rm -r). */
export function removeSubtree(e: ItemEdit, l: Link, nowMs: number): void {
  removeEntry(e, l, nowMs)
  if (l.type === 'dir') destroyDir(e, l.ino)
  else dropLink(e, l.ino)
}

/** Deletes a directory that is no longer linked, and everything below it. */
function destroyDir(e: ItemEdit, ino: number): void {
  for (const [name, ent] of entries(e, ino)) {
    if (ent.type === 'dir') {
      destroyDir(e, ent.ino)
    } else {
      e.del(backrefKey(ent.ino, ino, name))
      dropLink(e, ent.ino)
    }
  }
  // The directory's own range holds its attributes and its entries.
  deleteInode(e, ino)
}

/** The root directory of a snapshot without parent. */
export function rootInode(e: ItemEdit, nowMs: number): void {
  const uid = process.getuid?.() ?? 0
  const gid = process.getgid?.() ?? 0
  const now = toNs(nowMs)
  putInode(e, ROOT_INO, {
    type: 'dir',
    mode: 0o755,
    uid,
    gid,
    size: 0,
    nlink: 2,
    mtimeNs: now,
    atimeNs: now,
    ctimeNs: now,
    rdev: 0,
    gen: -1,
  })
}

export function statOf(ino: number, i: Inode): FileStat {
  const st: FileStat = {
    type: i.type,
    mode: i.mode,
    uid: i.uid,
    gid: i.gid,
    size: i.size,
    nlink: i.nlink,
    ino,
    mtimeMs: nsToMs(i.mtimeNs),
    mtimeNs: i.mtimeNs,
    atimeNs: i.atimeNs,
    ctimeNs: i.ctimeNs,
  }
  if (i.type === 'char' || i.type === 'block') st.rdev = i.rdev
  return st
}

/** The inode behind an open handle; ENOENT only if every link was removed meanwhile. */
export function handleInode(t: Items, ino: number, syscall: string, path: string): Inode {
  const i = getInode(t, ino)
  if (i === undefined) throw posixError('ENOENT', syscall, path)
  return i
}
