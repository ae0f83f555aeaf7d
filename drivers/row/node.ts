/**
 * A tree node as it lives in memory and on disk. Its id is the generation
 * that wrote it (its birth) and a sequence number within that generation;
 * the value is msgpack `[level, keys, vals | kids]`, level 0 being a leaf.
 * Leaf values stay encoded (each item's own msgpack bytes) until someone
 * reads them, so a node's size is known exactly and cheap to keep.
 */
import { Packr } from 'msgpackr'

const packr = new Packr({ useRecords: false, moreTypes: false })

export interface Ptr {
  g: number
  s: number
}

export interface Node {
  /** Birth generation: the snapshot id that wrote this node. */
  g: number
  s: number
  /** 0 for a leaf; a parent is one level above its children. */
  level: number
  /** Leaf: item keys. Internal: separators; child i holds keys in [keys[i-1], keys[i]). */
  keys: Buffer[]
  /** Leaf only: encoded item values. */
  vals: Buffer[]
  /** Internal only: child ids as flat pairs g0, s0, g1, s1, … (one more child than keys). */
  kids: number[]
  /** Estimated encoded size, for split and merge decisions. */
  bytes: number
  /** Bytes this id occupies on disk now (0 while it exists only in memory). */
  stored: number
}

const EMPTY_BYTES = 8
const KID_BYTES = 10

function binBytes(len: number): number {
  return len + (len < 256 ? 2 : len < 65536 ? 3 : 5)
}

export function itemBytes(key: Buffer, val: Buffer): number {
  return binBytes(key.length) + binBytes(val.length)
}

export function sepBytes(key: Buffer): number {
  return binBytes(key.length) + KID_BYTES
}

export function measure(n: Node): number {
  let b = EMPTY_BYTES
  if (n.level === 0) {
    for (let i = 0; i < n.keys.length; i++) b += itemBytes(n.keys[i], n.vals[i])
  } else {
    b += KID_BYTES
    for (const k of n.keys) b += sepBytes(k)
  }
  return b
}

export function emptyNode(g: number, s: number, level: number): Node {
  return { g, s, level, keys: [], vals: [], kids: [], bytes: EMPTY_BYTES + (level > 0 ? KID_BYTES : 0), stored: 0 }
}

/** A copy that can be changed without touching `n` (arrays copied, buffers shared). */
export function cloneNode(n: Node, g: number, s: number): Node {
  return {
    g,
    s,
    level: n.level,
    keys: n.keys.slice(),
    vals: n.vals.slice(),
    kids: n.kids.slice(),
    bytes: n.bytes,
    stored: g === n.g && s === n.s ? n.stored : 0,
  }
}

export function encodeNode(n: Node): Buffer {
  return packr.pack([n.level, n.keys, n.level === 0 ? n.vals : n.kids])
}

export function decodeNode(g: number, s: number, buf: Buffer): Node {
  const [level, keys, rest] = packr.unpack(buf) as [number, Buffer[], Buffer[] | number[]]
  const n: Node = {
    g,
    s,
    level,
    keys,
    vals: level === 0 ? (rest as Buffer[]) : [],
    kids: level === 0 ? [] : (rest as number[]),
    bytes: 0,
    stored: buf.length,
  }
  n.bytes = measure(n)
  return n
}

export function kidAt(n: Node, i: number): Ptr {
  return { g: n.kids[2 * i], s: n.kids[2 * i + 1] }
}

export function setKid(n: Node, i: number, p: Ptr): void {
  n.kids[2 * i] = p.g
  n.kids[2 * i + 1] = p.s
}

export function kidCount(n: Node): number {
  return n.kids.length / 2
}

export function sameNode(a: Ptr, b: Ptr): boolean {
  return a.g === b.g && a.s === b.s
}

/** Index of the first key ≥ `key`. */
export function lowerBound(keys: Buffer[], key: Buffer): number {
  let lo = 0
  let hi = keys.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (Buffer.compare(keys[mid], key) < 0) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** Index of the first key > `key`: in an internal node, the child that holds `key`. */
export function upperBound(keys: Buffer[], key: Buffer): number {
  let lo = 0
  let hi = keys.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (Buffer.compare(keys[mid], key) <= 0) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** msgpack for item values (inodes, entries, block pointers). */
export function packValue(v: unknown): Buffer {
  return packr.pack(v)
}

export function unpackValue<T>(b: Buffer): T {
  return packr.unpack(b) as T
}
