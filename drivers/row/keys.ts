/**
 * Binary keys, in two spaces.
 *
 * Item keys order the items of one snapshot's tree, btrfs-style, so that
 * everything about an inode sits together and a directory's entries are one
 * range:
 *
 *   <ino u64> 1                        the inode's attributes
 *   <ino u64> 2 <name>                 a directory entry of directory ino
 *   <ino u64> 3 <parent u64> <name>    a back reference: ino is linked as parent/name
 *   <ino u64> 4 <idx u64>              block idx of file ino
 *   <ino u64> 5 <name>                 extended attribute `name` of ino
 *
 * Database keys (M, S, G, T, K) live in the driver's sublevel; objects
 * carry the generation (the snapshot id) that wrote them, so everything one
 * snapshot owns is one key range per kind. format.ts has the table of every
 * key with its value layout.
 */

export const ItemType = { Inode: 1, Dirent: 2, Backref: 3, Block: 4, Xattr: 5 } as const
export type ItemType = (typeof ItemType)[keyof typeof ItemType]

const TWO32 = 2 ** 32

function writeU64(buf: Buffer, n: number, at: number): void {
  buf.writeUInt32BE(Math.floor(n / TWO32), at)
  buf.writeUInt32BE(n % TWO32, at + 4)
}

export function readU64(buf: Buffer, at: number): number {
  return buf.readUInt32BE(at) * TWO32 + buf.readUInt32BE(at + 4)
}

function head(ino: number, type: ItemType, extra: number): Buffer {
  const k = Buffer.allocUnsafe(9 + extra)
  writeU64(k, ino, 0)
  k[8] = type
  return k
}

export function inodeKey(ino: number): Buffer {
  return head(ino, ItemType.Inode, 0)
}

export function direntKey(dir: number, name: string): Buffer {
  const n = Buffer.from(name, 'utf8')
  const k = head(dir, ItemType.Dirent, n.length)
  n.copy(k, 9)
  return k
}

export function backrefKey(ino: number, parent: number, name: string): Buffer {
  const n = Buffer.from(name, 'utf8')
  const k = head(ino, ItemType.Backref, 8 + n.length)
  writeU64(k, parent, 9)
  n.copy(k, 17)
  return k
}

export function xattrKey(ino: number, name: string): Buffer {
  const n = Buffer.from(name, 'utf8')
  const k = head(ino, ItemType.Xattr, n.length)
  n.copy(k, 9)
  return k
}

/** The attribute name of an xattr key. */
export function xattrName(k: Buffer): string {
  return k.toString('utf8', 9)
}

export function blockKey(ino: number, idx: number): Buffer {
  const k = head(ino, ItemType.Block, 8)
  writeU64(k, idx, 9)
  return k
}

/** [lo, hi) of every item of one type of an inode. */
export function typeRange(ino: number, type: ItemType): [Buffer, Buffer] {
  return [head(ino, type, 0), head(ino, (type + 1) as ItemType, 0)]
}

/** [lo, hi) of every item of an inode. */
export function inodeRange(ino: number): [Buffer, Buffer] {
  return [head(ino, 0 as ItemType, 0), head(ino + 1, 0 as ItemType, 0)]
}

/** [lo, hi) of the blocks of `ino` from index `from` on. */
export function blocksFrom(ino: number, from: number): [Buffer, Buffer] {
  return [blockKey(ino, from), head(ino, ItemType.Xattr, 0)]
}

export interface ParsedItem {
  ino: number
  type: ItemType
  /** Dirent and backref: the entry name; xattr: the attribute name. */
  name?: string
  /** Backref: the directory holding the link. */
  parent?: number
  /** Block: its index in the file. */
  idx?: number
}

export function parseItemKey(k: Buffer): ParsedItem {
  const ino = readU64(k, 0)
  const type = k[8] as ItemType
  switch (type) {
    case ItemType.Dirent:
      return { ino, type, name: k.toString('utf8', 9) }
    case ItemType.Backref:
      return { ino, type, parent: readU64(k, 9), name: k.toString('utf8', 17) }
    case ItemType.Block:
      return { ino, type, idx: readU64(k, 9) }
    case ItemType.Xattr:
      return { ino, type, name: k.toString('utf8', 9) }
    default:
      return { ino, type }
  }
}

export function itemIno(k: Buffer): number {
  return readU64(k, 0)
}

export function itemType(k: Buffer): ItemType {
  return k[8] as ItemType
}

/** The entry name of a dirent key. */
export function direntName(k: Buffer): string {
  return k.toString('utf8', 9)
}

// ---- database keys ----

export const Prefix = { Format: 0x4d, Snap: 0x53, Gc: 0x47, Node: 0x54, Block: 0x4b } as const

function idKey(prefix: number, id: number): Buffer {
  const k = Buffer.allocUnsafe(5)
  k[0] = prefix
  k.writeUInt32BE(id, 1)
  return k
}

function objKey(prefix: number, gen: number, seq: number): Buffer {
  const k = Buffer.allocUnsafe(9)
  k[0] = prefix
  k.writeUInt32BE(gen, 1)
  k.writeUInt32BE(seq, 5)
  return k
}

export const formatKey = Buffer.from([Prefix.Format])
export const snapKey = (id: number): Buffer => idKey(Prefix.Snap, id)
export const gcKey = (id: number): Buffer => idKey(Prefix.Gc, id)
export const nodeKey = (gen: number, seq: number): Buffer => objKey(Prefix.Node, gen, seq)
export const blockDbKey = (gen: number, seq: number): Buffer => objKey(Prefix.Block, gen, seq)

/** [lo, hi) of every key with this one-byte prefix. */
export function prefixRange(prefix: number): [Buffer, Buffer] {
  return [Buffer.from([prefix]), Buffer.from([prefix + 1])]
}

/** [lo, hi) of every node or block a generation wrote. */
export function genRange(prefix: number, gen: number): [Buffer, Buffer] {
  return [idKey(prefix, gen), gen + 1 < TWO32 ? idKey(prefix, gen + 1) : Buffer.from([prefix + 1])]
}

export function idOfKey(k: Buffer): number {
  return k.readUInt32BE(1)
}

export function seqOfKey(k: Buffer): number {
  return k.readUInt32BE(5)
}
